
/*
 * Copyright (C) ngx_http_ubt_module authors
 */


#include "ngx_http_ubt_redis.h"
#include "ngx_http_ubt_scripts.h"

#include <openssl/sha.h>


#define NGX_HTTP_UBT_BACKOFF_MIN  50
#define NGX_HTTP_UBT_BACKOFF_MAX  500

/* silence after which a connection with calls in flight is presumed dead */
#define NGX_HTTP_UBT_DEAD_FACTOR  4


static u_char *ngx_http_ubt_redis_arg(u_char *p, u_char *data, size_t len);
static u_char *ngx_http_ubt_redis_digits(u_char *p, size_t n);
static ngx_int_t ngx_http_ubt_redis_attach(ngx_http_ubt_redis_t *rd,
    redisAsyncContext *ac);
static void ngx_http_ubt_redis_add_read(void *privdata);
static void ngx_http_ubt_redis_del_read(void *privdata);
static void ngx_http_ubt_redis_add_write(void *privdata);
static void ngx_http_ubt_redis_del_write(void *privdata);
static void ngx_http_ubt_redis_cleanup(void *privdata);
static void ngx_http_ubt_redis_read_handler(ngx_event_t *ev);
static void ngx_http_ubt_redis_write_handler(ngx_event_t *ev);
static void ngx_http_ubt_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_ubt_redis_disconnected(const redisAsyncContext *ac,
    int status);
static ngx_int_t ngx_http_ubt_redis_send_handshake(ngx_http_ubt_redis_t *rd);
static void ngx_http_ubt_redis_handshake_reply(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_ubt_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_ubt_redis_reconnect(ngx_event_t *ev);
static void ngx_http_ubt_redis_schedule(ngx_http_ubt_redis_t *rd);
static void ngx_http_ubt_redis_drop(ngx_http_ubt_redis_t *rd);
static ngx_http_ubt_redis_call_t *ngx_http_ubt_redis_call(
    ngx_http_ubt_main_conf_t *umcf, ngx_int_t script, ngx_uint_t nkeys,
    ngx_str_t *args, ngx_uint_t nargs, ngx_http_ubt_redis_handler_pt handler,
    void *data);
static ngx_int_t ngx_http_ubt_redis_send(ngx_http_ubt_redis_call_t *call,
    u_char *command, size_t len);
static ngx_int_t ngx_http_ubt_redis_resend(ngx_http_ubt_redis_call_t *call);
static void ngx_http_ubt_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_ubt_redis_call_timeout(ngx_event_t *ev);
static u_char *ngx_http_ubt_redis_log_error(ngx_log_t *log, u_char *buf,
    size_t len);


static char  ngx_http_ubt_redis_auth[] = "AUTH";
static char  ngx_http_ubt_redis_select[] = "SELECT";
static char  ngx_http_ubt_redis_script_load[] = "SCRIPT LOAD";


static const char  *ngx_http_ubt_scripts[] = {
    ngx_http_ubt_script_check,
    ngx_http_ubt_script_issue,
    ngx_http_ubt_script_admin,
    ngx_http_ubt_script_mismatch
};


ngx_int_t
ngx_http_ubt_redis_script_digests(ngx_conf_t *cf,
    ngx_http_ubt_main_conf_t *umcf)
{
    u_char      *hex, sha[SHA_DIGEST_LENGTH];
    ngx_uint_t   i;

    for (i = 0; i < NGX_HTTP_UBT_SCRIPT_LAST; i++) {
        SHA1((u_char *) ngx_http_ubt_scripts[i],
             ngx_strlen(ngx_http_ubt_scripts[i]), sha);

        hex = ngx_pnalloc(cf->pool, 2 * SHA_DIGEST_LENGTH + 1);
        if (hex == NULL) {
            return NGX_ERROR;
        }

        ngx_hex_dump(hex, sha, SHA_DIGEST_LENGTH);
        hex[2 * SHA_DIGEST_LENGTH] = '\0';

        umcf->script_sha[i].data = hex;
        umcf->script_sha[i].len = 2 * SHA_DIGEST_LENGTH;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_ubt_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_ubt_main_conf_t *umcf)
{
    if (umcf->seeds) {
        return ngx_http_ubt_cluster_init(cycle, umcf);
    }

    umcf->redis = ngx_http_ubt_redis_node(cycle->pool, cycle->log, umcf,
                                          &umcf->server);
    if (umcf->redis == NULL) {
        return NGX_ERROR;
    }

    ngx_http_ubt_metrics_redis_state(umcf, 1, 0);

    ngx_http_ubt_redis_connect(umcf->redis);

    return NGX_OK;
}


/* creates the connection state of one server; it connects later */

ngx_http_ubt_redis_t *
ngx_http_ubt_redis_node(ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_ubt_main_conf_t *umcf, ngx_http_ubt_redis_addr_t *addr)
{
    ngx_http_ubt_redis_t  *rd;

    rd = ngx_pcalloc(pool, sizeof(ngx_http_ubt_redis_t));
    if (rd == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     rd->cluster = NULL;
     *     rd->ac = NULL;
     *     rd->connection = NULL;
     *     rd->backoff = 0;
     *     rd->slots = 0;
     *     rd->connected = 0;
     *     rd->ready = 0;
     *     rd->exiting = 0;
     */

    rd->umcf = umcf;
    rd->addr = *addr;

    rd->log = *log;
    rd->log.handler = ngx_http_ubt_redis_log_error;
    rd->log.data = rd;
    rd->log.action = NULL;

    rd->connect_timer.handler = ngx_http_ubt_redis_connect_timeout;
    rd->connect_timer.data = rd;
    rd->connect_timer.log = &rd->log;
    rd->connect_timer.cancelable = 1;

    rd->reconnect_timer.handler = ngx_http_ubt_redis_reconnect;
    rd->reconnect_timer.data = rd;
    rd->reconnect_timer.log = &rd->log;
    rd->reconnect_timer.cancelable = 1;

    return rd;
}


void
ngx_http_ubt_redis_exit_process(ngx_http_ubt_main_conf_t *umcf)
{
    if (umcf->cluster) {
        ngx_http_ubt_cluster_exit(umcf->cluster);
        return;
    }

    if (umcf->redis) {
        ngx_http_ubt_redis_close(umcf->redis);
        ngx_http_ubt_metrics_redis_state(umcf, -1, 0);
    }
}


/* closes the connection for good, as the worker exits */

void
ngx_http_ubt_redis_close(ngx_http_ubt_redis_t *rd)
{
    rd->exiting = 1;

    if (rd->reconnect_timer.timer_set) {
        ngx_del_timer(&rd->reconnect_timer);
    }

    if (rd->ac) {
        /* pending calls get a NULL reply, the cleanup hook frees the fd */
        redisAsyncFree(rd->ac);
    }
}


void
ngx_http_ubt_redis_connect(ngx_http_ubt_redis_t *rd)
{
    redisAsyncContext  *ac;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, &rd->log, 0, "ubt redis connect");

    if (rd->addr.unix_path.len) {
        ac = redisAsyncConnectUnix((char *) rd->addr.unix_path.data);

    } else {
        ac = redisAsyncConnect((char *) rd->addr.host.data, rd->addr.port);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ALERT, &rd->log, 0,
                      "redisAsyncConnect() failed: out of memory");
        ngx_http_ubt_redis_schedule(rd);
        return;
    }

    if (ac->err) {
        ngx_http_ubt_redis_log_limited(rd, NGX_LOG_ERR,
                                       "connect to redis failed: %s",
                                       ac->errstr);
        ngx_http_ubt_metrics_redis_error(rd->umcf,
                                         NGX_HTTP_UBT_REDIS_ERROR_CONNECT);
        redisAsyncFree(ac);
        ngx_http_ubt_redis_schedule(rd);
        return;
    }

    if (ngx_http_ubt_redis_attach(rd, ac) != NGX_OK) {
        redisAsyncFree(ac);
        ngx_http_ubt_redis_schedule(rd);
        return;
    }

    ac->data = rd;
    rd->ac = ac;

    redisAsyncSetConnectCallback(ac, ngx_http_ubt_redis_connected);
    redisAsyncSetDisconnectCallback(ac, ngx_http_ubt_redis_disconnected);

    /* queued before any request's command, so they run first */
    if (ngx_http_ubt_redis_send_handshake(rd) != NGX_OK) {
        redisAsyncFree(ac);
        return;
    }

    ngx_add_timer(&rd->connect_timer, rd->umcf->connect_timeout);
}


static ngx_int_t
ngx_http_ubt_redis_attach(ngx_http_ubt_redis_t *rd, redisAsyncContext *ac)
{
    ngx_connection_t  *c;

    c = ngx_get_connection(ac->c.fd, &rd->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = rd;
    c->log = &rd->log;
    c->read->log = &rd->log;
    c->write->log = &rd->log;
    c->read->handler = ngx_http_ubt_redis_read_handler;
    c->write->handler = ngx_http_ubt_redis_write_handler;

    ac->ev.data = c;
    ac->ev.addRead = ngx_http_ubt_redis_add_read;
    ac->ev.delRead = ngx_http_ubt_redis_del_read;
    ac->ev.addWrite = ngx_http_ubt_redis_add_write;
    ac->ev.delWrite = ngx_http_ubt_redis_del_write;
    ac->ev.cleanup = ngx_http_ubt_redis_cleanup;

    rd->connection = c;

    return NGX_OK;
}


/*
 * hiredis reads and writes once per notification, so the events are
 * level-triggered (flags 0) rather than nginx's usual edge-triggered ones.
 */

static void
ngx_http_ubt_redis_add_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "adding redis read event failed");
        }
    }
}


static void
ngx_http_ubt_redis_del_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


/*
 * Once connected, queued commands are written from a posted event.  nginx
 * runs it after the events and timers of the current loop iteration, so
 * the commands they all queue go out in one write, with no epoll calls.
 * Only a write that would block, and the connect, wait for epoll.
 */

static void
ngx_http_ubt_redis_add_write(void *privdata)
{
    ngx_connection_t      *c = privdata;
    ngx_http_ubt_redis_t  *rd;

    rd = c->data;

    if (rd->connected && !rd->flushing) {
        if (!c->write->posted) {
            ngx_post_event(c->write, &ngx_posted_events);
        }

        return;
    }

    if (!c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT, 0) != NGX_OK) {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "adding redis write event failed");
        }
    }
}


static void
ngx_http_ubt_redis_del_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/*
 * hiredis calls this hook whenever it frees the context: after a failed
 * connect (without the disconnect callback), after a disconnect, and from
 * redisAsyncFree().  It is the one place that learns the context is gone.
 * hiredis closes the socket itself, so the connection is only released.
 */

static void
ngx_http_ubt_redis_cleanup(void *privdata)
{
    ngx_connection_t      *c = privdata;
    ngx_http_ubt_redis_t  *rd;

    rd = c->data;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, &rd->log, 0, "ubt redis cleanup");

    ngx_http_ubt_redis_del_read(c);
    ngx_http_ubt_redis_del_write(c);

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    if (rd->ready) {
        ngx_http_ubt_metrics_redis_state(rd->umcf, 0, -1);
    }

    rd->ac = NULL;
    rd->connection = NULL;
    rd->connected = 0;
    rd->ready = 0;

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->cluster) {
        ngx_http_ubt_cluster_node_lost(rd);
    }

    ngx_http_ubt_redis_schedule(rd);
}


static void
ngx_http_ubt_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t      *c;
    ngx_http_ubt_redis_t  *rd;

    c = ev->data;
    rd = c->data;

    if (rd->ac) {
        redisAsyncHandleRead(rd->ac);
    }
}


static void
ngx_http_ubt_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t      *c;
    ngx_http_ubt_redis_t  *rd;

    c = ev->data;
    rd = c->data;

    if (rd->ac) {
        /* what is left after this write waits for epoll */
        rd->flushing = 1;
        redisAsyncHandleWrite(rd->ac);
        rd->flushing = 0;
    }
}


static void
ngx_http_ubt_redis_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_ubt_redis_t  *rd = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees the context next, and the cleanup hook reconnects */
        ngx_http_ubt_redis_log_limited(rd, NGX_LOG_ERR,
                                       "connect to redis failed: %s",
                                       ac->errstr);
        ngx_http_ubt_metrics_redis_error(rd->umcf,
                                         NGX_HTTP_UBT_REDIS_ERROR_CONNECT);
        return;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, &rd->log, 0, "ubt redis connected");

    rd->connected = 1;
}


static void
ngx_http_ubt_redis_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_http_ubt_redis_t  *rd = ac->data;

    if (status != REDIS_OK && !rd->exiting) {
        ngx_http_ubt_redis_log_limited(rd, NGX_LOG_ERR,
                                       "redis connection lost: %s",
                                       ac->errstr);
        ngx_http_ubt_metrics_redis_error(rd->umcf,
                                         NGX_HTTP_UBT_REDIS_ERROR_LOST);
    }
}


static ngx_int_t
ngx_http_ubt_redis_send_handshake(ngx_http_ubt_redis_t *rd)
{
    int                        argc;
    size_t                     argvlen[3];
    u_char                     db[NGX_INT_T_LEN];
    ngx_uint_t                 i;
    const char                *argv[3];
    ngx_http_ubt_main_conf_t  *umcf;

    umcf = rd->umcf;
    rd->handshake = 0;

    if (umcf->password.len) {
        argv[0] = "AUTH";
        argvlen[0] = 4;
        argv[1] = (const char *) umcf->password.data;
        argvlen[1] = umcf->password.len;

        if (redisAsyncCommandArgv(rd->ac, ngx_http_ubt_redis_handshake_reply,
                                  ngx_http_ubt_redis_auth, 2, argv, argvlen)
            != REDIS_OK)
        {
            return NGX_ERROR;
        }

        rd->handshake++;
    }

    if (umcf->db > 0) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = (const char *) db;
        argvlen[1] = ngx_sprintf(db, "%i", umcf->db) - db;

        if (redisAsyncCommandArgv(rd->ac, ngx_http_ubt_redis_handshake_reply,
                                  ngx_http_ubt_redis_select, 2, argv, argvlen)
            != REDIS_OK)
        {
            return NGX_ERROR;
        }

        rd->handshake++;
    }

    argc = 3;
    argv[0] = "SCRIPT";
    argvlen[0] = 6;
    argv[1] = "LOAD";
    argvlen[1] = 4;

    for (i = 0; i < NGX_HTTP_UBT_SCRIPT_LAST; i++) {
        argv[2] = ngx_http_ubt_scripts[i];
        argvlen[2] = ngx_strlen(ngx_http_ubt_scripts[i]);

        if (redisAsyncCommandArgv(rd->ac, ngx_http_ubt_redis_handshake_reply,
                                  ngx_http_ubt_redis_script_load,
                                  argc, argv, argvlen)
            != REDIS_OK)
        {
            return NGX_ERROR;
        }

        rd->handshake++;
    }

    return NGX_OK;
}


static void
ngx_http_ubt_redis_handshake_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply            *reply = r;
    ngx_http_ubt_redis_t  *rd = ac->data;

    const char  *command = privdata;

    if (reply == NULL) {
        return;
    }

    rd->last_reply = ngx_current_msec;

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_ubt_redis_log_limited(rd, NGX_LOG_ERR,
                                       "redis %s failed: \"%*s\"",
                                       command, (size_t) reply->len,
                                       reply->str);

        /* without AUTH or SELECT every later reply would be wrong */
        if (command != ngx_http_ubt_redis_script_load) {
            redisAsyncFree(ac);
        }

        return;
    }

    if (--rd->handshake == 0) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, &rd->log, 0,
                       "ubt redis handshake done");

        rd->ready = 1;
        ngx_http_ubt_metrics_redis_state(rd->umcf, 0, 1);

        /* a backoff means this connection follows a failed one */
        if (rd->backoff) {
            ngx_log_error(NGX_LOG_NOTICE, &rd->log, 0,
                          "redis connection restored");
            rd->backoff = 0;
        }

        if (rd->cluster) {
            ngx_http_ubt_cluster_node_ready(rd);
        }
    }
}


static void
ngx_http_ubt_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_ubt_redis_t  *rd = ev->data;

    if (rd->connected || rd->ac == NULL) {
        return;
    }

    ngx_http_ubt_redis_log_limited(rd, NGX_LOG_ERR,
                                   "connect to redis timed out");
    ngx_http_ubt_metrics_redis_error(rd->umcf,
                                     NGX_HTTP_UBT_REDIS_ERROR_CONNECT);

    redisAsyncFree(rd->ac);
}


static void
ngx_http_ubt_redis_reconnect(ngx_event_t *ev)
{
    ngx_http_ubt_redis_t  *rd = ev->data;

    if (rd->ac == NULL
        && !rd->exiting
        && (rd->cluster == NULL || ngx_http_ubt_cluster_wanted(rd)))
    {
        ngx_http_ubt_redis_connect(rd);
    }
}


static void
ngx_http_ubt_redis_schedule(ngx_http_ubt_redis_t *rd)
{
    if (rd->exiting || ngx_exiting || ngx_terminate
        || rd->reconnect_timer.timer_set)
    {
        return;
    }

    /* a node that serves no slot any more, a failed master, is let go */
    if (rd->cluster && !ngx_http_ubt_cluster_wanted(rd)) {
        rd->backoff = 0;
        return;
    }

    if (rd->backoff == 0) {
        rd->backoff = NGX_HTTP_UBT_BACKOFF_MIN;

    } else {
        rd->backoff = ngx_min(rd->backoff * 2, NGX_HTTP_UBT_BACKOFF_MAX);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, &rd->log, 0,
                   "ubt redis reconnect in %M ms", rd->backoff);

    ngx_add_timer(&rd->reconnect_timer, rd->backoff);
}


/* closes a connection that stopped replying; pending calls fail */

static void
ngx_http_ubt_redis_drop(ngx_http_ubt_redis_t *rd)
{
    if (rd->ac == NULL) {
        return;
    }

    ngx_http_ubt_redis_log_limited(rd, NGX_LOG_ERR,
                                   "redis sent no reply for %M ms, "
                                   "reconnecting",
                                   ngx_current_msec - rd->last_reply);
    ngx_http_ubt_metrics_redis_error(rd->umcf, NGX_HTTP_UBT_REDIS_ERROR_LOST);

    redisAsyncFree(rd->ac);
}


ngx_http_ubt_redis_call_t *
ngx_http_ubt_redis_eval(ngx_http_ubt_main_conf_t *umcf,
    ngx_http_ubt_script_e script, ngx_uint_t nkeys, ngx_str_t *args,
    ngx_uint_t nargs, ngx_http_ubt_redis_handler_pt handler, void *data)
{
    return ngx_http_ubt_redis_call(umcf, script, nkeys, args, nargs, handler,
                                   data);
}


ngx_http_ubt_redis_call_t *
ngx_http_ubt_redis_command(ngx_http_ubt_main_conf_t *umcf, ngx_str_t *args,
    ngx_uint_t nargs, ngx_http_ubt_redis_handler_pt handler, void *data)
{
    return ngx_http_ubt_redis_call(umcf, -1, 0, args, nargs, handler, data);
}


/*
 * Sends a script to the server that stores its first key, or a command to
 * the server that stores its key, the second argument.  Returns NULL when
 * that server is not connected, so the caller fails fast.
 */

static ngx_http_ubt_redis_call_t *
ngx_http_ubt_redis_call(ngx_http_ubt_main_conf_t *umcf, ngx_int_t script,
    ngx_uint_t nkeys, ngx_str_t *args, ngx_uint_t nargs,
    ngx_http_ubt_redis_handler_pt handler, void *data)
{
    ngx_int_t                   slot;
    ngx_str_t                  *key;
    ngx_http_ubt_redis_t       *rd;
    ngx_http_ubt_redis_call_t  *call;

    slot = -1;

    if (umcf->cluster) {
        if (script >= 0) {
            key = nkeys ? &args[0] : NULL;

        } else {
            key = nargs > 1 ? &args[1] : NULL;
        }

        if (key) {
            slot = ngx_http_ubt_cluster_slot(key);
        }

        rd = ngx_http_ubt_cluster_route(umcf->cluster, slot);

    } else {
        rd = umcf->redis;
    }

    if (rd == NULL || ngx_http_ubt_redis_usable(rd) != NGX_OK) {
        return NULL;
    }

    call = ngx_http_ubt_redis_start(rd, script, nkeys, args, nargs, handler,
                                    data);
    if (call) {
        call->slot = slot;
    }

    return call;
}


/* connects now, unless a reconnect waits for its backoff */

ngx_int_t
ngx_http_ubt_redis_usable(ngx_http_ubt_redis_t *rd)
{
    if (rd->ac == NULL && !rd->reconnect_timer.timer_set && !rd->exiting) {
        ngx_http_ubt_redis_connect(rd);
    }

    return rd->ac ? NGX_OK : NGX_DECLINED;
}


/*
 * Writes the command in RESP into one allocation that outlives the
 * request, so that a NOSCRIPT reply can be retried with EVAL, or a cluster
 * redirection followed, after the request is gone.  Formatting it here
 * costs a fraction of hiredis's printf-style formatting.
 */

ngx_http_ubt_redis_call_t *
ngx_http_ubt_redis_start(ngx_http_ubt_redis_t *rd, ngx_int_t script,
    ngx_uint_t nkeys, ngx_str_t *args, ngx_uint_t nargs,
    ngx_http_ubt_redis_handler_pt handler, void *data)
{
    u_char                     *p, count[NGX_INT_T_LEN];
    size_t                      size, count_len;
    ngx_uint_t                  i;
    ngx_http_ubt_main_conf_t   *umcf;
    ngx_http_ubt_redis_call_t  *call;

    umcf = rd->umcf;

    count_len = ngx_http_ubt_redis_digits(count, nkeys) - count;

    /*
     * "*<argc>" and each "$<len>" take at most NGX_SIZE_T_LEN + 3 bytes.
     * One more byte is for a NUL, because hiredis reads the byte after the
     * first argument to see whether another follows.
     */
    size = sizeof(ngx_http_ubt_redis_call_t) + NGX_SIZE_T_LEN + 4;

    if (script >= 0) {
        size += 3 * (NGX_SIZE_T_LEN + 5) + sizeof("EVALSHA") - 1
                + umcf->script_sha[script].len + count_len;
    }

    for (i = 0; i < nargs; i++) {
        size += NGX_SIZE_T_LEN + 5 + args[i].len;
    }

    call = ngx_alloc(size, &rd->log);
    if (call == NULL) {
        return NULL;
    }

    ngx_memzero(call, sizeof(ngx_http_ubt_redis_call_t));

    call->redis = rd;
    call->handler = handler;
    call->data = data;
    call->start = ngx_current_msec;
    call->sent = umcf->metrics ? ngx_http_ubt_metrics_clock() : 0;
    call->script = script;
    call->slot = -1;
    call->argc = nargs + (script >= 0 ? 3 : 0);
    call->command = (u_char *) (call + 1);

    p = call->command;
    *p++ = '*';
    p = ngx_http_ubt_redis_digits(p, call->argc);
    *p++ = CR; *p++ = LF;

    if (script >= 0) {
        p = ngx_http_ubt_redis_arg(p, (u_char *) "EVALSHA",
                                   sizeof("EVALSHA") - 1);
        p = ngx_http_ubt_redis_arg(p, umcf->script_sha[script].data,
                                   umcf->script_sha[script].len);
        call->tail = p - call->command;
        p = ngx_http_ubt_redis_arg(p, count, count_len);
    }

    for (i = 0; i < nargs; i++) {
        p = ngx_http_ubt_redis_arg(p, args[i].data, args[i].len);
    }

    call->len = p - call->command;
    *p = '\0';

    call->timer.handler = ngx_http_ubt_redis_call_timeout;
    call->timer.data = call;
    call->timer.log = &rd->log;

    if (ngx_http_ubt_redis_send(call, call->command, call->len) != NGX_OK) {
        ngx_free(call);
        return NULL;
    }

    ngx_add_timer(&call->timer, umcf->timeout);

    return call;
}


/* appends one bulk string: "$<len>\r\n<data>\r\n" */

static u_char *
ngx_http_ubt_redis_arg(u_char *p, u_char *data, size_t len)
{
    *p++ = '$';
    p = ngx_http_ubt_redis_digits(p, len);
    *p++ = CR; *p++ = LF;

    /* an empty argument may have no data pointer at all */
    if (len) {
        p = ngx_cpymem(p, data, len);
    }

    *p++ = CR; *p++ = LF;

    return p;
}


/* writes n in decimal, as ngx_sprintf("%uz") does at a fraction of its cost */

static u_char *
ngx_http_ubt_redis_digits(u_char *p, size_t n)
{
    u_char  *d, digits[NGX_SIZE_T_LEN];

    d = digits + NGX_SIZE_T_LEN;

    do {
        *--d = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    return ngx_cpymem(p, d, digits + NGX_SIZE_T_LEN - d);
}


static ngx_int_t
ngx_http_ubt_redis_send(ngx_http_ubt_redis_call_t *call, u_char *command,
    size_t len)
{
    ngx_http_ubt_redis_t  *rd;

    rd = call->redis;

    /* hiredis copies the command into its output buffer */
    if (rd->ac == NULL
        || redisAsyncFormattedCommand(rd->ac, ngx_http_ubt_redis_reply, call,
                                      (const char *) command, len)
           != REDIS_OK)
    {
        return NGX_ERROR;
    }

    /* silence is measured from the moment the first reply became due */
    if (rd->pending++ == 0) {
        rd->last_reply = ngx_current_msec;
    }

    return NGX_OK;
}


/*
 * Sends the call again as EVAL with the script's source, which also loads
 * the script into Redis's cache for the EVALSHA calls that follow.
 */

static ngx_int_t
ngx_http_ubt_redis_resend(ngx_http_ubt_redis_call_t *call)
{
    u_char       *p, *command;
    size_t        len, source_len;
    ngx_int_t     rc;
    const char   *source;

    source = ngx_http_ubt_scripts[call->script];
    source_len = ngx_strlen(source);

    len = NGX_SIZE_T_LEN + 4 + 2 * (NGX_SIZE_T_LEN + 5) + sizeof("EVAL") - 1
          + source_len + call->len - call->tail;

    command = ngx_alloc(len, &call->redis->log);
    if (command == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(command, "*%ui" CRLF, call->argc);
    p = ngx_http_ubt_redis_arg(p, (u_char *) "EVAL", sizeof("EVAL") - 1);
    p = ngx_http_ubt_redis_arg(p, (u_char *) source, source_len);
    p = ngx_cpymem(p, call->command + call->tail, call->len - call->tail);
    *p = '\0';

    rc = ngx_http_ubt_redis_send(call, command, p - command);

    ngx_free(command);

    return rc;
}


/*
 * Sends the call again to another cluster node, after ASKING for a slot
 * that is being migrated to it.
 */

ngx_int_t
ngx_http_ubt_redis_move(ngx_http_ubt_redis_call_t *call,
    ngx_http_ubt_redis_t *rd, ngx_uint_t asking)
{
    static char  ngx_http_ubt_redis_asking[] = "*1\r\n$6\r\nASKING\r\n";

    if (ngx_http_ubt_redis_usable(rd) != NGX_OK) {
        return NGX_ERROR;
    }

    call->redis = rd;
    call->timer.log = &rd->log;

    /* no callback: the +OK is dropped, and the call follows on the wire */
    if (asking
        && redisAsyncFormattedCommand(rd->ac, NULL, NULL,
                                      ngx_http_ubt_redis_asking,
                                      sizeof(ngx_http_ubt_redis_asking) - 1)
           != REDIS_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_ubt_redis_send(call, call->command, call->len);
}


static void
ngx_http_ubt_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply                 *reply = r;
    ngx_http_ubt_redis_t       *rd;
    ngx_http_ubt_redis_call_t  *call = privdata;

    rd = call->redis;
    rd->pending--;

    if (reply == NULL) {
        ngx_http_ubt_redis_finish(call, NGX_HTTP_UBT_REDIS_FAILED, NULL);
        return;
    }

    rd->last_reply = ngx_current_msec;

    if (reply->type != REDIS_REPLY_ERROR) {
        ngx_http_ubt_redis_finish(call, NGX_HTTP_UBT_REDIS_REPLY, reply);
        return;
    }

    if (rd->cluster) {
        switch (ngx_http_ubt_cluster_redirect(call, reply)) {

        case NGX_OK:
            /* sent again, or waiting to be */
            return;

        case NGX_ERROR:
            ngx_http_ubt_redis_finish(call, NGX_HTTP_UBT_REDIS_FAILED, NULL);
            return;

        default: /* NGX_DECLINED: not a cluster error */
            break;
        }
    }

    /* a restarted or flushed Redis has lost its script cache */
    if (call->script >= 0
        && !call->retried
        && reply->len >= 8
        && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        ngx_log_error(NGX_LOG_NOTICE, &rd->log, 0,
                      "redis lost script \"%V\", sending it again",
                      &rd->umcf->script_sha[call->script]);

        call->retried = 1;

        if (ngx_http_ubt_redis_resend(call) == NGX_OK) {
            return;
        }
    }

    ngx_http_ubt_redis_log_limited(rd, NGX_LOG_ERR,
                                   "redis replied with error \"%*s\"",
                                   (size_t) reply->len, reply->str);
    ngx_http_ubt_metrics_redis_error(rd->umcf, NGX_HTTP_UBT_REDIS_ERROR_REPLY);

    ngx_http_ubt_redis_finish(call, NGX_HTTP_UBT_REDIS_FAILED, NULL);
}


void
ngx_http_ubt_redis_finish(ngx_http_ubt_redis_call_t *call,
    ngx_http_ubt_redis_rc_e rc, redisReply *reply)
{
    ngx_http_ubt_redis_handler_pt  handler;

    if (call->timer.timer_set) {
        ngx_del_timer(&call->timer);
    }

    if (call->retry.timer_set) {
        ngx_del_timer(&call->retry);
    }

    handler = call->handler;
    call->handler = NULL;

    if (rc == NGX_HTTP_UBT_REDIS_REPLY) {
        ngx_http_ubt_metrics_redis_time(call->redis->umcf, call->sent);
    }

    if (handler) {
        handler(call->data, rc, reply);

    } else {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, &call->redis->log, 0,
                       "ubt redis discarded a late reply");
    }

    ngx_free(call);
}


static void
ngx_http_ubt_redis_call_timeout(ngx_event_t *ev)
{
    ngx_http_ubt_redis_t           *rd;
    ngx_http_ubt_redis_call_t      *call;
    ngx_http_ubt_redis_handler_pt   handler;

    call = ev->data;
    rd = call->redis;

    ngx_http_ubt_redis_log_limited(rd, NGX_LOG_ERR,
                                   "redis command timed out after %M ms",
                                   rd->umcf->timeout);
    ngx_http_ubt_metrics_redis_error(rd->umcf,
                                     NGX_HTTP_UBT_REDIS_ERROR_TIMEOUT);

    /* the call stays queued in hiredis; its reply will be discarded */
    handler = call->handler;
    call->handler = NULL;

    if (handler) {
        handler(call->data, NGX_HTTP_UBT_REDIS_TIMEDOUT, NULL);
    }

    /* unless it waits to be sent again: then no reply will free it */
    if (call->retry.timer_set) {
        ngx_del_timer(&call->retry);
        ngx_free(call);
        return;
    }

    if (rd->ac
        && rd->pending
        && ngx_current_msec - rd->last_reply
           >= NGX_HTTP_UBT_DEAD_FACTOR * rd->umcf->timeout)
    {
        ngx_http_ubt_redis_drop(rd);
    }
}


void
ngx_http_ubt_redis_cancel(ngx_http_ubt_redis_call_t *call)
{
    if (call->timer.timer_set) {
        ngx_del_timer(&call->timer);
    }

    call->handler = NULL;

    if (call->retry.timer_set) {
        ngx_del_timer(&call->retry);
        ngx_free(call);
    }
}


/*
 * Logs a request-time Redis error at most once a second per worker and
 * cause, so that an outage does not flood the error log while a new cause
 * still shows at once.  The cause is the message without its digits, and
 * the last four causes are tracked: a fifth replaces the oldest.
 */

void
ngx_http_ubt_redis_log_limited(ngx_http_ubt_redis_t *rd, ngx_uint_t level,
    const char *fmt, ...)
{
    u_char                          *p, *q, msg[NGX_MAX_ERROR_STR];
    time_t                           now;
    va_list                          args;
    uint32_t                         cause;
    ngx_uint_t                       i, suppressed;
    ngx_http_ubt_redis_log_cause_t  *slot, *oldest;

    if (rd->log.log_level < level) {
        return;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(msg, msg + sizeof(msg), fmt, args);
    va_end(args);

    ngx_crc32_init(cause);

    for (q = msg; q < p; q++) {
        if (*q < '0' || *q > '9') {
            ngx_crc32_update(&cause, q, 1);
        }
    }

    ngx_crc32_final(cause);

    now = ngx_time();
    slot = NULL;
    oldest = &rd->causes[0];

    for (i = 0; i < NGX_HTTP_UBT_REDIS_LOG_CAUSES; i++) {
        if (rd->causes[i].cause == cause && rd->causes[i].logged) {
            slot = &rd->causes[i];
            break;
        }

        if (rd->causes[i].logged < oldest->logged) {
            oldest = &rd->causes[i];
        }
    }

    if (slot == NULL) {
        slot = oldest;
        slot->cause = cause;
        slot->suppressed = 0;

    } else if (slot->logged == now) {
        slot->suppressed++;
        return;
    }

    suppressed = slot->suppressed;
    slot->logged = now;
    slot->suppressed = 0;

    if (suppressed) {
        p = ngx_slprintf(p, msg + sizeof(msg),
                         " (%ui similar message%s suppressed)", suppressed,
                         suppressed == 1 ? "" : "s");
    }

    ngx_log_error(level, &rd->log, 0, "%*s", p - msg, msg);
}


static u_char *
ngx_http_ubt_redis_log_error(ngx_log_t *log, u_char *buf, size_t len)
{
    ngx_http_ubt_redis_t  *rd = log->data;

    return ngx_snprintf(buf, len, ", redis: %V", &rd->addr.name);
}


/* builds the names of a user's Redis keys, which share one hash slot */

ngx_int_t
ngx_http_ubt_user_keys(ngx_pool_t *pool, ngx_str_t *user_id,
    ngx_http_ubt_user_keys_t *keys)
{
    u_char  *p;
    size_t   len;

    len = sizeof(NGX_HTTP_UBT_REDIS_USER_PREFIX "}") - 1 + user_id->len;

    p = ngx_pnalloc(pool, 3 * len + sizeof(":revoked:audit") - 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    /* on the path of every request: copies cost less than ngx_sprintf() */
    keys->record.data = p;
    p = ngx_cpymem(p, NGX_HTTP_UBT_REDIS_USER_PREFIX,
                   sizeof(NGX_HTTP_UBT_REDIS_USER_PREFIX) - 1);
    p = ngx_cpymem(p, user_id->data, user_id->len);
    *p++ = '}';
    keys->record.len = len;

    keys->revoked.data = p;
    p = ngx_cpymem(p, keys->record.data, len);
    p = ngx_cpymem(p, ":revoked", sizeof(":revoked") - 1);
    keys->revoked.len = p - keys->revoked.data;

    keys->audit.data = p;
    p = ngx_cpymem(p, keys->record.data, len);
    p = ngx_cpymem(p, ":audit", sizeof(":audit") - 1);
    keys->audit.len = p - keys->audit.data;

    return NGX_OK;
}
