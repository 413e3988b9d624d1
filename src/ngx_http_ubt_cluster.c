
/*
 * Copyright (C) ngx_http_ubt_module authors
 */


#include "ngx_http_ubt_redis.h"


/* the shortest time between two queries of the slot map */
#define NGX_HTTP_UBT_CLUSTER_REFRESH_MIN    100

/* how often the map is queried while a slot has no reachable master */
#define NGX_HTTP_UBT_CLUSTER_REFRESH_DOWN   1000

/* the first wait after TRYAGAIN; it doubles with every retry, to a limit */
#define NGX_HTTP_UBT_CLUSTER_RETRY_MIN      10
#define NGX_HTTP_UBT_CLUSTER_RETRY_MAX      100

/* MOVED and ASK followed by one attempt of a call, in all */
#define NGX_HTTP_UBT_CLUSTER_REDIRECTS      2


struct ngx_http_ubt_cluster_s {
    ngx_http_ubt_main_conf_t      *umcf;
    ngx_pool_t                    *pool;
    ngx_log_t                     *log;

    ngx_array_t                    nodes;      /* ngx_http_ubt_redis_t * */
    ngx_http_ubt_redis_t         **slots;      /* NULL: no master known */
    ngx_http_ubt_redis_t         **fresh;      /* the map being read */

    ngx_event_t                    refresh;
    ngx_msec_t                     queried;
    ngx_uint_t                     next;       /* node to query next */
    ngx_uint_t                     masters;    /* that serve slots */

    unsigned                       querying:1;
    unsigned                       again:1;
    unsigned                       mapped:1;
    unsigned                       exiting:1;
};


static ngx_http_ubt_redis_t *ngx_http_ubt_cluster_add(
    ngx_http_ubt_cluster_t *cl, ngx_http_ubt_redis_addr_t *addr);
static ngx_http_ubt_redis_t *ngx_http_ubt_cluster_node(
    ngx_http_ubt_cluster_t *cl, u_char *host, size_t len, in_port_t port);
static ngx_http_ubt_redis_t *ngx_http_ubt_cluster_node_at(
    ngx_http_ubt_cluster_t *cl, u_char *p, size_t len);
static void ngx_http_ubt_cluster_refresh_soon(ngx_http_ubt_cluster_t *cl);
static void ngx_http_ubt_cluster_refresh_handler(ngx_event_t *ev);
static void ngx_http_ubt_cluster_slots_done(void *data,
    ngx_http_ubt_redis_rc_e rc, redisReply *reply);
static ngx_int_t ngx_http_ubt_cluster_read_map(ngx_http_ubt_cluster_t *cl,
    ngx_http_ubt_redis_t *queried, redisReply *reply);
static void ngx_http_ubt_cluster_apply_map(ngx_http_ubt_cluster_t *cl);
static void ngx_http_ubt_cluster_retry_handler(ngx_event_t *ev);


ngx_int_t
ngx_http_ubt_cluster_init(ngx_cycle_t *cycle, ngx_http_ubt_main_conf_t *umcf)
{
    ngx_uint_t                  i;
    ngx_http_ubt_redis_t       *rd;
    ngx_http_ubt_cluster_t     *cl;
    ngx_http_ubt_redis_addr_t  *seed;

    cl = ngx_pcalloc(cycle->pool, sizeof(ngx_http_ubt_cluster_t));
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->umcf = umcf;
    cl->pool = cycle->pool;
    cl->log = cycle->log;

    cl->slots = ngx_pcalloc(cycle->pool, 2 * NGX_HTTP_UBT_CLUSTER_SLOTS
                                         * sizeof(ngx_http_ubt_redis_t *));
    if (cl->slots == NULL) {
        return NGX_ERROR;
    }

    cl->fresh = cl->slots + NGX_HTTP_UBT_CLUSTER_SLOTS;

    if (ngx_array_init(&cl->nodes, cycle->pool, 2 * umcf->seeds->nelts,
                       sizeof(ngx_http_ubt_redis_t *))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cl->refresh.handler = ngx_http_ubt_cluster_refresh_handler;
    cl->refresh.data = cl;
    cl->refresh.log = cycle->log;
    cl->refresh.cancelable = 1;

    umcf->cluster = cl;

    /* every seed is asked for the map until one replies */
    seed = umcf->seeds->elts;

    for (i = 0; i < umcf->seeds->nelts; i++) {
        rd = ngx_http_ubt_cluster_add(cl, &seed[i]);
        if (rd == NULL) {
            return NGX_ERROR;
        }

        ngx_http_ubt_redis_connect(rd);
    }

    return NGX_OK;
}


void
ngx_http_ubt_cluster_exit(ngx_http_ubt_cluster_t *cl)
{
    ngx_uint_t             i;
    ngx_http_ubt_redis_t **node;

    cl->exiting = 1;

    if (cl->refresh.timer_set) {
        ngx_del_timer(&cl->refresh);
    }

    ngx_http_ubt_metrics_redis_state(cl->umcf, -(ngx_int_t) cl->masters, 0);

    node = cl->nodes.elts;

    for (i = 0; i < cl->nodes.nelts; i++) {
        ngx_http_ubt_redis_close(node[i]);
    }
}


/*
 * Returns the hash slot of a key: CRC16 (XMODEM) of the key, or of its
 * hash tag, the part between the first "{" and the next "}" when that part
 * is not empty.
 */

ngx_int_t
ngx_http_ubt_cluster_slot(ngx_str_t *key)
{
    u_char      *p, *last, *open, *close;
    uint16_t     crc;
    ngx_uint_t   i;

    p = key->data;
    last = p + key->len;

    open = ngx_strlchr(p, last, '{');

    if (open) {
        close = ngx_strlchr(open + 1, last, '}');

        if (close && close > open + 1) {
            p = open + 1;
            last = close;
        }
    }

    crc = 0;

    for ( /* void */ ; p < last; p++) {
        crc ^= (uint16_t) (*p << 8);

        for (i = 0; i < 8; i++) {
            crc = (crc & 0x8000) ? (uint16_t) ((crc << 1) ^ 0x1021)
                                 : (uint16_t) (crc << 1);
        }
    }

    return crc & (NGX_HTTP_UBT_CLUSTER_SLOTS - 1);
}


/*
 * Returns the master of the slot.  Without a key, or before the map is
 * known, any connected node will do: a node that does not serve the slot
 * replies with MOVED, which leads to the right one.
 */

ngx_http_ubt_redis_t *
ngx_http_ubt_cluster_route(ngx_http_ubt_cluster_t *cl, ngx_int_t slot)
{
    ngx_uint_t             i, n;
    ngx_http_ubt_redis_t  *rd, **node;

    if (slot >= 0 && cl->slots[slot]) {
        rd = cl->slots[slot];

        if (rd->ac == NULL) {
            /* a failed master: its replica may have taken over */
            ngx_http_ubt_cluster_refresh_soon(cl);
        }

        return rd;
    }

    if (slot >= 0 && cl->mapped) {
        ngx_http_ubt_cluster_refresh_soon(cl);
    }

    node = cl->nodes.elts;
    n = cl->nodes.nelts;

    for (i = 0; i < n; i++) {
        rd = node[(cl->next + i) % n];

        if (rd->ready && (rd->slots || !cl->mapped)) {
            return rd;
        }
    }

    /* just after start: the call waits behind a connecting node's handshake */
    for (i = 0; i < n; i++) {
        if (node[i]->ac) {
            return node[i];
        }
    }

    return NULL;
}


/*
 * Follows a cluster error reply: MOVED and ASK send the call to the node
 * named, TRYAGAIN sends it again after a wait, while the time for the call
 * lasts.  Returns NGX_DECLINED for any other error, and NGX_ERROR when the
 * call fails.
 */

ngx_int_t
ngx_http_ubt_cluster_redirect(ngx_http_ubt_redis_call_t *call,
    redisReply *reply)
{
    u_char                  *p, *last;
    ngx_int_t                slot;
    ngx_uint_t               asking;
    ngx_msec_t               delay, spent, timeout;
    ngx_http_ubt_redis_t    *rd, *target;
    ngx_http_ubt_cluster_t  *cl;

    rd = call->redis;
    cl = rd->cluster;

    p = (u_char *) reply->str;
    last = p + reply->len;

    if ((size_t) (last - p) > 6 && ngx_strncmp(p, "MOVED ", 6) == 0) {
        asking = 0;
        p += 6;

    } else if ((size_t) (last - p) > 4 && ngx_strncmp(p, "ASK ", 4) == 0) {
        asking = 1;
        p += 4;

    } else if ((size_t) (last - p) >= 8 && ngx_strncmp(p, "TRYAGAIN", 8) == 0)
    {
        /*
         * A script whose keys are split by a slot migration: it is sent
         * again until the migration ends or the call's time is up.
         */
        timeout = rd->umcf->timeout;
        spent = ngx_current_msec - call->start;
        delay = ngx_min(NGX_HTTP_UBT_CLUSTER_RETRY_MIN << call->tries,
                        NGX_HTTP_UBT_CLUSTER_RETRY_MAX);

        if (spent + delay >= timeout) {
            delay = timeout > spent + 1 ? timeout - spent - 1 : 0;
        }

        if (delay == 0) {
            ngx_http_ubt_redis_log_limited(rd, NGX_LOG_ERR,
                                           "redis cluster slot %i was still "
                                           "being migrated after %M ms",
                                           call->slot, spent);
            ngx_http_ubt_metrics_redis_error(rd->umcf,
                                        NGX_HTTP_UBT_REDIS_ERROR_MIGRATING);
            return NGX_ERROR;
        }

        if (call->tries < 15) {
            call->tries++;
        }

        call->retry.handler = ngx_http_ubt_cluster_retry_handler;
        call->retry.data = call;
        call->retry.log = &rd->log;

        ngx_add_timer(&call->retry, delay);

        return NGX_OK;

    } else if ((size_t) (last - p) >= 11
               && ngx_strncmp(p, "CLUSTERDOWN", 11) == 0)
    {
        ngx_http_ubt_redis_log_limited(rd, NGX_LOG_ERR,
                                       "redis cluster is down: \"%*s\"",
                                       (size_t) reply->len, reply->str);
        ngx_http_ubt_metrics_redis_error(rd->umcf,
                                      NGX_HTTP_UBT_REDIS_ERROR_CLUSTER_DOWN);
        ngx_http_ubt_cluster_refresh_soon(cl);
        return NGX_ERROR;

    } else {
        return NGX_DECLINED;
    }

    /* "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>" */

    slot = 0;

    while (p < last && *p >= '0' && *p <= '9') {
        slot = slot * 10 + (*p++ - '0');

        if (slot >= NGX_HTTP_UBT_CLUSTER_SLOTS) {
            break;
        }
    }

    if (slot >= NGX_HTTP_UBT_CLUSTER_SLOTS || p == last || *p++ != ' ') {
        ngx_http_ubt_redis_log_limited(rd, NGX_LOG_ERR,
                                       "invalid redis redirection \"%*s\"",
                                       (size_t) reply->len, reply->str);
        return NGX_ERROR;
    }

    target = ngx_http_ubt_cluster_node_at(cl, p, last - p);

    if (target == NULL) {
        ngx_http_ubt_redis_log_limited(rd, NGX_LOG_ERR,
                                       "invalid redis redirection \"%*s\"",
                                       (size_t) reply->len, reply->str);
        return NGX_ERROR;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, &rd->log, 0,
                   "ubt redis %s slot %i to %V",
                   asking ? "ask" : "moved", slot, &target->addr.name);

    if (!asking) {
        /* the map has changed: this slot now, the rest from the cluster */
        if (cl->slots[slot] != target) {
            if (cl->slots[slot]) {
                cl->slots[slot]->slots--;
            }

            cl->slots[slot] = target;
            target->slots++;
        }

        ngx_http_ubt_cluster_refresh_soon(cl);
    }

    if (call->redirects == NGX_HTTP_UBT_CLUSTER_REDIRECTS) {
        ngx_http_ubt_redis_log_limited(rd, NGX_LOG_ERR,
                                       "redis cluster redirected a call "
                                       "more than %d times, last \"%*s\"",
                                       NGX_HTTP_UBT_CLUSTER_REDIRECTS,
                                       (size_t) reply->len, reply->str);
        return NGX_ERROR;
    }

    call->redirects++;

    return ngx_http_ubt_redis_move(call, target, asking);
}


static void
ngx_http_ubt_cluster_retry_handler(ngx_event_t *ev)
{
    ngx_http_ubt_redis_t       *rd;
    ngx_http_ubt_redis_call_t  *call;

    call = ev->data;

    if (call->handler == NULL) {
        /* the request is gone; sending it would spend a nonce for nothing */
        ngx_http_ubt_redis_finish(call, NGX_HTTP_UBT_REDIS_FAILED, NULL);
        return;
    }

    rd = ngx_http_ubt_cluster_route(call->redis->cluster, call->slot);

    /* the attempt starts again from the map: ASK, then TRYAGAIN, again */
    call->redirects = 0;

    if (rd == NULL || ngx_http_ubt_redis_move(call, rd, 0) != NGX_OK) {
        ngx_http_ubt_redis_finish(call, NGX_HTTP_UBT_REDIS_FAILED, NULL);
    }
}


void
ngx_http_ubt_cluster_node_ready(ngx_http_ubt_redis_t *rd)
{
    ngx_http_ubt_cluster_t  *cl = rd->cluster;

    if (!cl->mapped || rd->slots) {
        ngx_http_ubt_cluster_refresh_soon(cl);
    }
}


void
ngx_http_ubt_cluster_node_lost(ngx_http_ubt_redis_t *rd)
{
    ngx_http_ubt_cluster_t  *cl = rd->cluster;

    if (rd->slots) {
        ngx_http_ubt_cluster_refresh_soon(cl);
    }
}


/* a node is reconnected while it serves slots, or until the map is known */

ngx_int_t
ngx_http_ubt_cluster_wanted(ngx_http_ubt_redis_t *rd)
{
    return !rd->cluster->mapped || rd->slots;
}


static ngx_http_ubt_redis_t *
ngx_http_ubt_cluster_node(ngx_http_ubt_cluster_t *cl, u_char *host,
    size_t len, in_port_t port)
{
    u_char                     *p;
    ngx_uint_t                  i;
    ngx_http_ubt_redis_t       *rd, **node;
    ngx_http_ubt_redis_addr_t   addr;
#if (NGX_HAVE_INET6)
    u_char                      inet6[16];
#endif

    node = cl->nodes.elts;

    for (i = 0; i < cl->nodes.nelts; i++) {
        rd = node[i];

        if (rd->addr.port == port
            && rd->addr.host.len == len
            && ngx_strncmp(rd->addr.host.data, host, len) == 0)
        {
            return rd;
        }
    }

    if (len == 0 || len > NGX_SOCKADDR_STRLEN) {
        return NULL;
    }

    /* hiredis would resolve a name with a blocking call in the worker */
    if (ngx_inet_addr(host, len) == INADDR_NONE
#if (NGX_HAVE_INET6)
        && ngx_inet6_addr(host, len, inet6) != NGX_OK
#endif
       )
    {
        ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                      "redis cluster node \"%*s\" is not an IP address; "
                      "set cluster-preferred-endpoint-type to ip", len, host);
        return NULL;
    }

    /* "host\0" and the name, "host:port" or "[host]:port" */
    p = ngx_pnalloc(cl->pool, 2 * len + sizeof("[]:65535"));
    if (p == NULL) {
        return NULL;
    }

    ngx_memzero(&addr, sizeof(ngx_http_ubt_redis_addr_t));

    addr.host.data = p;
    addr.host.len = len;
    p = ngx_cpymem(p, host, len);
    *p++ = '\0';

    addr.name.data = p;

    if (ngx_strlchr(host, host + len, ':')) {
        p = ngx_sprintf(p, "[%*s]:%d", len, host, (int) port);

    } else {
        p = ngx_sprintf(p, "%*s:%d", len, host, (int) port);
    }

    addr.name.len = p - addr.name.data;
    addr.port = port;

    rd = ngx_http_ubt_cluster_add(cl, &addr);
    if (rd == NULL) {
        return NULL;
    }

    ngx_log_error(NGX_LOG_INFO, cl->log, 0,
                  "redis cluster node %V added", &rd->addr.name);

    return rd;
}


static ngx_http_ubt_redis_t *
ngx_http_ubt_cluster_add(ngx_http_ubt_cluster_t *cl,
    ngx_http_ubt_redis_addr_t *addr)
{
    ngx_http_ubt_redis_t  *rd, **node;

    rd = ngx_http_ubt_redis_node(cl->pool, cl->log, cl->umcf, addr);
    if (rd == NULL) {
        return NULL;
    }

    rd->cluster = cl;

    node = ngx_array_push(&cl->nodes);
    if (node == NULL) {
        return NULL;
    }

    *node = rd;

    return rd;
}


/* the node of "<host>:<port>", as MOVED and ASK name it */

static ngx_http_ubt_redis_t *
ngx_http_ubt_cluster_node_at(ngx_http_ubt_cluster_t *cl, u_char *p,
    size_t len)
{
    u_char     *colon;
    ngx_int_t   port;

    /* an IPv6 address has colons too: the port follows the last one */
    for (colon = p + len; colon > p; colon--) {
        if (colon[-1] == ':') {
            break;
        }
    }

    if (colon == p) {
        return NULL;
    }

    port = ngx_atoi(colon, p + len - colon);

    if (port < 1 || port > 65535) {
        return NULL;
    }

    return ngx_http_ubt_cluster_node(cl, p, colon - 1 - p, (in_port_t) port);
}


static void
ngx_http_ubt_cluster_refresh_soon(ngx_http_ubt_cluster_t *cl)
{
    ngx_msec_t  delay, since;

    if (cl->exiting || ngx_exiting || ngx_terminate) {
        return;
    }

    if (cl->querying) {
        cl->again = 1;
        return;
    }

    since = ngx_current_msec - cl->queried;
    delay = since < NGX_HTTP_UBT_CLUSTER_REFRESH_MIN
            ? NGX_HTTP_UBT_CLUSTER_REFRESH_MIN - since : 0;

    if (cl->refresh.timer_set) {
        if (cl->refresh.timer.key <= ngx_current_msec + delay) {
            return;
        }

        ngx_del_timer(&cl->refresh);
    }

    ngx_add_timer(&cl->refresh, delay);
}


static void
ngx_http_ubt_cluster_refresh_handler(ngx_event_t *ev)
{
    ngx_str_t                   args[2];
    ngx_uint_t                  i, n;
    ngx_http_ubt_redis_t       *rd, **node;
    ngx_http_ubt_cluster_t     *cl;
    ngx_http_ubt_redis_call_t  *call;

    cl = ev->data;

    if (cl->exiting || cl->querying) {
        return;
    }

    node = cl->nodes.elts;
    n = cl->nodes.nelts;
    rd = NULL;

    /* the nodes take turns, so that one that hangs is not asked again */
    for (i = 0; i < n; i++) {
        if (node[(cl->next + i) % n]->ready) {
            rd = node[(cl->next + i) % n];
            cl->next = (cl->next + i + 1) % n;
            break;
        }
    }

    if (rd == NULL) {
        /* no node is connected: try every node known, seeds included */
        for (i = 0; i < n; i++) {
            (void) ngx_http_ubt_redis_usable(node[i]);
        }

        ngx_add_timer(&cl->refresh, NGX_HTTP_UBT_CLUSTER_REFRESH_DOWN);
        return;
    }

    ngx_str_set(&args[0], "CLUSTER");
    ngx_str_set(&args[1], "SLOTS");

    call = ngx_http_ubt_redis_start(rd, -1, 0, args, 2,
                                    ngx_http_ubt_cluster_slots_done, rd);
    if (call == NULL) {
        ngx_add_timer(&cl->refresh, NGX_HTTP_UBT_CLUSTER_REFRESH_MIN);
        return;
    }

    cl->querying = 1;
    cl->queried = ngx_current_msec;
}


static void
ngx_http_ubt_cluster_slots_done(void *data, ngx_http_ubt_redis_rc_e rc,
    redisReply *reply)
{
    ngx_http_ubt_redis_t  *rd = data;

    ngx_http_ubt_cluster_t  *cl;

    cl = rd->cluster;
    cl->querying = 0;

    if (cl->exiting) {
        return;
    }

    if (rc != NGX_HTTP_UBT_REDIS_REPLY) {
        /* the failure is logged already; the next node is asked */
        ngx_http_ubt_cluster_refresh_soon(cl);
        return;
    }

    if (ngx_http_ubt_cluster_read_map(cl, rd, reply) != NGX_OK) {
        ngx_http_ubt_redis_log_limited(rd, NGX_LOG_ERR,
                                       "invalid reply to CLUSTER SLOTS");
        ngx_http_ubt_cluster_refresh_soon(cl);
        return;
    }

    ngx_http_ubt_cluster_apply_map(cl);

    if (cl->again) {
        cl->again = 0;
        ngx_http_ubt_cluster_refresh_soon(cl);
    }
}


/*
 * Reads the reply to CLUSTER SLOTS into cl->fresh.  Each element is a range
 * of slots: its first and last slot, then its master and its replicas,
 * each as an array that starts with the host and the port.
 */

static ngx_int_t
ngx_http_ubt_cluster_read_map(ngx_http_ubt_cluster_t *cl,
    ngx_http_ubt_redis_t *queried, redisReply *reply)
{
    u_char                *host;
    size_t                 len, i;
    long long              first, last, port, slot;
    redisReply            *range, *master;
    ngx_http_ubt_redis_t  *rd;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return NGX_ERROR;
    }

    ngx_memzero(cl->fresh,
                NGX_HTTP_UBT_CLUSTER_SLOTS * sizeof(ngx_http_ubt_redis_t *));

    for (i = 0; i < reply->elements; i++) {
        range = reply->element[i];

        if (range->type != REDIS_REPLY_ARRAY
            || range->elements < 3
            || range->element[0]->type != REDIS_REPLY_INTEGER
            || range->element[1]->type != REDIS_REPLY_INTEGER
            || range->element[2]->type != REDIS_REPLY_ARRAY)
        {
            return NGX_ERROR;
        }

        first = range->element[0]->integer;
        last = range->element[1]->integer;
        master = range->element[2];

        if (first < 0 || first > last || last >= NGX_HTTP_UBT_CLUSTER_SLOTS
            || master->elements < 2
            || master->element[0]->type != REDIS_REPLY_STRING
            || master->element[1]->type != REDIS_REPLY_INTEGER)
        {
            return NGX_ERROR;
        }

        host = (u_char *) master->element[0]->str;
        len = master->element[0]->len;
        port = master->element[1]->integer;

        if (port < 1 || port > 65535) {
            return NGX_ERROR;
        }

        /* an empty host is the node that replied; "?" is not known yet */
        if (len == 0) {
            host = queried->addr.host.data;
            len = queried->addr.host.len;

        } else if (len == 1 && host[0] == '?') {
            continue;
        }

        rd = ngx_http_ubt_cluster_node(cl, host, len, (in_port_t) port);
        if (rd == NULL) {
            return NGX_ERROR;
        }

        for (slot = first; slot <= last; slot++) {
            cl->fresh[slot] = rd;
        }
    }

    return NGX_OK;
}


static void
ngx_http_ubt_cluster_apply_map(ngx_http_ubt_cluster_t *cl)
{
    ngx_uint_t             i, changed, masters, covered, down;
    ngx_http_ubt_redis_t  *rd, **node;

    changed = ngx_memcmp(cl->slots, cl->fresh,
                         NGX_HTTP_UBT_CLUSTER_SLOTS
                         * sizeof(ngx_http_ubt_redis_t *));

    ngx_memcpy(cl->slots, cl->fresh,
               NGX_HTTP_UBT_CLUSTER_SLOTS * sizeof(ngx_http_ubt_redis_t *));

    node = cl->nodes.elts;

    for (i = 0; i < cl->nodes.nelts; i++) {
        node[i]->slots = 0;
    }

    covered = 0;

    for (i = 0; i < NGX_HTTP_UBT_CLUSTER_SLOTS; i++) {
        if (cl->slots[i]) {
            cl->slots[i]->slots++;
            covered++;
        }
    }

    cl->mapped = 1;

    masters = 0;
    down = 0;

    for (i = 0; i < cl->nodes.nelts; i++) {
        rd = node[i];

        if (rd->slots == 0) {
            continue;
        }

        masters++;

        if (ngx_http_ubt_redis_usable(rd) != NGX_OK || !rd->ready) {
            down++;
        }
    }

    ngx_http_ubt_metrics_redis_state(cl->umcf,
                                     (ngx_int_t) masters
                                     - (ngx_int_t) cl->masters, 0);
    cl->masters = masters;

    if (changed) {
        ngx_log_error(NGX_LOG_NOTICE, cl->log, 0,
                      "redis cluster slot map: %ui masters, %ui of %d slots "
                      "served", masters, covered, NGX_HTTP_UBT_CLUSTER_SLOTS);
    }

    /* until every slot has a master that is up, the map is read again */
    if ((down || covered < NGX_HTTP_UBT_CLUSTER_SLOTS)
        && !cl->refresh.timer_set)
    {
        ngx_add_timer(&cl->refresh, NGX_HTTP_UBT_CLUSTER_REFRESH_DOWN);
    }
}
