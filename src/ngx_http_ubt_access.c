
/*
 * Copyright (C) ngx_http_ubt_module authors
 */


#include "ngx_http_ubt.h"


/* the fields of the check script's reply to an accepted request */
#define NGX_HTTP_UBT_CHECK_FIELDS  9


typedef enum {
    NGX_HTTP_UBT_HEADER_KEY = 0,
    NGX_HTTP_UBT_HEADER_USER_ID,
    NGX_HTTP_UBT_HEADER_TS,
    NGX_HTTP_UBT_HEADER_NONCE,
    NGX_HTTP_UBT_HEADER_SIGN,
    NGX_HTTP_UBT_HEADER_TELEMETRY,
    NGX_HTTP_UBT_HEADER_IDENTITY,
    NGX_HTTP_UBT_HEADER_PROVISION,
    NGX_HTTP_UBT_HEADER_OTHER
} ngx_http_ubt_header_e;


typedef struct {
    ngx_str_t               name;       /* after "x-ubt-" */
    ngx_http_ubt_header_e   type;
    ngx_uint_t              index;      /* of a telemetry header */
} ngx_http_ubt_header_t;


static void ngx_http_ubt_cleanup(void *data);
static ngx_http_ubt_header_t *ngx_http_ubt_header_type(ngx_table_elt_t *h);
static ngx_http_ubt_reason_e ngx_http_ubt_read_headers(ngx_http_request_t *r,
    ngx_http_ubt_ctx_t *ctx, ngx_http_ubt_loc_conf_t *ulcf);
static void ngx_http_ubt_set_bad_header(ngx_http_ubt_ctx_t *ctx,
    ngx_table_elt_t *h);
static ngx_int_t ngx_http_ubt_all_digits(ngx_str_t *value);
static ngx_int_t ngx_http_ubt_all_hex(ngx_str_t *value);
static ngx_http_ubt_reason_e ngx_http_ubt_verify(ngx_http_request_t *r,
    ngx_http_ubt_ctx_t *ctx);
static ngx_int_t ngx_http_ubt_start_check(ngx_http_request_t *r,
    ngx_http_ubt_ctx_t *ctx);
static ngx_int_t ngx_http_ubt_start_lookup(ngx_http_request_t *r,
    ngx_http_ubt_ctx_t *ctx, ngx_http_ubt_redis_handler_pt handler);
static ngx_int_t ngx_http_ubt_start_owner_check(ngx_http_request_t *r,
    ngx_http_ubt_ctx_t *ctx);
static void ngx_http_ubt_owner_found(void *data, ngx_http_ubt_redis_rc_e rc,
    redisReply *reply);
static ngx_int_t ngx_http_ubt_start_mismatch(ngx_http_request_t *r,
    ngx_http_ubt_ctx_t *ctx, ngx_str_t *owner);
static void ngx_http_ubt_mismatch_done(void *data,
    ngx_http_ubt_redis_rc_e rc, redisReply *reply);
static void ngx_http_ubt_lookup_done(void *data, ngx_http_ubt_redis_rc_e rc,
    redisReply *reply);
static void ngx_http_ubt_check_done(void *data, ngx_http_ubt_redis_rc_e rc,
    redisReply *reply);
static ngx_uint_t ngx_http_ubt_split_reply(ngx_http_request_t *r,
    redisReply *reply, ngx_str_t *fields, ngx_uint_t max);
static ngx_int_t ngx_http_ubt_copy_element(ngx_http_request_t *r,
    redisReply *reply, size_t i, ngx_str_t *value);
static void ngx_http_ubt_finish_wait(ngx_http_request_t *r,
    ngx_http_ubt_ctx_t *ctx, ngx_http_ubt_reason_e reason);
static ngx_int_t ngx_http_ubt_verdict(ngx_http_request_t *r,
    ngx_http_ubt_ctx_t *ctx, ngx_http_ubt_reason_e reason);
static ngx_int_t ngx_http_ubt_set_identity(ngx_http_request_t *r,
    ngx_http_ubt_ctx_t *ctx, ngx_http_ubt_loc_conf_t *ulcf);
static ngx_int_t ngx_http_ubt_push_header(ngx_list_t *headers, char *name,
    ngx_str_t *value);
static ngx_int_t ngx_http_ubt_cache_find(ngx_http_request_t *r,
    ngx_http_ubt_main_conf_t *umcf, u_char *digest, ngx_str_t *user_id);
static void ngx_http_ubt_cache_add(ngx_http_ubt_main_conf_t *umcf,
    u_char *digest, ngx_str_t *user_id);


static ngx_http_ubt_header_t  ngx_http_ubt_headers[] = {
    { ngx_string("api-key"), NGX_HTTP_UBT_HEADER_KEY, 0 },
    { ngx_string("live-api-key"), NGX_HTTP_UBT_HEADER_KEY, 0 },
    { ngx_string("user-id"), NGX_HTTP_UBT_HEADER_USER_ID, 0 },
    { ngx_string("ts"), NGX_HTTP_UBT_HEADER_TS, 0 },
    { ngx_string("nonce"), NGX_HTTP_UBT_HEADER_NONCE, 0 },
    { ngx_string("sign"), NGX_HTTP_UBT_HEADER_SIGN, 0 },
    { ngx_string("version"), NGX_HTTP_UBT_HEADER_TELEMETRY, 0 },
    { ngx_string("platform"), NGX_HTTP_UBT_HEADER_TELEMETRY, 1 },
    { ngx_string("device"), NGX_HTTP_UBT_HEADER_TELEMETRY, 2 },
    { ngx_string("system"), NGX_HTTP_UBT_HEADER_TELEMETRY, 3 },
    { ngx_string("plan"), NGX_HTTP_UBT_HEADER_IDENTITY, 0 },
    { ngx_string("issued-id"), NGX_HTTP_UBT_HEADER_IDENTITY, 0 },
    { ngx_string("key-env"), NGX_HTTP_UBT_HEADER_IDENTITY, 0 },
    { ngx_string("provision"), NGX_HTTP_UBT_HEADER_PROVISION, 0 },
    { ngx_null_string, NGX_HTTP_UBT_HEADER_OTHER, 0 }
};


/* the headers of the signature, in the order of their types */
static ngx_str_t  ngx_http_ubt_signature_headers[] = {
    ngx_string("x-ubt-ts"),
    ngx_string("x-ubt-nonce"),
    ngx_string("x-ubt-sign")
};


/* the user record's fields for the telemetry headers, in their order */
static ngx_str_t  ngx_http_ubt_telemetry_fields[] = {
    ngx_string("tm_version"),
    ngx_string("tm_platform"),
    ngx_string("tm_device"),
    ngx_string("tm_system")
};


ngx_int_t
ngx_http_ubt_access_handler(ngx_http_request_t *r)
{
    ngx_http_ubt_ctx_t        *ctx;
    ngx_http_ubt_reason_e      reason;
    ngx_http_ubt_loc_conf_t   *ulcf;
    ngx_http_ubt_main_conf_t  *umcf;

    ulcf = ngx_http_get_module_loc_conf(r, ngx_http_ubt_module);

    if (!ulcf->enable) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_ubt_get_ctx(r);

    if (ctx) {
        if (ctx->waiting) {
            return NGX_AGAIN;
        }

        if (ctx->done) {
            /* resumed after Redis, or re-run after an internal redirect */
            return ngx_http_ubt_verdict(r, ctx, ctx->reason);
        }
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ubt access handler");

    ctx = ngx_http_ubt_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    reason = ngx_http_ubt_read_headers(r, ctx, ulcf);

    if (reason != NGX_HTTP_UBT_OK) {
        return ngx_http_ubt_verdict(r, ctx, reason);
    }

    ngx_http_ubt_digest(&ctx->key, ctx->digest);

    umcf = ngx_http_get_module_main_conf(r, ngx_http_ubt_module);

    /* a key's user never changes, so the mapping may be cached */
    if (ctx->user_id.len == 0
        && umcf->key_cache
        && ngx_http_ubt_cache_find(r, umcf, ctx->digest, &ctx->user_id)
           == NGX_ERROR)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->user_id.len == 0) {
        if (ngx_http_ubt_start_lookup(r, ctx, ngx_http_ubt_lookup_done)
            != NGX_OK)
        {
            return ngx_http_ubt_verdict(r, ctx, NGX_HTTP_UBT_UNAVAILABLE);
        }

        return NGX_AGAIN;
    }

    reason = ngx_http_ubt_verify(r, ctx);

    if (reason != NGX_HTTP_UBT_OK) {
        return ngx_http_ubt_verdict(r, ctx, reason);
    }

    if (ngx_http_ubt_start_check(r, ctx) != NGX_OK) {
        return ngx_http_ubt_verdict(r, ctx, NGX_HTTP_UBT_UNAVAILABLE);
    }

    return NGX_AGAIN;
}


ngx_http_ubt_ctx_t *
ngx_http_ubt_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t  *cln;
    ngx_http_ubt_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ubt_module);

    if (ctx || !r->internal) {
        return ctx;
    }

    /*
     * an internal redirect zeroes module contexts: find the verdict through
     * the pool cleanup, so that the nonce is not spent a second time
     */

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_ubt_cleanup) {
            ctx = cln->data;

            if (ctx->request == r) {
                ngx_http_set_ctx(r, ctx, ngx_http_ubt_module);
                return ctx;
            }
        }
    }

    return NULL;
}


ngx_http_ubt_ctx_t *
ngx_http_ubt_create_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t  *cln;
    ngx_http_ubt_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ubt_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    ctx->request = r;

    cln->handler = ngx_http_ubt_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_ubt_module);

    return ctx;
}


/* detaches the request from a Redis call still in flight */

static void
ngx_http_ubt_cleanup(void *data)
{
    ngx_http_ubt_ctx_t  *ctx = data;

    if (ctx->call) {
        ngx_http_ubt_redis_cancel(ctx->call);
        ctx->call = NULL;
    }
}


/*
 * Matches "x-ubt-<name>" case-insensitively, with "_" standing for "-", so
 * that underscore spellings cannot slip past when underscores_in_headers is
 * on.
 */

static ngx_http_ubt_header_t *
ngx_http_ubt_header_type(ngx_table_elt_t *h)
{
    u_char                 *p, c;
    size_t                  i, len;
    ngx_http_ubt_header_t  *uh;

    len = h->key.len;
    p = h->lowcase_key;

    /* the last entry of the table stands for every other header */
    uh = &ngx_http_ubt_headers[sizeof(ngx_http_ubt_headers)
                               / sizeof(ngx_http_ubt_header_t) - 1];

    if (len < 7
        || p[0] != 'x' || (p[1] != '-' && p[1] != '_')
        || p[2] != 'u' || p[3] != 'b' || p[4] != 't'
        || (p[5] != '-' && p[5] != '_'))
    {
        return uh;
    }

    p += 6;
    len -= 6;

    for (uh = ngx_http_ubt_headers; uh->name.len; uh++) {
        if (uh->name.len != len) {
            continue;
        }

        for (i = 0; i < len; i++) {
            c = (p[i] == '_') ? '-' : p[i];

            if (c != uh->name.data[i]) {
                break;
            }
        }

        if (i == len) {
            return uh;
        }
    }

    return uh;
}


/*
 * Runs every check that needs no Redis: duplicates, formats, the key's
 * checksum and the timestamp window.  Nothing is parsed as a number before
 * its characters and length are known to be safe.
 */

static ngx_http_ubt_reason_e
ngx_http_ubt_read_headers(ngx_http_request_t *r, ngx_http_ubt_ctx_t *ctx,
    ngx_http_ubt_loc_conf_t *ulcf)
{
    int64_t                 now, skew;
    ngx_uint_t              i;
    ngx_flag_t              test;
    ngx_str_t              *found[NGX_HTTP_UBT_HEADER_SIGN + 1];
    ngx_time_t             *tp;
    ngx_list_part_t        *part;
    ngx_table_elt_t        *h;
    ngx_http_ubt_header_e   type;
    ngx_http_ubt_header_t  *uh;

    ngx_memzero(found, sizeof(found));

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        uh = ngx_http_ubt_header_type(&h[i]);
        type = uh->type;

        if (type == NGX_HTTP_UBT_HEADER_TELEMETRY) {
            if (ctx->telemetry[uh->index].data) {
                ngx_http_ubt_set_bad_header(ctx, &h[i]);
                return NGX_HTTP_UBT_DUPLICATE_HEADER;
            }

            if (!ngx_http_ubt_valid_text(&h[i].value,
                                         NGX_HTTP_UBT_TELEMETRY_MAX_LEN))
            {
                ngx_http_ubt_set_bad_header(ctx, &h[i]);
                return NGX_HTTP_UBT_MALFORMED_HEADER;
            }

            ctx->telemetry[uh->index] = h[i].value;
            continue;
        }

        if (type > NGX_HTTP_UBT_HEADER_SIGN) {
            continue;
        }

        if (found[type]) {
            ngx_http_ubt_set_bad_header(ctx, &h[i]);
            return NGX_HTTP_UBT_DUPLICATE_HEADER;
        }

        found[type] = &h[i].value;
    }

    if (found[NGX_HTTP_UBT_HEADER_KEY] == NULL
        || found[NGX_HTTP_UBT_HEADER_KEY]->len == 0)
    {
        return NGX_HTTP_UBT_MISSING_KEY;
    }

    ctx->key = *found[NGX_HTTP_UBT_HEADER_KEY];

    if (ngx_http_ubt_check_key(&ctx->key, &test) != NGX_OK) {
        return NGX_HTTP_UBT_MALFORMED_KEY;
    }

    ctx->test_key = test;

    if (test && !ulcf->allow_test_keys) {
        return NGX_HTTP_UBT_TEST_KEY_NOT_ALLOWED;
    }

    for (type = NGX_HTTP_UBT_HEADER_TS;
         type <= NGX_HTTP_UBT_HEADER_SIGN;
         type++)
    {
        if (found[type] == NULL || found[type]->len == 0) {
            /* the log line names the first header missing */
            ctx->bad_header = ngx_http_ubt_signature_headers[type
                                                  - NGX_HTTP_UBT_HEADER_TS];
            return NGX_HTTP_UBT_MISSING_SIGNATURE;
        }
    }

    ctx->ts = *found[NGX_HTTP_UBT_HEADER_TS];
    ctx->nonce = *found[NGX_HTTP_UBT_HEADER_NONCE];
    ctx->sign = *found[NGX_HTTP_UBT_HEADER_SIGN];

    if (ctx->ts.len > NGX_HTTP_UBT_TS_MAX_LEN
        || !ngx_http_ubt_all_digits(&ctx->ts))
    {
        ngx_str_set(&ctx->bad_header, "x-ubt-ts");
        return NGX_HTTP_UBT_MALFORMED_HEADER;
    }

    if (!ngx_http_ubt_valid_token(&ctx->nonce, NGX_HTTP_UBT_NONCE_MIN_LEN,
                                  NGX_HTTP_UBT_NONCE_MAX_LEN))
    {
        ngx_str_set(&ctx->bad_header, "x-ubt-nonce");
        return NGX_HTTP_UBT_MALFORMED_HEADER;
    }

    if (ctx->sign.len != NGX_HTTP_UBT_DIGEST_HEX_LEN
        || !ngx_http_ubt_all_hex(&ctx->sign))
    {
        ngx_str_set(&ctx->bad_header, "x-ubt-sign");
        return NGX_HTTP_UBT_MALFORMED_HEADER;
    }

    if (found[NGX_HTTP_UBT_HEADER_USER_ID]) {
        ctx->user_id = *found[NGX_HTTP_UBT_HEADER_USER_ID];
        ctx->header_user = 1;

        if (!ngx_http_ubt_valid_token(&ctx->user_id, 1,
                                      NGX_HTTP_UBT_USER_ID_MAX_LEN))
        {
            ngx_str_null(&ctx->user_id);
            ngx_str_set(&ctx->bad_header, "x-ubt-user-id");
            return NGX_HTTP_UBT_MALFORMED_HEADER;
        }
    }

    /* at most 15 digits, so the value fits in 64 bits */
    ctx->ts_ms = ngx_atoof(ctx->ts.data, ctx->ts.len);

    tp = ngx_timeofday();
    now = (int64_t) tp->sec * 1000 + tp->msec;
    skew = (int64_t) ulcf->time_skew * 1000;

    if (ctx->ts_ms < now - skew || ctx->ts_ms > now + skew) {
        return NGX_HTTP_UBT_STALE_TIMESTAMP;
    }

    return NGX_HTTP_UBT_OK;
}


/* names a header in lower case, as HTTP/2 sends it, whatever the protocol */

static void
ngx_http_ubt_set_bad_header(ngx_http_ubt_ctx_t *ctx, ngx_table_elt_t *h)
{
    ctx->bad_header.len = h->key.len;
    ctx->bad_header.data = h->lowcase_key;
}


static ngx_int_t
ngx_http_ubt_all_digits(ngx_str_t *value)
{
    size_t  i;

    for (i = 0; i < value->len; i++) {
        if (value->data[i] < '0' || value->data[i] > '9') {
            return 0;
        }
    }

    return 1;
}


static ngx_int_t
ngx_http_ubt_all_hex(ngx_str_t *value)
{
    size_t  i;

    for (i = 0; i < value->len; i++) {
        if (ngx_http_ubt_hex_value(value->data[i]) < 0) {
            return 0;
        }
    }

    return 1;
}


static ngx_http_ubt_reason_e
ngx_http_ubt_verify(ngx_http_request_t *r, ngx_http_ubt_ctx_t *ctx)
{
    ngx_int_t                 rc;
    ngx_http_ubt_loc_conf_t  *ulcf;

    ulcf = ngx_http_get_module_loc_conf(r, ngx_http_ubt_module);

    rc = ngx_http_ubt_verify_signature(ulcf->signing_mac, &ctx->ts,
                                       &ctx->user_id, &ctx->nonce,
                                       &ctx->sign);

    if (rc == NGX_OK) {
        return NGX_HTTP_UBT_OK;
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_UBT_UNAVAILABLE;
    }

    return NGX_HTTP_UBT_BAD_SIGNATURE;
}


/*
 * Runs the check script: one round trip that validates the key and the
 * user's status and spends the nonce.  The signature is verified already.
 */

static ngx_int_t
ngx_http_ubt_start_check(ngx_http_request_t *r, ngx_http_ubt_ctx_t *ctx)
{
    u_char                    *p;
    ngx_str_t                 *args;
    ngx_uint_t                 i, n, nplans;
    ngx_http_ubt_plan_t       *plan;
    ngx_http_ubt_loc_conf_t   *ulcf;
    ngx_http_ubt_user_keys_t   keys;
    ngx_http_ubt_main_conf_t  *umcf;

    ulcf = ngx_http_get_module_loc_conf(r, ngx_http_ubt_module);
    umcf = ngx_http_get_module_main_conf(r, ngx_http_ubt_module);

    nplans = umcf->plans ? umcf->plans->nelts : 0;

    args = ngx_palloc(r->pool, (9 + 2 * nplans
                                + 2 * NGX_HTTP_UBT_TELEMETRY_HEADERS)
                               * sizeof(ngx_str_t));
    if (args == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_ubt_user_keys(r->pool, &ctx->user_id, &keys) != NGX_OK) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, 2 * keys.record.len + sizeof(":n::rl") - 1
                             + NGX_HTTP_UBT_NONCE_MAX_LEN
                             + NGX_HTTP_UBT_DIGEST_HEX_LEN
                             + 3 * NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    args[0] = keys.record;
    args[1] = keys.revoked;

    args[2].data = p;
    p = ngx_cpymem(p, keys.record.data, keys.record.len);
    p = ngx_cpymem(p, ":n:", sizeof(":n:") - 1);
    p = ngx_cpymem(p, ctx->nonce.data, ctx->nonce.len);
    args[2].len = p - args[2].data;

    args[3].data = p;
    p = ngx_cpymem(p, keys.record.data, keys.record.len);
    p = ngx_cpymem(p, ":rl", sizeof(":rl") - 1);
    args[3].len = p - args[3].data;

    args[4].data = p;
    p = ngx_hex_dump(p, ctx->digest, NGX_HTTP_UBT_DIGEST_LEN);
    args[4].len = p - args[4].data;

    args[5].data = p;
    p = ngx_sprintf(p, "%M", ulcf->nonce_window);
    args[5].len = p - args[5].data;

    args[6].data = p;
    p = ngx_sprintf(p, "%M", ulcf->last_seen_interval);
    args[6].len = p - args[6].data;

    args[7] = ulcf->default_plan;

    args[8].data = p;
    p = ngx_sprintf(p, "%ui", nplans);
    args[8].len = p - args[8].data;

    n = 9;

    if (nplans) {
        plan = umcf->plans->elts;

        for (i = 0; i < nplans; i++) {
            args[n++] = plan[i].name;
            args[n++] = plan[i].spec;
        }
    }

    for (i = 0; i < NGX_HTTP_UBT_TELEMETRY_HEADERS; i++) {
        if (ctx->telemetry[i].data) {
            args[n++] = ngx_http_ubt_telemetry_fields[i];
            args[n++] = ctx->telemetry[i];
        }
    }

    ctx->call = ngx_http_ubt_redis_eval(umcf, NGX_HTTP_UBT_SCRIPT_CHECK, 4,
                                        args, n, ngx_http_ubt_check_done,
                                        ctx);
    if (ctx->call == NULL) {
        return NGX_ERROR;
    }

    ctx->waiting = 1;

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ubt_start_lookup(ngx_http_request_t *r, ngx_http_ubt_ctx_t *ctx,
    ngx_http_ubt_redis_handler_pt handler)
{
    u_char                    *p;
    ngx_str_t                  args[2];
    ngx_http_ubt_main_conf_t  *umcf;

    umcf = ngx_http_get_module_main_conf(r, ngx_http_ubt_module);

    p = ngx_pnalloc(r->pool, sizeof(NGX_HTTP_UBT_REDIS_DIGEST_KEY) - 1
                             + NGX_HTTP_UBT_DIGEST_HEX_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&args[0], "GET");

    args[1].data = p;
    p = ngx_cpymem(p, NGX_HTTP_UBT_REDIS_DIGEST_KEY,
                   sizeof(NGX_HTTP_UBT_REDIS_DIGEST_KEY) - 1);
    p = ngx_hex_dump(p, ctx->digest, NGX_HTTP_UBT_DIGEST_LEN);
    args[1].len = p - args[1].data;

    ctx->call = ngx_http_ubt_redis_command(umcf, args, 2, handler, ctx);
    if (ctx->call == NULL) {
        return NGX_ERROR;
    }

    ctx->waiting = 1;

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    return NGX_OK;
}


static void
ngx_http_ubt_lookup_done(void *data, ngx_http_ubt_redis_rc_e rc,
    redisReply *reply)
{
    ngx_http_ubt_ctx_t  *ctx = data;

    ngx_http_request_t        *r;
    ngx_http_ubt_reason_e      reason;
    ngx_http_ubt_main_conf_t  *umcf;

    r = ctx->request;
    ctx->call = NULL;
    ctx->waiting = 0;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ubt key lookup done: %d", rc);

    if (rc != NGX_HTTP_UBT_REDIS_REPLY) {
        ngx_http_ubt_finish_wait(r, ctx, NGX_HTTP_UBT_UNAVAILABLE);
        return;
    }

    if (reply->type == REDIS_REPLY_NIL) {
        ngx_http_ubt_finish_wait(r, ctx, NGX_HTTP_UBT_UNKNOWN_KEY);
        return;
    }

    if (reply->type != REDIS_REPLY_STRING) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ubt unexpected reply type %d to key lookup",
                      reply->type);
        ngx_http_ubt_finish_wait(r, ctx, NGX_HTTP_UBT_UNAVAILABLE);
        return;
    }

    if (ngx_http_ubt_copy_element(r, reply, (size_t) -1, &ctx->user_id)
        != NGX_OK
        || !ngx_http_ubt_valid_token(&ctx->user_id, 1,
                                     NGX_HTTP_UBT_USER_ID_MAX_LEN))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ubt invalid user id stored for a key");
        ngx_str_null(&ctx->user_id);
        ngx_http_ubt_finish_wait(r, ctx, NGX_HTTP_UBT_UNAVAILABLE);
        return;
    }

    /* the user id now comes from the key, not from the client */
    ctx->user_verified = 1;

    umcf = ngx_http_get_module_main_conf(r, ngx_http_ubt_module);

    if (umcf->key_cache) {
        ngx_http_ubt_cache_add(umcf, ctx->digest, &ctx->user_id);
    }

    reason = ngx_http_ubt_verify(r, ctx);

    if (reason != NGX_HTTP_UBT_OK) {
        ngx_http_ubt_finish_wait(r, ctx, reason);
        return;
    }

    if (ngx_http_ubt_start_check(r, ctx) != NGX_OK) {
        ngx_http_ubt_finish_wait(r, ctx, NGX_HTTP_UBT_UNAVAILABLE);
    }
}


static void
ngx_http_ubt_check_done(void *data, ngx_http_ubt_redis_rc_e rc,
    redisReply *reply)
{
    ngx_http_ubt_ctx_t  *ctx = data;

    ngx_str_t              code, fields[NGX_HTTP_UBT_CHECK_FIELDS];
    ngx_uint_t             i, n;
    ngx_http_request_t    *r;
    ngx_http_ubt_reason_e  reason;

    r = ctx->request;
    ctx->call = NULL;
    ctx->waiting = 0;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ubt check done: %d", rc);

    if (rc != NGX_HTTP_UBT_REDIS_REPLY) {
        ngx_http_ubt_finish_wait(r, ctx, NGX_HTTP_UBT_UNAVAILABLE);
        return;
    }

    n = ngx_http_ubt_split_reply(r, reply, fields,
                                 NGX_HTTP_UBT_CHECK_FIELDS);
    if (n == 0) {
        goto unexpected;
    }

    code = fields[0];
    reason = NGX_HTTP_UBT_REASON_LAST;

    for (i = 0; i < NGX_HTTP_UBT_REASON_LAST; i++) {
        if (code.len == ngx_http_ubt_reason_names[i].len
            && ngx_strncmp(code.data, ngx_http_ubt_reason_names[i].data,
                           code.len)
               == 0)
        {
            reason = i;
            break;
        }
    }

    if (reason == NGX_HTTP_UBT_REASON_LAST) {
        goto unexpected;
    }

    /* every other reply means the key belongs to this user */
    if (reason != NGX_HTTP_UBT_UNKNOWN_KEY) {
        ctx->user_verified = 1;
    }

    if (reason == NGX_HTTP_UBT_OK) {
        if (n != NGX_HTTP_UBT_CHECK_FIELDS) {
            goto unexpected;
        }

        ctx->plan = fields[1];
        ctx->issued_id = fields[2];
        ctx->key_env = fields[3];
        ctx->limit = fields[4];
        ctx->rate_limit = fields[5];
        ctx->rate_remaining = fields[6];
        ctx->rate_reset = fields[7];
        ctx->rate_window = fields[8];

    } else if (reason == NGX_HTTP_UBT_RATE_LIMIT) {
        if (n != 6) {
            goto unexpected;
        }

        ctx->rate_limit = fields[1];
        ctx->rate_retry = fields[2];
        ctx->rate_reset = fields[3];
        ctx->rate_window = fields[4];
        ctx->plan = fields[5];

        ngx_str_set(&ctx->rate_remaining, "0");

    } else if (n != 1) {
        goto unexpected;
    }

    /* the script counts in ms; headers and variables count in seconds */
    if (ctx->rate_limit.len
        && (ngx_http_ubt_ms_to_seconds(r, &ctx->rate_reset, 0) != NGX_OK
            || ngx_http_ubt_ms_to_seconds(r, &ctx->rate_window, 1) != NGX_OK))
    {
        goto unexpected;
    }

    /*
     * a key that is not the claimed user's may be another user's valid
     * key, which then has leaked: find its owner
     */

    if (reason == NGX_HTTP_UBT_UNKNOWN_KEY
        && ctx->header_user
        && ngx_http_ubt_start_owner_check(r, ctx) == NGX_OK)
    {
        return;
    }

    ngx_http_ubt_finish_wait(r, ctx, reason);
    return;

unexpected:

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "ubt unexpected reply from the check script");

    ngx_http_ubt_finish_wait(r, ctx, NGX_HTTP_UBT_UNAVAILABLE);
}


/*
 * Looks up the owner of a key presented under a user id it does not belong
 * to.  Returns NGX_OK while waiting for Redis.
 */

static ngx_int_t
ngx_http_ubt_start_owner_check(ngx_http_request_t *r, ngx_http_ubt_ctx_t *ctx)
{
    ngx_str_t                  owner;
    ngx_http_ubt_main_conf_t  *umcf;

    umcf = ngx_http_get_module_main_conf(r, ngx_http_ubt_module);

    if (umcf->key_cache
        && ngx_http_ubt_cache_find(r, umcf, ctx->digest, &owner) == NGX_OK)
    {
        return ngx_http_ubt_start_mismatch(r, ctx, &owner);
    }

    return ngx_http_ubt_start_lookup(r, ctx, ngx_http_ubt_owner_found);
}


static void
ngx_http_ubt_owner_found(void *data, ngx_http_ubt_redis_rc_e rc,
    redisReply *reply)
{
    ngx_http_ubt_ctx_t  *ctx = data;

    ngx_str_t            owner;
    ngx_http_request_t  *r;

    r = ctx->request;
    ctx->call = NULL;
    ctx->waiting = 0;

    if (rc != NGX_HTTP_UBT_REDIS_REPLY) {
        ngx_http_ubt_finish_wait(r, ctx, NGX_HTTP_UBT_UNAVAILABLE);
        return;
    }

    if (reply->type != REDIS_REPLY_STRING
        || ngx_http_ubt_copy_element(r, reply, (size_t) -1, &owner) != NGX_OK
        || !ngx_http_ubt_valid_token(&owner, 1, NGX_HTTP_UBT_USER_ID_MAX_LEN)
        || ngx_http_ubt_start_mismatch(r, ctx, &owner) != NGX_OK)
    {
        ngx_http_ubt_finish_wait(r, ctx, NGX_HTTP_UBT_UNKNOWN_KEY);
    }
}


/*
 * Runs the mismatch script on the owner's record: it disconnects the owner
 * only if the key is the owner's valid key.  Returns NGX_DECLINED when the
 * key belongs to the claimed user after all.
 */

static ngx_int_t
ngx_http_ubt_start_mismatch(ngx_http_request_t *r, ngx_http_ubt_ctx_t *ctx,
    ngx_str_t *owner)
{
    u_char                    *p;
    ngx_str_t                  args[7];
    ngx_http_ubt_loc_conf_t   *ulcf;
    ngx_http_ubt_user_keys_t   keys;
    ngx_http_ubt_main_conf_t  *umcf;

    if (owner->len == ctx->user_id.len
        && ngx_strncmp(owner->data, ctx->user_id.data, owner->len) == 0)
    {
        return NGX_DECLINED;
    }

    ulcf = ngx_http_get_module_loc_conf(r, ngx_http_ubt_module);
    umcf = ngx_http_get_module_main_conf(r, ngx_http_ubt_module);

    if (ngx_http_ubt_user_keys(r->pool, owner, &keys) != NGX_OK) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, NGX_HTTP_UBT_DIGEST_HEX_LEN + NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    args[0] = keys.record;
    args[1] = keys.audit;

    args[2].data = p;
    p = ngx_hex_dump(p, ctx->digest, NGX_HTTP_UBT_DIGEST_LEN);
    args[2].len = p - args[2].data;

    args[3] = *owner;
    args[4] = r->connection->addr_text;
    args[5] = ctx->user_id;

    args[6].data = p;
    p = ngx_sprintf(p, "%ui", ulcf->audit_max_len);
    args[6].len = p - args[6].data;

    ctx->note = *owner;

    ctx->call = ngx_http_ubt_redis_eval(umcf, NGX_HTTP_UBT_SCRIPT_MISMATCH, 2,
                                        args, 7, ngx_http_ubt_mismatch_done,
                                        ctx);
    if (ctx->call == NULL) {
        return NGX_ERROR;
    }

    ctx->waiting = 1;

    return NGX_OK;
}


static void
ngx_http_ubt_mismatch_done(void *data, ngx_http_ubt_redis_rc_e rc,
    redisReply *reply)
{
    ngx_http_ubt_ctx_t  *ctx = data;

    ngx_str_t                  status;
    ngx_http_request_t        *r;
    ngx_http_ubt_loc_conf_t   *ulcf;
    ngx_http_ubt_main_conf_t  *umcf;

    r = ctx->request;
    ctx->call = NULL;
    ctx->waiting = 0;

    if (rc != NGX_HTTP_UBT_REDIS_REPLY) {
        ngx_http_ubt_finish_wait(r, ctx, NGX_HTTP_UBT_UNAVAILABLE);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 1
        || ngx_http_ubt_copy_element(r, reply, 0, &status) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ubt unexpected reply from the mismatch script");
        ngx_http_ubt_finish_wait(r, ctx, NGX_HTTP_UBT_UNAVAILABLE);
        return;
    }

    if (status.len == sizeof("IGNORED") - 1) {
        ngx_http_ubt_finish_wait(r, ctx, NGX_HTTP_UBT_UNKNOWN_KEY);
        return;
    }

    /* the rejection names the owner, whose key this is */
    ctx->user_id = ctx->note;
    ctx->user_verified = 1;

    if (status.len == sizeof("BANNED") - 1) {
        ngx_http_ubt_finish_wait(r, ctx, NGX_HTTP_UBT_BANNED);
        return;
    }

    ctx->identity_mismatch = 1;

    if (reply->elements > 1) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "ubt disconnected user \"%V\": its key was presented "
                      "as another user", &ctx->user_id);

        ulcf = ngx_http_get_module_loc_conf(r, ngx_http_ubt_module);
        umcf = ngx_http_get_module_main_conf(r, ngx_http_ubt_module);

        ngx_http_ubt_audit_copy(umcf, ulcf->audit_max_len, reply, 1);
    }

    ngx_http_ubt_finish_wait(r, ctx, NGX_HTTP_UBT_DISCONNECTED);
}


/* copies element i of an array reply, or the reply itself for i == -1 */

static ngx_int_t
ngx_http_ubt_copy_element(ngx_http_request_t *r, redisReply *reply,
    size_t i, ngx_str_t *value)
{
    redisReply  *e;

    e = (i == (size_t) -1) ? reply : reply->element[i];

    if (e->type != REDIS_REPLY_STRING && e->type != REDIS_REPLY_STATUS) {
        return NGX_ERROR;
    }

    value->len = e->len;
    value->data = ngx_pnalloc(r->pool, e->len + 1);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(value->data, e->str, e->len);
    value->data[e->len] = '\0';

    return NGX_OK;
}


/*
 * Copies a string reply of "\n"-separated fields and cuts it into at most
 * max fields, each ending in a NUL.  Returns the number of fields, or 0 for
 * a reply of another type or with more fields.
 */

static ngx_uint_t
ngx_http_ubt_split_reply(ngx_http_request_t *r, redisReply *reply,
    ngx_str_t *fields, ngx_uint_t max)
{
    u_char      *p, *last, *start;
    ngx_uint_t   n;

    if (reply->type != REDIS_REPLY_STRING) {
        return 0;
    }

    p = ngx_pnalloc(r->pool, reply->len + 1);
    if (p == NULL) {
        return 0;
    }

    ngx_memcpy(p, reply->str, reply->len);

    last = p + reply->len;
    *last = '\0';

    n = 0;
    start = p;

    for ( ;; ) {
        p = ngx_strlchr(start, last, '\n');

        if (n == max) {
            return 0;
        }

        fields[n].data = start;
        fields[n].len = (p ? p : last) - start;
        n++;

        if (p == NULL) {
            return n;
        }

        *p = '\0';
        start = p + 1;
    }
}


/* records the verdict and resumes the phases that waited for Redis */

static void
ngx_http_ubt_finish_wait(ngx_http_request_t *r, ngx_http_ubt_ctx_t *ctx,
    ngx_http_ubt_reason_e reason)
{
    ngx_connection_t  *c;

    c = r->connection;

    ctx->done = 1;
    ctx->reason = reason;

    ngx_http_set_log_request(c->log, r);

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


/*
 * Applies the verdict.  A rejection is sent as JSON from the access phase,
 * and the request is finalized here so that nginx's own error page never
 * replaces it.
 */

static ngx_int_t
ngx_http_ubt_verdict(ngx_http_request_t *r, ngx_http_ubt_ctx_t *ctx,
    ngx_http_ubt_reason_e reason)
{
    ngx_int_t                 rc;
    ngx_http_ubt_loc_conf_t  *ulcf;

    ctx->done = 1;
    ctx->reason = reason;

    /* an internal redirect runs the access phase again: count once */
    if (!ctx->counted) {
        ctx->counted = 1;
        ngx_http_ubt_metrics_request(r, ctx, reason);
    }

    ulcf = ngx_http_get_module_loc_conf(r, ngx_http_ubt_module);

    if (reason == NGX_HTTP_UBT_OK) {
        if (!ctx->identity_set) {
            if (ngx_http_ubt_set_identity(r, ctx, ulcf) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ctx->identity_set = 1;

            if (ctx->rate_limit.len
                && ngx_http_ubt_rate_headers(r, ctx, ulcf->rate_headers)
                   != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "ubt accepted user \"%V\", issued id \"%V\"",
                           &ctx->user_id, &ctx->issued_id);
        }

        return NGX_OK;
    }

    /*
     * the cause of UNAVAILABLE is logged at "error" by the Redis connection,
     * at most once a second, so an outage does not log every request there
     */

    if (ctx->user_id.len && ctx->bad_header.len) {
        ngx_log_error(ulcf->log_level, r->connection->log, 0,
                      "ubt rejected request: %V, claimed user \"%V\", "
                      "header \"%V\"", &ngx_http_ubt_reason_names[reason],
                      &ctx->user_id, &ctx->bad_header);

    } else if (ctx->user_id.len) {
        ngx_log_error(ulcf->log_level, r->connection->log, 0,
                      "ubt rejected request: %V, %s \"%V\"",
                      &ngx_http_ubt_reason_names[reason],
                      ctx->user_verified ? "user" : "claimed user",
                      &ctx->user_id);

    } else if (ctx->bad_header.len) {
        /* the name only: a value may be a key */
        ngx_log_error(ulcf->log_level, r->connection->log, 0,
                      "ubt rejected request: %V, header \"%V\"",
                      &ngx_http_ubt_reason_names[reason], &ctx->bad_header);

    } else {
        ngx_log_error(ulcf->log_level, r->connection->log, 0,
                      "ubt rejected request: %V",
                      &ngx_http_ubt_reason_names[reason]);
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    rc = ngx_http_ubt_send_reject(r, reason);

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/*
 * Replaces every client-sent copy of the identity headers with the values
 * from the key record, and drops the credentials unless they are to be
 * forwarded.  nginx has no way to delete from a list, so it is rebuilt.
 */

static ngx_int_t
ngx_http_ubt_set_identity(ngx_http_request_t *r, ngx_http_ubt_ctx_t *ctx,
    ngx_http_ubt_loc_conf_t *ulcf)
{
    ngx_uint_t              i;
    ngx_list_t              headers;
    ngx_list_part_t        *part;
    ngx_table_elt_t        *h, *copy;

    if (ngx_list_init(&headers, r->pool, 20, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        switch (ngx_http_ubt_header_type(&h[i])->type) {

        case NGX_HTTP_UBT_HEADER_USER_ID:
        case NGX_HTTP_UBT_HEADER_IDENTITY:
        case NGX_HTTP_UBT_HEADER_PROVISION:
            continue;

        case NGX_HTTP_UBT_HEADER_KEY:
        case NGX_HTTP_UBT_HEADER_TS:
        case NGX_HTTP_UBT_HEADER_NONCE:
        case NGX_HTTP_UBT_HEADER_SIGN:
            if (!ulcf->forward_credentials) {
                continue;
            }

            break;

        default:
            break;
        }

        copy = ngx_list_push(&headers);
        if (copy == NULL) {
            return NGX_ERROR;
        }

        *copy = h[i];
    }

    if (ngx_http_ubt_push_header(&headers, "X-UBT-User-Id", &ctx->user_id)
        != NGX_OK
        || ngx_http_ubt_push_header(&headers, "X-UBT-Plan", &ctx->plan)
           != NGX_OK
        || ngx_http_ubt_push_header(&headers, "X-UBT-Issued-Id",
                                    &ctx->issued_id)
           != NGX_OK
        || ngx_http_ubt_push_header(&headers, "X-UBT-Key-Env", &ctx->key_env)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    r->headers_in.headers = headers;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ubt_push_header(ngx_list_t *headers, char *name, ngx_str_t *value)
{
    size_t            len;
    ngx_table_elt_t  *h;

    h = ngx_list_push(headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(name);

    h->key.data = (u_char *) name;
    h->key.len = len;
    h->value = *value;

    h->lowcase_key = ngx_pnalloc(headers->pool, len);
    if (h->lowcase_key == NULL) {
        return NGX_ERROR;
    }

    h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, len);

    return NGX_OK;
}


/*
 * The digest-to-user cache is direct-mapped: one slot per digest prefix,
 * the newest entry wins.  It maps a key to its user only; whether the key
 * is still valid is decided by Redis on every request.
 */

static ngx_int_t
ngx_http_ubt_cache_find(ngx_http_request_t *r,
    ngx_http_ubt_main_conf_t *umcf, u_char *digest, ngx_str_t *user_id)
{
    uint32_t                     slot;
    ngx_http_ubt_cache_entry_t  *e;

    ngx_memcpy(&slot, digest, sizeof(uint32_t));
    e = &umcf->key_cache[slot % umcf->key_cache_size];

    if (e->user_id_len == 0
        || ngx_memcmp(e->digest, digest, NGX_HTTP_UBT_DIGEST_LEN) != 0)
    {
        return NGX_DECLINED;
    }

    /* copied, because a later key may take the slot */
    user_id->data = ngx_pnalloc(r->pool, e->user_id_len);
    if (user_id->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(user_id->data, e->user_id, e->user_id_len);
    user_id->len = e->user_id_len;

    return NGX_OK;
}


static void
ngx_http_ubt_cache_add(ngx_http_ubt_main_conf_t *umcf, u_char *digest,
    ngx_str_t *user_id)
{
    uint32_t                     slot;
    ngx_http_ubt_cache_entry_t  *e;

    ngx_memcpy(&slot, digest, sizeof(uint32_t));
    e = &umcf->key_cache[slot % umcf->key_cache_size];

    ngx_memcpy(e->digest, digest, NGX_HTTP_UBT_DIGEST_LEN);
    ngx_memcpy(e->user_id, user_id->data, user_id->len);
    e->user_id_len = (u_char) user_id->len;
}
