
/*
 * Copyright (C) ngx_http_ubt_module authors
 */


#include "ngx_http_ubt.h"


#define NGX_HTTP_UBT_AUDIT_COUNT      20
#define NGX_HTTP_UBT_AUDIT_COUNT_MAX  1000
#define NGX_HTTP_UBT_REASON_MAX_LEN   128
#define NGX_HTTP_UBT_LIMIT_MAX_LEN    32


typedef struct {
    ngx_str_t    name;
    ngx_uint_t   methods;
    char        *allow;
} ngx_http_ubt_admin_action_t;


static ngx_int_t ngx_http_ubt_admin_route(ngx_http_request_t *r,
    ngx_str_t *rest, ngx_http_ubt_ctx_t *ctx, ngx_int_t *rc);
static ngx_int_t ngx_http_ubt_admin_start(ngx_http_request_t *r,
    ngx_http_ubt_ctx_t *ctx);
static void ngx_http_ubt_admin_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_ubt_admin_parse(ngx_http_request_t *r,
    ngx_http_ubt_ctx_t *ctx, ngx_str_t *body, const char **reason,
    const char **field);
static ngx_int_t ngx_http_ubt_admin_action(ngx_http_request_t *r,
    ngx_http_ubt_ctx_t *ctx);
static void ngx_http_ubt_admin_action_done(void *data,
    ngx_http_ubt_redis_rc_e rc, redisReply *reply);
static ngx_int_t ngx_http_ubt_admin_user(ngx_http_request_t *r,
    ngx_http_ubt_ctx_t *ctx);
static void ngx_http_ubt_admin_user_done(void *data,
    ngx_http_ubt_redis_rc_e rc, redisReply *reply);
static ngx_int_t ngx_http_ubt_admin_audit(ngx_http_request_t *r,
    ngx_http_ubt_ctx_t *ctx);
static void ngx_http_ubt_admin_audit_done(void *data,
    ngx_http_ubt_redis_rc_e rc, redisReply *reply);
static json_t *ngx_http_ubt_audit_entry(redisReply *entry);
static ngx_int_t ngx_http_ubt_send_not_found(ngx_http_request_t *r,
    const char *reason);
static void ngx_http_ubt_audit_copied(void *data, ngx_http_ubt_redis_rc_e rc,
    redisReply *reply);


static ngx_http_ubt_admin_action_t  ngx_http_ubt_admin_actions[] = {
    { ngx_string(""), NGX_HTTP_GET|NGX_HTTP_HEAD, "GET, HEAD" },
    { ngx_string("revoke"), NGX_HTTP_POST, "POST" },
    { ngx_string("disconnect"), NGX_HTTP_POST, "POST" },
    { ngx_string("ban"), NGX_HTTP_POST, "POST" },
    { ngx_string("reconnect"), NGX_HTTP_POST, "POST" },
    { ngx_string("plan"), NGX_HTTP_PUT, "PUT" },
    { ngx_string("limit"), NGX_HTTP_PUT|NGX_HTTP_DELETE, "PUT, DELETE" },
    { ngx_null_string, 0, NULL }
};


/* the index of prev_expires in the list below */
#define NGX_HTTP_UBT_PREV_EXPIRES     10


/* the user record's fields that GET /users/{id} returns, in this order */
static char  *ngx_http_ubt_user_fields[] = {
    "status", "status_reason", "plan", "limit", "issued_id", "env",
    "created_at", "issued_at", "last_seen", "prev_issued_id", "prev_expires",
    "tm_version", "tm_platform", "tm_device", "tm_system", "tm_commit_hash",
    "tm_first_name", "tm_phone_number", "tm_updated_at", NULL
};


/*
 * Routes a call below the admin location: keys, audit, users/{id} and
 * users/{id}/{action}.  Issuing a key is the provisioning handler's job.
 */

ngx_int_t
ngx_http_ubt_admin_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_str_t                 rest;
    ngx_http_ubt_ctx_t       *ctx;
    ngx_http_ubt_loc_conf_t  *ulcf;

    ulcf = ngx_http_get_module_loc_conf(r, ngx_http_ubt_module);

    rest.data = r->uri.data + ulcf->admin_prefix.len;
    rest.len = r->uri.len - ulcf->admin_prefix.len;

    if (rest.len == sizeof("keys") - 1
        && ngx_strncmp(rest.data, "keys", rest.len) == 0)
    {
        return ngx_http_ubt_provision_handler(r);
    }

    ctx = ngx_http_ubt_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_ubt_admin_route(r, &rest, ctx, &rc) != NGX_OK) {
        return rc;
    }

    if (ngx_http_ubt_authorize_operator(r, &rc) != NGX_OK) {
        return rc;
    }

    return ngx_http_ubt_admin_start(r, ctx);
}


/*
 * Sets ctx->action and ctx->user_id from the path and returns NGX_OK.  For
 * a path or method it does not serve, it sends 400, 404 or 405, stores what
 * the output filter returned in *rc and returns NGX_DONE.
 */

static ngx_int_t
ngx_http_ubt_admin_route(ngx_http_request_t *r, ngx_str_t *rest,
    ngx_http_ubt_ctx_t *ctx, ngx_int_t *rc)
{
    u_char                       *slash, *last;
    ngx_http_ubt_admin_action_t  *a;

    last = rest->data + rest->len;

    if (rest->len == sizeof("audit") - 1
        && ngx_strncmp(rest->data, "audit", rest->len) == 0)
    {
        ngx_str_set(&ctx->action, "audit");

        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            *rc = ngx_http_ubt_method_not_allowed(r, "GET, HEAD");
            return NGX_DONE;
        }

        return NGX_OK;
    }

    if (rest->len <= sizeof("users/") - 1
        || ngx_strncmp(rest->data, "users/", sizeof("users/") - 1) != 0)
    {
        goto unknown;
    }

    ctx->user_id.data = rest->data + sizeof("users/") - 1;

    slash = ngx_strlchr(ctx->user_id.data, last, '/');

    ctx->user_id.len = (slash ? slash : last) - ctx->user_id.data;
    /* not ngx_str_null(): strncmp() must not get NULL, even for 0 bytes */
    ngx_str_set(&ctx->action, "");

    if (slash) {
        ctx->action.data = slash + 1;
        ctx->action.len = last - ctx->action.data;
    }

    if (!ngx_http_ubt_valid_token(&ctx->user_id, 1,
                                  NGX_HTTP_UBT_USER_ID_MAX_LEN))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ubt admin call with an invalid user id");

        if (ngx_http_discard_request_body(r) != NGX_OK) {
            r->keepalive = 0;
        }

        *rc = ngx_http_ubt_send_error(r, NGX_HTTP_BAD_REQUEST, "BAD_REQUEST",
                                      "INVALID_FIELD", "user_id");
        return NGX_DONE;
    }

    for (a = ngx_http_ubt_admin_actions; a->allow; a++) {
        if (a->name.len == ctx->action.len
            && ngx_strncmp(a->name.data, ctx->action.data, a->name.len) == 0)
        {
            if (!(r->method & a->methods)) {
                *rc = ngx_http_ubt_method_not_allowed(r, a->allow);
                return NGX_DONE;
            }

            /* the action names are static, unlike the request's URI */
            ctx->action = a->name;

            return NGX_OK;
        }
    }

unknown:

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "ubt admin call to an unknown endpoint \"%V\"", &r->uri);

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    *rc = ngx_http_ubt_send_not_found(r, "UNKNOWN_ENDPOINT");

    return NGX_DONE;
}


static ngx_int_t
ngx_http_ubt_admin_start(ngx_http_request_t *r, ngx_http_ubt_ctx_t *ctx)
{
    if (ngx_strcmp(ctx->action.data, "audit") == 0) {
        return ngx_http_ubt_admin_audit(r, ctx);
    }

    if (ctx->action.len == 0) {
        return ngx_http_ubt_admin_user(r, ctx);
    }

    if (r->method == NGX_HTTP_DELETE) {
        ngx_str_set(&ctx->action, "limit_clear");
    }

    return ngx_http_ubt_read_json_body(r, "admin", ngx_http_ubt_admin_body);
}


static void
ngx_http_ubt_admin_body(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_str_t            body;
    const char          *reason, *field;
    ngx_http_ubt_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ubt_module);

    if (ngx_http_ubt_get_json_body(r, "admin", &body) != NGX_OK) {
        return;
    }

    rc = ngx_http_ubt_admin_parse(r, ctx, &body, &reason, &field);

    if (rc != NGX_OK) {
        ngx_http_ubt_finalize_invalid(r, rc, reason, field);
        return;
    }

    rc = ngx_http_ubt_admin_action(r, ctx);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
    }
}


/*
 * Parses the body of an action: {"reason"?: "..."} for revoke, disconnect,
 * ban and reconnect, {"plan": "PRO"} and {"limit": "100r/m"|"unlimited"}.
 * An empty body stands for {}.
 */

static ngx_int_t
ngx_http_ubt_admin_parse(ngx_http_request_t *r, ngx_http_ubt_ctx_t *ctx,
    ngx_str_t *body, const char **reason, const char **field)
{
    size_t       i;
    json_t      *root, *value;
    ngx_str_t    s;
    ngx_uint_t   count;
    ngx_msec_t   period;

    *reason = "INVALID_FIELD";
    *field = NULL;

    root = (body->len == 0) ? json_object()
                            : ngx_http_ubt_json_object(r, body, "admin");

    if (root == NULL) {
        *reason = "MALFORMED_JSON";
        return NGX_DECLINED;
    }

    if (ngx_strcmp(ctx->action.data, "plan") == 0
        || ngx_strcmp(ctx->action.data, "limit") == 0)
    {
        *field = (const char *) ctx->action.data;
        value = json_object_get(root, *field);

        if (value == NULL) {
            *reason = "MISSING_FIELD";
            goto invalid;
        }

        if (!json_is_string(value)) {
            goto invalid;
        }

        s.data = (u_char *) json_string_value(value);
        s.len = json_string_length(value);

        if ((*field)[0] == 'p') {
            if (!ngx_http_ubt_valid_token(&s, 1, NGX_HTTP_UBT_PLAN_MAX_LEN)
                || ngx_http_ubt_known_plan(r, &s) != NGX_OK)
            {
                goto invalid;
            }

        } else if (ngx_http_ubt_parse_rate(&s, &count, &period)
                   == NGX_DECLINED)
        {
            goto invalid;
        }

        ctx->value.data = ngx_pnalloc(r->pool, s.len);
        if (ctx->value.data == NULL) {
            json_decref(root);
            return NGX_ERROR;
        }

        /* plan names are upper case; rates and "unlimited" lower case */
        for (i = 0; i < s.len; i++) {
            ctx->value.data[i] = ((*field)[0] == 'p')
                                 ? ngx_toupper(s.data[i])
                                 : ngx_tolower(s.data[i]);
        }

        ctx->value.len = s.len;
    }

    *field = "reason";
    value = json_object_get(root, *field);

    if (value && !json_is_null(value)) {
        if (!json_is_string(value)) {
            goto invalid;
        }

        s.data = (u_char *) json_string_value(value);
        s.len = json_string_length(value);

        if (!ngx_http_ubt_valid_text(&s, NGX_HTTP_UBT_REASON_MAX_LEN)) {
            goto invalid;
        }

        ctx->note.data = ngx_pstrdup(r->pool, &s);
        if (ctx->note.data == NULL) {
            json_decref(root);
            return NGX_ERROR;
        }

        ctx->note.len = s.len;
    }

    json_decref(root);

    return NGX_OK;

invalid:

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "ubt admin call rejected: %s \"%s\"",
                  (*reason)[0] == 'M' ? "missing field" : "invalid field",
                  *field);

    json_decref(root);

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_ubt_admin_action(ngx_http_request_t *r, ngx_http_ubt_ctx_t *ctx)
{
    u_char                    *p;
    ngx_str_t                  args[11];
    ngx_http_ubt_loc_conf_t   *ulcf;
    ngx_http_ubt_user_keys_t   keys;
    ngx_http_ubt_main_conf_t  *umcf;

    ulcf = ngx_http_get_module_loc_conf(r, ngx_http_ubt_module);
    umcf = ngx_http_get_module_main_conf(r, ngx_http_ubt_module);

    if (ngx_http_ubt_user_keys(r->pool, &ctx->user_id, &keys) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_pnalloc(r->pool, keys.record.len + sizeof(":rl") - 1
                             + NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[0] = keys.record;
    args[1] = keys.revoked;
    args[2] = keys.audit;

    /* a new plan or limit starts from a fresh rate limit state */
    args[3].data = p;
    p = ngx_sprintf(p, "%V:rl", &keys.record);
    args[3].len = p - args[3].data;

    args[4] = ctx->action;
    args[5] = ctx->value;
    args[6] = ctx->user_id;
    args[7] = r->connection->addr_text;
    args[8] = ctx->note;

    args[9].data = p;
    args[9].len = ngx_sprintf(p, "%ui", ulcf->audit_max_len) - p;

    ngx_str_set(&args[10], NGX_HTTP_UBT_REVOKED_KEEP);

    ctx->call = ngx_http_ubt_redis_eval(umcf, NGX_HTTP_UBT_SCRIPT_ADMIN, 4,
                                        args, 11,
                                        ngx_http_ubt_admin_action_done, ctx);
    if (ctx->call == NULL) {
        return ngx_http_ubt_send_unavailable(r, NGX_LOG_ERR);
    }

    return NGX_OK;
}


static void
ngx_http_ubt_admin_action_done(void *data, ngx_http_ubt_redis_rc_e rc,
    redisReply *reply)
{
    ngx_http_ubt_ctx_t  *ctx = data;

    int                        err;
    json_t                    *body;
    ngx_http_request_t        *r;
    ngx_http_ubt_loc_conf_t   *ulcf;
    ngx_http_ubt_main_conf_t  *umcf;

    r = ctx->request;

    if (ngx_http_ubt_content_redis_failed(ctx, rc, NGX_LOG_ERR)) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ubt unexpected reply from the admin script");

        ngx_http_ubt_content_done(r, ngx_http_ubt_send_reject(r,
                                             NGX_HTTP_UBT_UNAVAILABLE));
        return;
    }

    if (reply->element[0]->len == sizeof("NOT_FOUND") - 1) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ubt admin %V for unknown user \"%V\"",
                      &ctx->action, &ctx->user_id);

        ngx_http_ubt_content_done(r, ngx_http_ubt_send_not_found(r,
                                                        "UNKNOWN_USER"));
        return;
    }

    ulcf = ngx_http_get_module_loc_conf(r, ngx_http_ubt_module);
    umcf = ngx_http_get_module_main_conf(r, ngx_http_ubt_module);

    ngx_http_ubt_audit_copy(umcf, ulcf->audit_max_len, reply, 1);

    if (ctx->action.len == sizeof("revoke") - 1
        && ngx_strncmp(ctx->action.data, "revoke", ctx->action.len) == 0)
    {
        ngx_http_ubt_metrics_key(umcf, NGX_HTTP_UBT_KEY_REVOKED);
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "ubt admin %V for user \"%V\"", &ctx->action,
                  &ctx->user_id);

    ctx->done = 1;
    ctx->reason = NGX_HTTP_UBT_OK;

    body = json_object();
    if (body == NULL) {
        ngx_http_ubt_content_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    err = json_object_set_new(body, "ok", json_true());
    err |= json_object_set_new(body, "user_id",
               json_stringn((char *) ctx->user_id.data, ctx->user_id.len));
    err |= json_object_set_new(body, "action",
               json_stringn((char *) ctx->action.data, ctx->action.len));

    if (ctx->value.len) {
        err |= json_object_set_new(body, (char *) ctx->action.data,
                   json_stringn((char *) ctx->value.data, ctx->value.len));
    }

    if (err) {
        json_decref(body);
        ngx_http_ubt_content_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_ubt_content_done(r, ngx_http_ubt_send_json(r, NGX_HTTP_OK,
                                                        body));
}


static ngx_int_t
ngx_http_ubt_admin_user(ngx_http_request_t *r, ngx_http_ubt_ctx_t *ctx)
{
    ngx_int_t                  rc;
    ngx_str_t                 *args;
    ngx_uint_t                 n;
    ngx_http_ubt_user_keys_t   keys;
    ngx_http_ubt_main_conf_t  *umcf;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    umcf = ngx_http_get_module_main_conf(r, ngx_http_ubt_module);

    args = ngx_palloc(r->pool, (2 + sizeof(ngx_http_ubt_user_fields)
                                    / sizeof(char *))
                               * sizeof(ngx_str_t));
    if (args == NULL
        || ngx_http_ubt_user_keys(r->pool, &ctx->user_id, &keys) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&args[0], "HMGET");
    args[1] = keys.record;

    for (n = 0; ngx_http_ubt_user_fields[n]; n++) {
        args[2 + n].data = (u_char *) ngx_http_ubt_user_fields[n];
        args[2 + n].len = ngx_strlen(ngx_http_ubt_user_fields[n]);
    }

    ctx->call = ngx_http_ubt_redis_command(umcf, args, 2 + n,
                                           ngx_http_ubt_admin_user_done, ctx);
    if (ctx->call == NULL) {
        return ngx_http_ubt_send_unavailable(r, NGX_LOG_ERR);
    }

    r->main->count++;

    return NGX_DONE;
}


/*
 * Sends the user record: numbers for times, null for what was never set,
 * and telemetry in an object of its own.  Neither a key nor a digest is
 * among the fields read.
 */

static void
ngx_http_ubt_admin_user_done(void *data, ngx_http_ubt_redis_rc_e rc,
    redisReply *reply)
{
    ngx_http_ubt_ctx_t  *ctx = data;

    int                  err;
    char                *name;
    json_t              *body, *telemetry, *value;
    ngx_int_t            n;
    ngx_uint_t           i, expired;
    ngx_time_t          *tp;
    redisReply          *e;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (ngx_http_ubt_content_redis_failed(ctx, rc, NGX_LOG_ERR)) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY
        || reply->elements != sizeof(ngx_http_ubt_user_fields)
                              / sizeof(char *) - 1)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ubt unexpected reply to a user record read");

        ngx_http_ubt_content_done(r, ngx_http_ubt_send_reject(r,
                                             NGX_HTTP_UBT_UNAVAILABLE));
        return;
    }

    /* every record has a status: the issue script sets it */
    if (reply->element[0]->type != REDIS_REPLY_STRING) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ubt admin read of unknown user \"%V\"",
                      &ctx->user_id);

        ngx_http_ubt_content_done(r, ngx_http_ubt_send_not_found(r,
                                                        "UNKNOWN_USER"));
        return;
    }

    body = json_object();
    telemetry = json_object();

    if (body == NULL || telemetry == NULL) {
        goto failed;
    }

    err = json_object_set_new(body, "ok", json_true());
    err |= json_object_set_new(body, "user_id",
               json_stringn((char *) ctx->user_id.data, ctx->user_id.len));

    /* a grace period that has ended is no longer part of the record */
    tp = ngx_timeofday();
    e = reply->element[NGX_HTTP_UBT_PREV_EXPIRES];

    expired = (e->type == REDIS_REPLY_STRING
               && ngx_atoi((u_char *) e->str, e->len)
                  < (ngx_int_t) tp->sec * 1000 + (ngx_int_t) tp->msec);

    for (i = 0; ngx_http_ubt_user_fields[i]; i++) {
        name = ngx_http_ubt_user_fields[i];
        e = reply->element[i];

        if (e->type != REDIS_REPLY_STRING
            || (expired && ngx_strncmp(name, "prev_", 5) == 0))
        {
            value = json_null();

        } else if (ngx_strstr(name, "_at") || ngx_strcmp(name, "last_seen") == 0
                   || ngx_strcmp(name, "prev_expires") == 0)
        {
            n = ngx_atoi((u_char *) e->str, e->len);
            value = (n == NGX_ERROR) ? json_null() : json_integer(n);

        } else {
            value = json_stringn(e->str, e->len);
        }

        if (ngx_strncmp(name, "tm_", 3) == 0) {
            err |= json_object_set_new(telemetry, name + 3, value);

        } else if (ngx_strcmp(name, "env") == 0) {
            err |= json_object_set_new(body, "key_env", value);

        } else {
            err |= json_object_set_new(body, name, value);
        }
    }

    err |= json_object_set_new(body, "telemetry", telemetry);
    telemetry = NULL;

    if (err) {
        goto failed;
    }

    ctx->done = 1;
    ctx->reason = NGX_HTTP_UBT_OK;

    ngx_http_ubt_content_done(r, ngx_http_ubt_send_json(r, NGX_HTTP_OK,
                                                        body));
    return;

failed:

    if (body) {
        json_decref(body);
    }

    if (telemetry) {
        json_decref(telemetry);
    }

    ngx_http_ubt_content_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
}


/*
 * GET audit?user_id=U&count=N: the newest N entries of one user's trail, or
 * of the trail of all users without user_id.
 */

static ngx_int_t
ngx_http_ubt_admin_audit(ngx_http_request_t *r, ngx_http_ubt_ctx_t *ctx)
{
    ngx_int_t                  rc, count;
    ngx_str_t                  value, args[6];
    ngx_http_ubt_user_keys_t   keys;
    ngx_http_ubt_main_conf_t  *umcf;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    count = NGX_HTTP_UBT_AUDIT_COUNT;

    if (ngx_http_arg(r, (u_char *) "count", 5, &value) == NGX_OK) {
        count = ngx_atoi(value.data, value.len);

        if (count < 1 || count > NGX_HTTP_UBT_AUDIT_COUNT_MAX) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "ubt admin call rejected: invalid field \"count\"");

            return ngx_http_ubt_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           "BAD_REQUEST", "INVALID_FIELD",
                                           "count");
        }
    }

    ctx->count = count;

    ngx_str_set(&args[0], "XREVRANGE");
    ngx_str_set(&args[1], NGX_HTTP_UBT_REDIS_AUDIT_KEY);

    if (ngx_http_arg(r, (u_char *) "user_id", 7, &ctx->user_id) == NGX_OK) {

        if (!ngx_http_ubt_valid_token(&ctx->user_id, 1,
                                      NGX_HTTP_UBT_USER_ID_MAX_LEN))
        {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "ubt admin call rejected: "
                          "invalid field \"user_id\"");

            return ngx_http_ubt_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           "BAD_REQUEST", "INVALID_FIELD",
                                           "user_id");
        }

        if (ngx_http_ubt_user_keys(r->pool, &ctx->user_id, &keys) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        args[1] = keys.audit;

    } else {
        ngx_str_null(&ctx->user_id);
    }

    ngx_str_set(&args[2], "+");
    ngx_str_set(&args[3], "-");
    ngx_str_set(&args[4], "COUNT");

    args[5].data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (args[5].data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[5].len = ngx_sprintf(args[5].data, "%i", count) - args[5].data;

    umcf = ngx_http_get_module_main_conf(r, ngx_http_ubt_module);

    ctx->call = ngx_http_ubt_redis_command(umcf, args, 6,
                                           ngx_http_ubt_admin_audit_done,
                                           ctx);
    if (ctx->call == NULL) {
        return ngx_http_ubt_send_unavailable(r, NGX_LOG_ERR);
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_ubt_admin_audit_done(void *data, ngx_http_ubt_redis_rc_e rc,
    redisReply *reply)
{
    ngx_http_ubt_ctx_t  *ctx = data;

    int                  err;
    json_t              *body, *entries, *entry;
    size_t               i;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (ngx_http_ubt_content_redis_failed(ctx, rc, NGX_LOG_ERR)) {
        return;
    }

    body = json_object();
    entries = json_array();

    if (body == NULL || entries == NULL || reply->type != REDIS_REPLY_ARRAY) {
        goto failed;
    }

    for (i = 0; i < reply->elements; i++) {
        entry = ngx_http_ubt_audit_entry(reply->element[i]);

        if (entry == NULL || json_array_append_new(entries, entry) != 0) {
            goto failed;
        }
    }

    err = json_object_set_new(body, "ok", json_true());

    if (ctx->user_id.len) {
        err |= json_object_set_new(body, "user_id",
                   json_stringn((char *) ctx->user_id.data,
                                ctx->user_id.len));
    }

    err |= json_object_set_new(body, "entries", entries);
    entries = NULL;

    if (err) {
        goto failed;
    }

    ctx->done = 1;
    ctx->reason = NGX_HTTP_UBT_OK;

    ngx_http_ubt_content_done(r, ngx_http_ubt_send_json(r, NGX_HTTP_OK,
                                                        body));
    return;

failed:

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "ubt reading the audit trail failed");

    if (body) {
        json_decref(body);
    }

    if (entries) {
        json_decref(entries);
    }

    ngx_http_ubt_content_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
}


/* turns a stream entry [id, [field, value, ...]] into an object */

static json_t *
ngx_http_ubt_audit_entry(redisReply *entry)
{
    char         name[32];
    json_t      *obj, *value;
    size_t       i;
    ngx_int_t    n;
    redisReply  *fields, *f, *v;

    if (entry->type != REDIS_REPLY_ARRAY
        || entry->elements != 2
        || entry->element[0]->type != REDIS_REPLY_STRING
        || entry->element[1]->type != REDIS_REPLY_ARRAY)
    {
        return NULL;
    }

    obj = json_object();
    if (obj == NULL) {
        return NULL;
    }

    if (json_object_set_new(obj, "id",
                            json_stringn(entry->element[0]->str,
                                         entry->element[0]->len))
        != 0)
    {
        goto failed;
    }

    fields = entry->element[1];

    for (i = 0; i + 1 < fields->elements; i += 2) {
        f = fields->element[i];
        v = fields->element[i + 1];

        if (f->type != REDIS_REPLY_STRING
            || v->type != REDIS_REPLY_STRING
            || (size_t) f->len >= sizeof(name))
        {
            goto failed;
        }

        ngx_memcpy(name, f->str, f->len);
        name[f->len] = '\0';

        if (f->len == 4 && ngx_strncmp(f->str, "time", 4) == 0) {
            n = ngx_atoi((u_char *) v->str, v->len);
            value = (n == NGX_ERROR) ? json_null() : json_integer(n);

        } else {
            value = json_stringn(v->str, v->len);
        }

        if (json_object_set_new(obj, name, value) != 0) {
            goto failed;
        }
    }

    return obj;

failed:

    json_decref(obj);

    return NULL;
}


static ngx_int_t
ngx_http_ubt_send_not_found(ngx_http_request_t *r, const char *reason)
{
    return ngx_http_ubt_send_error(r, NGX_HTTP_NOT_FOUND, "NOT_FOUND", reason,
                                   NULL);
}


/*
 * Appends an audit entry, which a script has written to the user's trail,
 * to the trail of all users.  A script cannot do it itself, because the
 * two streams live in different hash slots.
 */

void
ngx_http_ubt_audit_copy(ngx_http_ubt_main_conf_t *umcf, ngx_uint_t max_len,
    redisReply *reply, size_t first)
{
    u_char      len[NGX_INT_T_LEN];
    size_t      i, n;
    ngx_str_t   args[6 + 12];

    if (reply->type != REDIS_REPLY_ARRAY
        || reply->elements <= first
        || reply->elements - first > 12)
    {
        return;
    }

    ngx_str_set(&args[0], "XADD");
    ngx_str_set(&args[1], NGX_HTTP_UBT_REDIS_AUDIT_KEY);
    ngx_str_set(&args[2], "MAXLEN");
    ngx_str_set(&args[3], "~");

    args[4].data = len;
    args[4].len = ngx_sprintf(len, "%ui", max_len) - len;

    ngx_str_set(&args[5], "*");

    n = 6;

    for (i = first; i < reply->elements; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING) {
            return;
        }

        args[n].data = (u_char *) reply->element[i]->str;
        args[n].len = reply->element[i]->len;
        n++;
    }

    /* the call copies its arguments, so the reply may be freed after it */
    (void) ngx_http_ubt_redis_command(umcf, args, n,
                                      ngx_http_ubt_audit_copied, NULL);
}


static void
ngx_http_ubt_audit_copied(void *data, ngx_http_ubt_redis_rc_e rc,
    redisReply *reply)
{
    /* a failure is logged by the Redis connection already */
}
