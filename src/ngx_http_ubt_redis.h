
/*
 * Copyright (C) ngx_http_ubt_module authors
 */


#ifndef _NGX_HTTP_UBT_REDIS_H_INCLUDED_
#define _NGX_HTTP_UBT_REDIS_H_INCLUDED_


#include "ngx_http_ubt.h"


/* the number of error causes whose log lines are limited separately */
#define NGX_HTTP_UBT_REDIS_LOG_CAUSES  4

#define NGX_HTTP_UBT_CLUSTER_SLOTS     16384


typedef struct {
    uint32_t                       cause;
    time_t                         logged;
    ngx_uint_t                     suppressed;
} ngx_http_ubt_redis_log_cause_t;


/* one connection: to the server of ubt_redis, or to one cluster node */
struct ngx_http_ubt_redis_s {
    ngx_http_ubt_main_conf_t      *umcf;
    ngx_http_ubt_cluster_t        *cluster;    /* NULL for ubt_redis */
    ngx_http_ubt_redis_addr_t      addr;
    redisAsyncContext             *ac;
    ngx_connection_t              *connection;
    ngx_log_t                      log;

    ngx_event_t                    connect_timer;
    ngx_event_t                    reconnect_timer;
    ngx_msec_t                     backoff;
    ngx_msec_t                     last_reply;
    ngx_uint_t                     pending;
    ngx_uint_t                     handshake;
    ngx_uint_t                     slots;      /* served, by the slot map */

    ngx_http_ubt_redis_log_cause_t causes[NGX_HTTP_UBT_REDIS_LOG_CAUSES];

    unsigned                       connected:1;
    unsigned                       ready:1;    /* handshake done */
    unsigned                       exiting:1;
    unsigned                       flushing:1;
};


struct ngx_http_ubt_redis_call_s {
    ngx_http_ubt_redis_t          *redis;
    ngx_http_ubt_redis_handler_pt  handler;    /* NULL once detached */
    void                          *data;
    ngx_event_t                    timer;
    ngx_event_t                    retry;      /* cluster: after TRYAGAIN */
    ngx_msec_t                     start;
    uint64_t                       sent;       /* µs, for the metrics */
    ngx_int_t                      script;     /* -1 for a plain command */
    ngx_int_t                      slot;       /* -1 without a key */
    unsigned                       retried:1;
    unsigned                       redirects:2;
    unsigned                       tries:4;
    ngx_uint_t                     argc;
    u_char                        *command;    /* in RESP, as sent */
    size_t                         len;
    size_t                         tail;       /* the arguments after SHA1 */
};


ngx_http_ubt_redis_t *ngx_http_ubt_redis_node(ngx_pool_t *pool,
    ngx_log_t *log, ngx_http_ubt_main_conf_t *umcf,
    ngx_http_ubt_redis_addr_t *addr);
void ngx_http_ubt_redis_connect(ngx_http_ubt_redis_t *rd);
void ngx_http_ubt_redis_close(ngx_http_ubt_redis_t *rd);
ngx_int_t ngx_http_ubt_redis_usable(ngx_http_ubt_redis_t *rd);
ngx_http_ubt_redis_call_t *ngx_http_ubt_redis_start(ngx_http_ubt_redis_t *rd,
    ngx_int_t script, ngx_uint_t nkeys, ngx_str_t *args, ngx_uint_t nargs,
    ngx_http_ubt_redis_handler_pt handler, void *data);
ngx_int_t ngx_http_ubt_redis_move(ngx_http_ubt_redis_call_t *call,
    ngx_http_ubt_redis_t *rd, ngx_uint_t asking);
void ngx_http_ubt_redis_finish(ngx_http_ubt_redis_call_t *call,
    ngx_http_ubt_redis_rc_e rc, redisReply *reply);
void ngx_http_ubt_redis_log_limited(ngx_http_ubt_redis_t *rd,
    ngx_uint_t level, const char *fmt, ...);

ngx_int_t ngx_http_ubt_cluster_init(ngx_cycle_t *cycle,
    ngx_http_ubt_main_conf_t *umcf);
void ngx_http_ubt_cluster_exit(ngx_http_ubt_cluster_t *cl);
ngx_int_t ngx_http_ubt_cluster_slot(ngx_str_t *key);
ngx_http_ubt_redis_t *ngx_http_ubt_cluster_route(ngx_http_ubt_cluster_t *cl,
    ngx_int_t slot);
ngx_int_t ngx_http_ubt_cluster_redirect(ngx_http_ubt_redis_call_t *call,
    redisReply *reply);
void ngx_http_ubt_cluster_node_ready(ngx_http_ubt_redis_t *rd);
void ngx_http_ubt_cluster_node_lost(ngx_http_ubt_redis_t *rd);
ngx_int_t ngx_http_ubt_cluster_wanted(ngx_http_ubt_redis_t *rd);


#endif /* _NGX_HTTP_UBT_REDIS_H_INCLUDED_ */
