
/*
 * Copyright (C) ngx_http_ubt_module authors
 */


#include "ngx_http_ubt.h"


typedef struct {
    ngx_uint_t   status;
    const char  *status_text;
} ngx_http_ubt_reason_reply_t;


static ngx_int_t ngx_http_ubt_add_request_id(ngx_http_request_t *r,
    json_t *body);
static ngx_int_t ngx_http_ubt_add_rate_limit(ngx_http_request_t *r,
    ngx_http_ubt_ctx_t *ctx, json_t *body);


static ngx_str_t  ngx_http_ubt_no_store = ngx_string("no-store");
static ngx_str_t  ngx_http_ubt_realm = ngx_string("UBT realm=\"ubt\"");


ngx_str_t  ngx_http_ubt_reason_names[] = {
    ngx_string("OK"),
    ngx_string("MISSING_KEY"),
    ngx_string("MALFORMED_KEY"),
    ngx_string("UNKNOWN_KEY"),
    ngx_string("REVOKED_KEY"),
    ngx_string("TEST_KEY_NOT_ALLOWED"),
    ngx_string("MALFORMED_HEADER"),
    ngx_string("DUPLICATE_HEADER"),
    ngx_string("MISSING_SIGNATURE"),
    ngx_string("BAD_SIGNATURE"),
    ngx_string("STALE_TIMESTAMP"),
    ngx_string("REPLAYED_NONCE"),
    ngx_string("DISCONNECTED"),
    ngx_string("BANNED"),
    ngx_string("RATE_LIMIT"),
    ngx_string("UNAVAILABLE")
};


ngx_uint_t
ngx_http_ubt_reason_status(ngx_http_ubt_reason_e reason)
{
    switch (reason) {

    case NGX_HTTP_UBT_OK:
        return NGX_HTTP_OK;

    case NGX_HTTP_UBT_DISCONNECTED:
    case NGX_HTTP_UBT_BANNED:
        return NGX_HTTP_FORBIDDEN;

    case NGX_HTTP_UBT_RATE_LIMIT:
        return NGX_HTTP_TOO_MANY_REQUESTS;

    case NGX_HTTP_UBT_UNAVAILABLE:
        return NGX_HTTP_SERVICE_UNAVAILABLE;

    default:
        return NGX_HTTP_UNAUTHORIZED;
    }
}


/*
 * Sends a rejection: 401 {"status":"UNAUTHORIZED","reason":...} for the
 * credential checks, 403 with the user's status, 503 when Redis is down.
 */

ngx_int_t
ngx_http_ubt_send_reject(ngx_http_request_t *r, ngx_http_ubt_reason_e reason)
{
    json_t              *body;
    ngx_int_t            rc;
    ngx_uint_t           status;
    ngx_time_t          *tp;
    ngx_http_ubt_ctx_t  *ctx;

    status = ngx_http_ubt_reason_status(reason);

    /* $ubt_status reports the rejection, on content handlers too */
    ctx = ngx_http_ubt_get_ctx(r);
    if (ctx) {
        ctx->done = 1;
        ctx->reason = reason;
    }

    body = json_object();
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = json_object_set_new(body, "ok", json_false());

    if (status == NGX_HTTP_UNAUTHORIZED) {
        rc |= json_object_set_new(body, "status",
                                  json_string("UNAUTHORIZED"));
        rc |= json_object_set_new(body, "reason",
                  json_stringn((char *) ngx_http_ubt_reason_names[reason].data,
                               ngx_http_ubt_reason_names[reason].len));

    } else {
        rc |= json_object_set_new(body, "status",
                  json_stringn((char *) ngx_http_ubt_reason_names[reason].data,
                               ngx_http_ubt_reason_names[reason].len));
    }

    if (reason == NGX_HTTP_UBT_STALE_TIMESTAMP) {
        /* lets the client correct its clock */
        tp = ngx_timeofday();
        rc |= json_object_set_new(body, "server_time_ms",
                  json_integer((json_int_t) tp->sec * 1000 + tp->msec));
    }

    if (ctx && ctx->identity_mismatch && reason == NGX_HTTP_UBT_DISCONNECTED) {
        rc |= json_object_set_new(body, "reason",
                                  json_string("IDENTITY_MISMATCH"));
    }

    if (ctx && reason == NGX_HTTP_UBT_RATE_LIMIT
        && ngx_http_ubt_add_rate_limit(r, ctx, body) != NGX_OK)
    {
        rc = -1;
    }

    if (rc != 0) {
        json_decref(body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_ubt_send_json(r, status, body);
}


/*
 * Sends {"ok":false,"status":S,"reason":R,"field":F}; reason and field may
 * be NULL.
 */

ngx_int_t
ngx_http_ubt_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *status_text, const char *reason, const char *field)
{
    int      rc;
    json_t  *body;

    body = json_object();
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = json_object_set_new(body, "ok", json_false());
    rc |= json_object_set_new(body, "status", json_string(status_text));

    if (reason) {
        rc |= json_object_set_new(body, "reason", json_string(reason));
    }

    if (field) {
        rc |= json_object_set_new(body, "field", json_string(field));
    }

    if (rc != 0) {
        json_decref(body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_ubt_send_json(r, status, body);
}


/*
 * Adds "request_id", serializes the body into the request pool and sends
 * it.  Takes over the reference to body.  Returns what the output filter
 * returned, or an HTTP status when nothing was sent.
 */

ngx_int_t
ngx_http_ubt_send_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *body)
{
    size_t            len;
    ngx_buf_t        *b;
    ngx_table_elt_t  *h;

    if (ngx_http_ubt_add_request_id(r, body) != NGX_OK) {
        json_decref(body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = json_dumpb(body, NULL, 0, JSON_COMPACT);
    if (len == 0) {
        json_decref(body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_create_temp_buf(r->pool, len + 1);
    if (b == NULL) {
        json_decref(body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last += json_dumpb(body, (char *) b->pos, len, JSON_COMPACT);
    *b->last++ = '\n';

    json_decref(body);

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    /* replies may carry a key shown once, or a per-request verdict */
    if (ngx_http_ubt_add_response_header(r, "Cache-Control",
                                         &ngx_http_ubt_no_store)
        == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (status == NGX_HTTP_UNAUTHORIZED) {
        h = ngx_http_ubt_add_response_header(r, "WWW-Authenticate",
                                             &ngx_http_ubt_realm);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->headers_out.www_authenticate = h;
    }

    return ngx_http_ubt_send_body(r, b);
}


/* sends the header that the caller has set up, then the body in b */

ngx_int_t
ngx_http_ubt_send_body(ngx_http_request_t *r, ngx_buf_t *b)
{
    ngx_int_t    rc;
    ngx_chain_t  out;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * Completes a 429 reply: when to retry, in the body and in Retry-After, and
 * the limit in the body and in the X-RateLimit headers.
 */

static ngx_int_t
ngx_http_ubt_add_rate_limit(ngx_http_request_t *r, ngx_http_ubt_ctx_t *ctx,
    json_t *body)
{
    int                       rc;
    ngx_int_t                 ms;
    ngx_str_t                 seconds;
    ngx_http_ubt_loc_conf_t  *ulcf;

    ms = ngx_atoi(ctx->rate_retry.data, ctx->rate_retry.len);
    if (ms == NGX_ERROR) {
        return NGX_ERROR;
    }

    seconds = ctx->rate_retry;

    if (ngx_http_ubt_ms_to_seconds(r, &seconds, 1) != NGX_OK
        || ngx_http_ubt_add_response_header(r, "Retry-After", &seconds)
           == NULL)
    {
        return NGX_ERROR;
    }

    rc = json_object_set_new(body, "retry_after",
                             json_integer(ngx_atoi(seconds.data,
                                                   seconds.len)));
    rc |= json_object_set_new(body, "retry_after_ms", json_integer(ms));
    rc |= json_object_set_new(body, "limit",
                              json_integer(ngx_atoi(ctx->rate_limit.data,
                                                    ctx->rate_limit.len)));
    rc |= json_object_set_new(body, "remaining", json_integer(0));
    rc |= json_object_set_new(body, "reset",
                              json_integer(ngx_atoi(ctx->rate_reset.data,
                                                    ctx->rate_reset.len)));

    if (rc != 0) {
        return NGX_ERROR;
    }

    /* a 429 carries the X-RateLimit headers even where they are off */
    ulcf = ngx_http_get_module_loc_conf(r, ngx_http_ubt_module);

    return ngx_http_ubt_rate_headers(r, ctx,
                                     ulcf->rate_headers
                                     | NGX_HTTP_UBT_RATE_HEADERS_LEGACY);
}


/*
 * Adds the rate limit headers of the mode: X-RateLimit-Limit, -Remaining
 * and -Reset, and the RateLimit-Policy and RateLimit fields of the IETF
 * draft, such as "ubt";q=30;w=60 and "ubt";r=29;t=2.
 */

ngx_int_t
ngx_http_ubt_rate_headers(ngx_http_request_t *r, ngx_http_ubt_ctx_t *ctx,
    ngx_uint_t mode)
{
    u_char     *p;
    ngx_str_t   policy, state;

    if (mode & NGX_HTTP_UBT_RATE_HEADERS_LEGACY) {
        if (ngx_http_ubt_add_response_header(r, "X-RateLimit-Limit",
                                             &ctx->rate_limit)
            == NULL
            || ngx_http_ubt_add_response_header(r, "X-RateLimit-Remaining",
                                                &ctx->rate_remaining)
               == NULL
            || ngx_http_ubt_add_response_header(r, "X-RateLimit-Reset",
                                                &ctx->rate_reset)
               == NULL)
        {
            return NGX_ERROR;
        }
    }

    if (!(mode & NGX_HTTP_UBT_RATE_HEADERS_IETF)) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, 2 * sizeof("\"ubt\";q=;w=") + 4 * NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    policy.data = p;
    p = ngx_sprintf(p, "\"ubt\";q=%V;w=%V", &ctx->rate_limit,
                    &ctx->rate_window);
    policy.len = p - policy.data;

    state.data = p;
    p = ngx_sprintf(p, "\"ubt\";r=%V;t=%V", &ctx->rate_remaining,
                    &ctx->rate_reset);
    state.len = p - state.data;

    if (ngx_http_ubt_add_response_header(r, "RateLimit-Policy", &policy)
        == NULL
        || ngx_http_ubt_add_response_header(r, "RateLimit", &state) == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* adds a response header and returns it, or NULL when out of memory */

ngx_table_elt_t *
ngx_http_ubt_add_response_header(ngx_http_request_t *r, char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;

    return h;
}


/* replaces a count of ms with the seconds it spans, rounded up, at least min */

ngx_int_t
ngx_http_ubt_ms_to_seconds(ngx_http_request_t *r, ngx_str_t *value,
    ngx_uint_t min)
{
    u_char     *p;
    ngx_int_t   ms, seconds;

    ms = ngx_atoi(value->data, value->len);
    if (ms == NGX_ERROR) {
        return NGX_ERROR;
    }

    seconds = (ms + 999) / 1000;

    if (seconds < (ngx_int_t) min) {
        seconds = min;
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    value->data = p;
    value->len = ngx_sprintf(p, "%i", seconds) - p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ubt_add_request_id(ngx_http_request_t *r, json_t *body)
{
    ngx_http_variable_value_t  *vv;
    ngx_http_ubt_main_conf_t   *umcf;

    umcf = ngx_http_get_module_main_conf(r, ngx_http_ubt_module);

    vv = ngx_http_get_indexed_variable(r, umcf->request_id_index);

    if (vv == NULL || vv->not_found) {
        return NGX_OK;
    }

    return json_object_set_new(body, "request_id",
                               json_stringn((char *) vv->data, vv->len))
           == 0 ? NGX_OK : NGX_ERROR;
}
