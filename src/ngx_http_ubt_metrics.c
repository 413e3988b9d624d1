
/*
 * Copyright (C) ngx_http_ubt_module authors
 */


#include "ngx_http_ubt.h"

#include <time.h>


/*
 * Each worker counts in its own slot of a shared memory zone, so workers
 * rarely share a cache line; the handler adds the slots up.  Workers past
 * the last slot share slots with others, which the atomic adds allow.
 */
#define NGX_HTTP_UBT_METRICS_WORKERS   64

/* upper bounds of the Redis round-trip histogram, in microseconds */
static ngx_uint_t  ngx_http_ubt_metrics_bounds[] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
    500000, 1000000
};

#define NGX_HTTP_UBT_METRICS_BUCKETS                                          \
    (sizeof(ngx_http_ubt_metrics_bounds) / sizeof(ngx_uint_t))


/* the counters of one slot, as indexes of ngx_atomic_t */
#define NGX_HTTP_UBT_M_REQUESTS    0
#define NGX_HTTP_UBT_M_BUCKETS     (NGX_HTTP_UBT_M_REQUESTS                  \
                                    + NGX_HTTP_UBT_REASON_LAST)
#define NGX_HTTP_UBT_M_TIME_SUM    (NGX_HTTP_UBT_M_BUCKETS                   \
                                    + NGX_HTTP_UBT_METRICS_BUCKETS + 1)
#define NGX_HTTP_UBT_M_ERRORS      (NGX_HTTP_UBT_M_TIME_SUM + 1)
#define NGX_HTTP_UBT_M_KEYS        (NGX_HTTP_UBT_M_ERRORS                    \
                                    + NGX_HTTP_UBT_REDIS_ERROR_LAST)
#define NGX_HTTP_UBT_M_CONNECTED   (NGX_HTTP_UBT_M_KEYS                      \
                                    + NGX_HTTP_UBT_KEY_LAST)
#define NGX_HTTP_UBT_M_SERVERS       (NGX_HTTP_UBT_M_CONNECTED + 1)
#define NGX_HTTP_UBT_M_PLANS       (NGX_HTTP_UBT_M_SERVERS + 1)

/* per plan, and for a plan nginx.conf does not define: two counters */
#define NGX_HTTP_UBT_M_SLOT(plans) (NGX_HTTP_UBT_M_PLANS + 2 * ((plans) + 1))


typedef struct {
    uint32_t                  signature;   /* of the plans' names */
    ngx_uint_t                plans;
    ngx_atomic_t              slots[1];
} ngx_http_ubt_metrics_sh_t;


static ngx_int_t ngx_http_ubt_metrics_init_zone(ngx_shm_zone_t *zone,
    void *data);
static size_t ngx_http_ubt_metrics_size(ngx_http_ubt_main_conf_t *umcf);
static uint32_t ngx_http_ubt_metrics_signature(
    ngx_http_ubt_main_conf_t *umcf);
static ngx_uint_t ngx_http_ubt_metrics_plan(ngx_http_request_t *r,
    ngx_http_ubt_main_conf_t *umcf, ngx_str_t *plan);
static ngx_atomic_uint_t ngx_http_ubt_metrics_sum(
    ngx_http_ubt_metrics_sh_t *sh, ngx_uint_t index);
static u_char *ngx_http_ubt_metrics_header(u_char *p, u_char *last,
    const char *name, const char *type, const char *help);
static u_char *ngx_http_ubt_metrics_gauge(u_char *p, u_char *last,
    ngx_http_ubt_metrics_sh_t *sh, ngx_uint_t workers, const char *name,
    const char *help, ngx_uint_t index);


static ngx_str_t  ngx_http_ubt_metrics_zone_name =
    ngx_string("ngx_http_ubt_metrics");

static ngx_str_t  ngx_http_ubt_redis_error_names[] = {
    ngx_string("connect"),
    ngx_string("connection_lost"),
    ngx_string("timeout"),
    ngx_string("error_reply"),
    ngx_string("cluster_down"),
    ngx_string("slot_migrating")
};

static ngx_str_t  ngx_http_ubt_key_action_names[] = {
    ngx_string("issued"),
    ngx_string("rotated"),
    ngx_string("revoked")
};


/* adds the shared memory zone; called once nginx.conf has been read */

ngx_int_t
ngx_http_ubt_metrics_add_zone(ngx_conf_t *cf, ngx_http_ubt_main_conf_t *umcf)
{
    size_t           size;
    ngx_shm_zone_t  *zone;

    size = ngx_http_ubt_metrics_size(umcf);

    /* the slab allocator's own pages come first */
    size = ngx_align(size, ngx_pagesize) + 8 * ngx_pagesize;

    zone = ngx_shared_memory_add(cf, &ngx_http_ubt_metrics_zone_name, size,
                                 &ngx_http_ubt_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_http_ubt_metrics_init_zone;
    zone->data = umcf;

    umcf->metrics_zone = zone;

    return NGX_OK;
}


/*
 * Keeps the counters over a reload when the plans are the same, because
 * Prometheus expects counters to grow; other plans start from zero.
 */

static ngx_int_t
ngx_http_ubt_metrics_init_zone(ngx_shm_zone_t *zone, void *data)
{
    size_t                      size;
    uint32_t                    signature;
    ngx_uint_t                  plans;
    ngx_slab_pool_t            *shpool;
    ngx_http_ubt_main_conf_t   *umcf;
    ngx_http_ubt_metrics_sh_t  *sh;

    umcf = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    plans = umcf->plans ? umcf->plans->nelts : 0;
    signature = ngx_http_ubt_metrics_signature(umcf);
    size = ngx_http_ubt_metrics_size(umcf);

    sh = shpool->data;

    if (data && sh && sh->plans == plans) {
        if (sh->signature != signature) {
            ngx_memzero(sh, size);
            sh->signature = signature;
            sh->plans = plans;
        }

        umcf->metrics_sh = sh;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, size);
    if (sh == NULL) {
        return NGX_ERROR;
    }

    sh->signature = signature;
    sh->plans = plans;

    shpool->data = sh;
    umcf->metrics_sh = sh;

    return NGX_OK;
}


/* returns the size of the counters: a header and one slot per worker */

static size_t
ngx_http_ubt_metrics_size(ngx_http_ubt_main_conf_t *umcf)
{
    ngx_uint_t  plans;

    plans = umcf->plans ? umcf->plans->nelts : 0;

    return offsetof(ngx_http_ubt_metrics_sh_t, slots)
           + NGX_HTTP_UBT_METRICS_WORKERS * NGX_HTTP_UBT_M_SLOT(plans)
             * sizeof(ngx_atomic_t);
}


static uint32_t
ngx_http_ubt_metrics_signature(ngx_http_ubt_main_conf_t *umcf)
{
    uint32_t              crc;
    ngx_uint_t            i;
    ngx_http_ubt_plan_t  *plan;

    ngx_crc32_init(crc);

    if (umcf->plans) {
        plan = umcf->plans->elts;

        for (i = 0; i < umcf->plans->nelts; i++) {
            ngx_crc32_update(&crc, plan[i].name.data, plan[i].name.len + 1);
        }
    }

    ngx_crc32_final(crc);

    return crc;
}


/* points the worker at its slot */

void
ngx_http_ubt_metrics_init_process(ngx_http_ubt_main_conf_t *umcf)
{
    ngx_http_ubt_metrics_sh_t  *sh;

    sh = umcf->metrics_sh;

    if (sh == NULL) {
        return;
    }

    umcf->metrics = sh->slots
                    + (ngx_worker % NGX_HTTP_UBT_METRICS_WORKERS)
                      * NGX_HTTP_UBT_M_SLOT(sh->plans);
}


/* counts the verdict on a request, by reason and, when known, by plan */

void
ngx_http_ubt_metrics_request(ngx_http_request_t *r, ngx_http_ubt_ctx_t *ctx,
    ngx_http_ubt_reason_e reason)
{
    ngx_uint_t                 plan;
    ngx_atomic_t              *m;
    ngx_http_ubt_main_conf_t  *umcf;

    umcf = ngx_http_get_module_main_conf(r, ngx_http_ubt_module);
    m = umcf->metrics;

    if (m == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(&m[NGX_HTTP_UBT_M_REQUESTS + reason], 1);

    if (reason != NGX_HTTP_UBT_OK && reason != NGX_HTTP_UBT_RATE_LIMIT) {
        return;
    }

    plan = ngx_http_ubt_metrics_plan(r, umcf, &ctx->plan);

    (void) ngx_atomic_fetch_add(&m[NGX_HTTP_UBT_M_PLANS + 2 * plan
                                   + (reason == NGX_HTTP_UBT_RATE_LIMIT)],
                                1);
}


/* returns the index of a plan, or the one past the last for another name */

static ngx_uint_t
ngx_http_ubt_metrics_plan(ngx_http_request_t *r,
    ngx_http_ubt_main_conf_t *umcf, ngx_str_t *name)
{
    ngx_uint_t                i, n;
    ngx_str_t                *plan_name;
    ngx_http_ubt_plan_t      *plan;
    ngx_http_ubt_loc_conf_t  *ulcf;

    plan_name = name;

    /* a user without a plan of its own is on the default one */
    if (name->len == 0) {
        ulcf = ngx_http_get_module_loc_conf(r, ngx_http_ubt_module);
        plan_name = &ulcf->default_plan;
    }

    n = umcf->plans ? umcf->plans->nelts : 0;

    if (n == 0) {
        return 0;
    }

    plan = umcf->plans->elts;

    for (i = 0; i < n; i++) {
        if (plan[i].name.len == plan_name->len
            && ngx_strncmp(plan[i].name.data, plan_name->data,
                           plan_name->len)
               == 0)
        {
            return i;
        }
    }

    return n;
}


/* a monotonic time in microseconds, for Redis round trips */

uint64_t
ngx_http_ubt_metrics_clock(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


void
ngx_http_ubt_metrics_redis_time(ngx_http_ubt_main_conf_t *umcf,
    uint64_t start)
{
    uint64_t       us;
    ngx_uint_t     i;
    ngx_atomic_t  *m;

    m = umcf->metrics;

    if (m == NULL || start == 0) {
        return;
    }

    us = ngx_http_ubt_metrics_clock() - start;

    for (i = 0; i < NGX_HTTP_UBT_METRICS_BUCKETS; i++) {
        if (us <= ngx_http_ubt_metrics_bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&m[NGX_HTTP_UBT_M_BUCKETS + i], 1);
    (void) ngx_atomic_fetch_add(&m[NGX_HTTP_UBT_M_TIME_SUM],
                                (ngx_atomic_int_t) us);
}


void
ngx_http_ubt_metrics_redis_error(ngx_http_ubt_main_conf_t *umcf,
    ngx_http_ubt_redis_error_e kind)
{
    if (umcf->metrics) {
        (void) ngx_atomic_fetch_add(&umcf->metrics[NGX_HTTP_UBT_M_ERRORS
                                                   + kind], 1);
    }
}


/* moves this worker's gauges: servers it sends calls to, and ready ones */

void
ngx_http_ubt_metrics_redis_state(ngx_http_ubt_main_conf_t *umcf,
    ngx_int_t servers, ngx_int_t ready)
{
    if (umcf->metrics) {
        (void) ngx_atomic_fetch_add(&umcf->metrics[NGX_HTTP_UBT_M_SERVERS],
                                    servers);
        (void) ngx_atomic_fetch_add(&umcf->metrics[NGX_HTTP_UBT_M_CONNECTED],
                                    ready);
    }
}


void
ngx_http_ubt_metrics_key(ngx_http_ubt_main_conf_t *umcf,
    ngx_http_ubt_key_action_e action)
{
    if (umcf->metrics) {
        (void) ngx_atomic_fetch_add(&umcf->metrics[NGX_HTTP_UBT_M_KEYS
                                                   + action], 1);
    }
}


static ngx_atomic_uint_t
ngx_http_ubt_metrics_sum(ngx_http_ubt_metrics_sh_t *sh, ngx_uint_t index)
{
    ngx_uint_t          i, size;
    ngx_atomic_uint_t   sum;

    size = NGX_HTTP_UBT_M_SLOT(sh->plans);
    sum = 0;

    for (i = 0; i < NGX_HTTP_UBT_METRICS_WORKERS; i++) {
        sum += sh->slots[i * size + index];
    }

    return sum;
}


/*
 * The content handler: every counter in the Prometheus text format,
 * version 0.0.4.
 */

ngx_int_t
ngx_http_ubt_metrics_handler(ngx_http_request_t *r)
{
    u_char                     *p, *last;
    size_t                      size;
    ngx_int_t                   rc;
    ngx_buf_t                  *b;
    ngx_str_t                  *name, other;
    ngx_uint_t                  i, n, plans, workers;
    ngx_core_conf_t            *ccf;
    ngx_atomic_uint_t           count;
    ngx_http_ubt_plan_t        *plan;
    ngx_http_ubt_main_conf_t   *umcf;
    ngx_http_ubt_metrics_sh_t  *sh;

    static const char  *outcomes[] = {
        "accepted", "rejected", "error"
    };

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_ubt_method_not_allowed(r, "GET, HEAD");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    umcf = ngx_http_get_module_main_conf(r, ngx_http_ubt_module);
    sh = umcf->metrics_sh;

    if (sh == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    plans = sh->plans;
    plan = plans ? umcf->plans->elts : NULL;

    ccf = (ngx_core_conf_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                           ngx_core_module);
    workers = ngx_min((ngx_uint_t) ccf->worker_processes,
                      NGX_HTTP_UBT_METRICS_WORKERS);

    /* lines of at most 160 bytes besides the plans' names */
    size = 8192 + 160 * (NGX_HTTP_UBT_REASON_LAST
                         + NGX_HTTP_UBT_METRICS_BUCKETS
                         + NGX_HTTP_UBT_REDIS_ERROR_LAST
                         + 2 * workers + 2 * (plans + 1));

    for (i = 0; i < plans; i++) {
        size += 2 * plan[i].name.len;
    }

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->pos;
    last = b->end;

    p = ngx_http_ubt_metrics_header(p, last, "ubt_requests_total", "counter",
                                    "Requests checked, by outcome and "
                                    "reason code.");

    for (i = 0; i < NGX_HTTP_UBT_REASON_LAST; i++) {
        n = (i == NGX_HTTP_UBT_OK) ? 0
            : (i == NGX_HTTP_UBT_UNAVAILABLE) ? 2 : 1;

        p = ngx_slprintf(p, last,
                         "ubt_requests_total{outcome=\"%s\",reason=\"%V\"} "
                         "%uA\n", outcomes[n], &ngx_http_ubt_reason_names[i],
                         ngx_http_ubt_metrics_sum(sh,
                                                 NGX_HTTP_UBT_M_REQUESTS + i));
    }

    ngx_str_set(&other, "other");

    p = ngx_http_ubt_metrics_header(p, last, "ubt_plan_requests_total",
                                    "counter",
                                    "Accepted requests, by the user's plan.");

    for (i = 0; i <= plans; i++) {
        name = (i < plans) ? &plan[i].name : &other;

        p = ngx_slprintf(p, last, "ubt_plan_requests_total{plan=\"%V\"} %uA\n",
                         name,
                         ngx_http_ubt_metrics_sum(sh,
                                              NGX_HTTP_UBT_M_PLANS + 2 * i));
    }

    p = ngx_http_ubt_metrics_header(p, last, "ubt_rate_limited_total",
                                    "counter",
                                    "Requests answered 429, by the user's "
                                    "plan.");

    for (i = 0; i <= plans; i++) {
        name = (i < plans) ? &plan[i].name : &other;

        p = ngx_slprintf(p, last, "ubt_rate_limited_total{plan=\"%V\"} %uA\n",
                         name,
                         ngx_http_ubt_metrics_sum(sh,
                                          NGX_HTTP_UBT_M_PLANS + 2 * i + 1));
    }

    p = ngx_http_ubt_metrics_header(p, last,
                                    "ubt_redis_request_duration_seconds",
                                    "histogram",
                                    "Time from sending a Redis call to its "
                                    "reply, redirections included.");

    count = 0;

    for (i = 0; i <= NGX_HTTP_UBT_METRICS_BUCKETS; i++) {
        count += ngx_http_ubt_metrics_sum(sh, NGX_HTTP_UBT_M_BUCKETS + i);

        if (i < NGX_HTTP_UBT_METRICS_BUCKETS) {
            p = ngx_slprintf(p, last,
                             "ubt_redis_request_duration_seconds_bucket"
                             "{le=\"%ui.%06ui\"} %uA\n",
                             ngx_http_ubt_metrics_bounds[i] / 1000000,
                             ngx_http_ubt_metrics_bounds[i] % 1000000, count);

        } else {
            p = ngx_slprintf(p, last,
                             "ubt_redis_request_duration_seconds_bucket"
                             "{le=\"+Inf\"} %uA\n", count);
        }
    }

    n = ngx_http_ubt_metrics_sum(sh, NGX_HTTP_UBT_M_TIME_SUM);

    p = ngx_slprintf(p, last,
                     "ubt_redis_request_duration_seconds_sum %ui.%06ui\n"
                     "ubt_redis_request_duration_seconds_count %uA\n",
                     n / 1000000, n % 1000000, count);

    p = ngx_http_ubt_metrics_header(p, last, "ubt_redis_errors_total",
                                    "counter",
                                    "Failed Redis connections and calls, by "
                                    "kind.");

    for (i = 0; i < NGX_HTTP_UBT_REDIS_ERROR_LAST; i++) {
        p = ngx_slprintf(p, last, "ubt_redis_errors_total{kind=\"%V\"} %uA\n",
                         &ngx_http_ubt_redis_error_names[i],
                         ngx_http_ubt_metrics_sum(sh,
                                                  NGX_HTTP_UBT_M_ERRORS + i));
    }

    p = ngx_http_ubt_metrics_gauge(p, last, sh, workers,
                                   "ubt_redis_connections",
                                   "Redis connections of each worker that "
                                   "are ready for calls.",
                                   NGX_HTTP_UBT_M_CONNECTED);

    p = ngx_http_ubt_metrics_gauge(p, last, sh, workers, "ubt_redis_servers",
                                   "Redis servers each worker sends calls "
                                   "to: one, or the masters of a cluster.",
                                   NGX_HTTP_UBT_M_SERVERS);

    p = ngx_http_ubt_metrics_header(p, last, "ubt_keys_total", "counter",
                                    "Keys issued, rotated and revoked "
                                    "through this gateway.");

    for (i = 0; i < NGX_HTTP_UBT_KEY_LAST; i++) {
        p = ngx_slprintf(p, last, "ubt_keys_total{action=\"%V\"} %uA\n",
                         &ngx_http_ubt_key_action_names[i],
                         ngx_http_ubt_metrics_sum(sh,
                                                  NGX_HTTP_UBT_M_KEYS + i));
    }

    if (p == last) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "ubt metrics did not fit in %uz bytes", size);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    return ngx_http_ubt_send_body(r, b);
}


static u_char *
ngx_http_ubt_metrics_header(u_char *p, u_char *last, const char *name,
    const char *type, const char *help)
{
    return ngx_slprintf(p, last, "# HELP %s %s\n# TYPE %s %s\n",
                        name, help, name, type);
}


/* writes a gauge with one value per worker, from each worker's own slot */

static u_char *
ngx_http_ubt_metrics_gauge(u_char *p, u_char *last,
    ngx_http_ubt_metrics_sh_t *sh, ngx_uint_t workers, const char *name,
    const char *help, ngx_uint_t index)
{
    ngx_uint_t  i, size;

    size = NGX_HTTP_UBT_M_SLOT(sh->plans);

    p = ngx_http_ubt_metrics_header(p, last, name, "gauge", help);

    for (i = 0; i < workers; i++) {
        p = ngx_slprintf(p, last, "%s{worker=\"%ui\"} %A\n", name, i,
                         (ngx_atomic_int_t) sh->slots[i * size + index]);
    }

    return p;
}
