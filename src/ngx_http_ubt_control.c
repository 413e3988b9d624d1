
/*
 * Copyright (C) ngx_http_ubt_module authors
 */


#include "ngx_http_ubt.h"


/* the log-update members and the user record's fields they go to */
typedef struct {
    char  *member;
    char  *field;
} ngx_http_ubt_telemetry_t;


static void ngx_http_ubt_log_update_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_ubt_log_update_parse(ngx_http_request_t *r,
    ngx_str_t *body, ngx_str_t *args, ngx_uint_t *n, const char **reason,
    const char **field);
static ngx_int_t ngx_http_ubt_mask_phone(ngx_http_request_t *r,
    ngx_str_t *phone, ngx_str_t *masked);
static void ngx_http_ubt_log_update_done(void *data,
    ngx_http_ubt_redis_rc_e rc, redisReply *reply);


static ngx_http_ubt_telemetry_t  ngx_http_ubt_telemetry[] = {
    { "version", "tm_version" },
    { "platform", "tm_platform" },
    { "device", "tm_device" },
    { "system", "tm_system" },
    { "commit_hash", "tm_commit_hash" },
    { "first_name", "tm_first_name" },
    { "phone_number", "tm_phone_number" },
    { NULL, NULL }
};


/*
 * POST /api/v1/create/check-update: returns an accepted userbot's state.
 * The access phase has checked the key, the signature and the status.
 */

ngx_int_t
ngx_http_ubt_check_update_handler(ngx_http_request_t *r)
{
    int                  err;
    json_t              *body;
    ngx_int_t            rc;
    ngx_http_ubt_ctx_t  *ctx;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_POST))) {
        return ngx_http_ubt_method_not_allowed(r, "GET, POST");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_ubt_get_ctx(r);

    if (ctx == NULL || !ctx->done || ctx->reason != NGX_HTTP_UBT_OK) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "ubt check-update reached without an accepted "
                      "request");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body = json_object();
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    err = json_object_set_new(body, "ok", json_true());
    err |= json_object_set_new(body, "status", json_string("CONNECTED"));
    err |= json_object_set_new(body, "user_id",
               json_stringn((char *) ctx->user_id.data, ctx->user_id.len));
    err |= json_object_set_new(body, "plan",
               json_stringn((char *) ctx->plan.data, ctx->plan.len));
    err |= json_object_set_new(body, "issued_id",
               json_stringn((char *) ctx->issued_id.data,
                            ctx->issued_id.len));

    if (err) {
        json_decref(body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_ubt_send_json(r, NGX_HTTP_OK, body);
}


/*
 * POST /api/v1/create/log-update: stores the telemetry an accepted userbot
 * reports about itself.
 */

ngx_int_t
ngx_http_ubt_log_update_handler(ngx_http_request_t *r)
{
    ngx_http_ubt_ctx_t  *ctx;

    if (!(r->method & NGX_HTTP_POST)) {
        return ngx_http_ubt_method_not_allowed(r, "POST");
    }

    ctx = ngx_http_ubt_get_ctx(r);

    if (ctx == NULL || !ctx->done || ctx->reason != NGX_HTTP_UBT_OK) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "ubt log-update reached without an accepted request");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_ubt_read_json_body(r, "log-update",
                                       ngx_http_ubt_log_update_body);
}


static void
ngx_http_ubt_log_update_body(ngx_http_request_t *r)
{
    u_char                    *p;
    ngx_int_t                  rc;
    ngx_str_t                  body, args[4 + 2 * 8];
    ngx_uint_t                 n;
    ngx_time_t                *tp;
    const char                *reason, *field;
    ngx_http_ubt_ctx_t        *ctx;
    ngx_http_ubt_user_keys_t   keys;
    ngx_http_ubt_main_conf_t  *umcf;

    ctx = ngx_http_ubt_get_ctx(r);
    umcf = ngx_http_get_module_main_conf(r, ngx_http_ubt_module);

    if (ngx_http_ubt_get_json_body(r, "log-update", &body) != NGX_OK) {
        return;
    }

    if (ngx_http_ubt_user_keys(r->pool, &ctx->user_id, &keys) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_str_set(&args[0], "HSET");
    args[1] = keys.record;
    n = 2;

    rc = ngx_http_ubt_log_update_parse(r, &body, args, &n, &reason, &field);

    if (rc != NGX_OK) {
        ngx_http_ubt_finalize_invalid(r, rc, reason, field);
        return;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    tp = ngx_timeofday();

    ngx_str_set(&args[n], "tm_updated_at");
    args[n + 1].data = p;
    args[n + 1].len = ngx_sprintf(p, "%T%03M", tp->sec, tp->msec) - p;
    n += 2;

    ctx->call = ngx_http_ubt_redis_command(umcf, args, n,
                                           ngx_http_ubt_log_update_done, ctx);
    if (ctx->call == NULL) {
        rc = ngx_http_ubt_send_unavailable(r, NGX_LOG_ERR);
        ngx_http_finalize_request(r, rc);
    }
}


/*
 * Appends field, value pairs for the members of the body to args.  Every
 * member is optional; unknown ones are ignored.
 */

static ngx_int_t
ngx_http_ubt_log_update_parse(ngx_http_request_t *r, ngx_str_t *body,
    ngx_str_t *args, ngx_uint_t *n, const char **reason, const char **field)
{
    json_t                    *root, *value;
    ngx_str_t                  s;
    ngx_http_ubt_telemetry_t  *t;

    *reason = "INVALID_FIELD";
    *field = NULL;

    root = ngx_http_ubt_json_object(r, body, "log-update");

    if (root == NULL) {
        *reason = "MALFORMED_JSON";
        return NGX_DECLINED;
    }

    for (t = ngx_http_ubt_telemetry; t->member; t++) {
        *field = t->member;
        value = json_object_get(root, t->member);

        if (value == NULL || json_is_null(value)) {
            continue;
        }

        if (!json_is_string(value)) {
            goto invalid;
        }

        s.data = (u_char *) json_string_value(value);
        s.len = json_string_length(value);

        if (!ngx_http_ubt_valid_text(&s, NGX_HTTP_UBT_TELEMETRY_MAX_LEN)) {
            goto invalid;
        }

        args[*n].data = (u_char *) t->field;
        args[*n].len = ngx_strlen(t->field);

        if (ngx_strcmp(t->member, "phone_number") == 0) {
            if (ngx_http_ubt_mask_phone(r, &s, &args[*n + 1]) != NGX_OK) {
                goto invalid;
            }

        } else {
            args[*n + 1].data = ngx_pstrdup(r->pool, &s);
            if (args[*n + 1].data == NULL) {
                json_decref(root);
                return NGX_ERROR;
            }

            args[*n + 1].len = s.len;
        }

        *n += 2;
    }

    json_decref(root);

    return NGX_OK;

invalid:

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "ubt log-update rejected: invalid field \"%s\"", *field);

    json_decref(root);

    return NGX_DECLINED;
}


/*
 * Keeps a phone number only in a masked form: the leading "+", the first
 * two and the last three digits, as in "+15***234".  Spaces, dashes and
 * brackets are allowed around the digits and dropped.
 */

static ngx_int_t
ngx_http_ubt_mask_phone(ngx_http_request_t *r, ngx_str_t *phone,
    ngx_str_t *masked)
{
    u_char  *p, *last, digits[32];
    size_t   n;

    n = 0;
    last = phone->data + phone->len;

    for (p = phone->data; p < last; p++) {

        if (*p >= '0' && *p <= '9') {
            if (n == sizeof(digits)) {
                return NGX_DECLINED;
            }

            digits[n++] = *p;
            continue;
        }

        if (*p == '+' && p == phone->data) {
            continue;
        }

        if (*p != ' ' && *p != '-' && *p != '(' && *p != ')') {
            return NGX_DECLINED;
        }
    }

    if (n < 6) {
        return NGX_DECLINED;
    }

    masked->data = ngx_pnalloc(r->pool, sizeof("+***") - 1 + 5);
    if (masked->data == NULL) {
        return NGX_ERROR;
    }

    p = masked->data;

    if (phone->data[0] == '+') {
        *p++ = '+';
    }

    p = ngx_cpymem(p, digits, 2);
    p = ngx_cpymem(p, "***", 3);
    p = ngx_cpymem(p, digits + n - 3, 3);

    masked->len = p - masked->data;

    return NGX_OK;
}


static void
ngx_http_ubt_log_update_done(void *data, ngx_http_ubt_redis_rc_e rc,
    redisReply *reply)
{
    ngx_http_ubt_ctx_t  *ctx = data;

    json_t              *body;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (ngx_http_ubt_content_redis_failed(ctx, rc, NGX_LOG_ERR)) {
        return;
    }

    body = json_pack("{s:b}", "ok", 1);
    if (body == NULL) {
        ngx_http_ubt_content_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_ubt_content_done(r, ngx_http_ubt_send_json(r, NGX_HTTP_OK,
                                                        body));
}
