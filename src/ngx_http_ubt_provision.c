
/*
 * Copyright (C) ngx_http_ubt_module authors
 */


#include "ngx_http_ubt.h"


/* the maximum grace period of a rotated key, in seconds: 30 days */
#define NGX_HTTP_UBT_GRACE_MAX  2592000


static ngx_int_t ngx_http_ubt_check_token(ngx_http_request_t *r,
    ngx_http_ubt_loc_conf_t *ulcf);
static void ngx_http_ubt_provision_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_ubt_read_body(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_ubt_provision_parse(ngx_http_request_t *r,
    ngx_http_ubt_ctx_t *ctx, ngx_str_t *body, const char **reason,
    const char **field);
static void ngx_http_ubt_provision_mapped(void *data,
    ngx_http_ubt_redis_rc_e rc, redisReply *reply);
static ngx_uint_t ngx_http_ubt_provision_rotated(redisReply *reply);
static void ngx_http_ubt_provision_issued(void *data,
    ngx_http_ubt_redis_rc_e rc, redisReply *reply);
static ngx_int_t ngx_http_ubt_provision_reply(ngx_http_request_t *r,
    ngx_http_ubt_ctx_t *ctx);
static void ngx_http_ubt_health_done(void *data, ngx_http_ubt_redis_rc_e rc,
    redisReply *reply);


static ngx_str_t  ngx_http_ubt_no_scope = ngx_null_string;


ngx_int_t
ngx_http_ubt_provision_handler(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_http_ubt_ctx_t  *ctx;

    if (!(r->method & NGX_HTTP_POST)) {
        return ngx_http_ubt_method_not_allowed(r, "POST");
    }

    /* the token is checked before a single byte of the body is read */
    if (ngx_http_ubt_authorize_operator(r, &rc) != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_ubt_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_ubt_read_json_body(r, "provisioning",
                                       ngx_http_ubt_provision_body);
}


/*
 * Starts reading a request body of at most ubt_max_body_size for handler;
 * endpoint names the call in log lines.
 * Returns what a content handler returns: NGX_DONE while the body is read,
 * or the result of a 413 reply.
 */

ngx_int_t
ngx_http_ubt_read_json_body(ngx_http_request_t *r, const char *endpoint,
    ngx_http_client_body_handler_pt handler)
{
    ngx_int_t                 rc;
    ngx_http_ubt_loc_conf_t  *ulcf;

    ulcf = ngx_http_get_module_loc_conf(r, ngx_http_ubt_module);

    if (r->headers_in.content_length_n > (off_t) ulcf->max_body_size) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ubt %s body of %O bytes exceeds "
                      "ubt_max_body_size %uz",
                      endpoint, r->headers_in.content_length_n,
                      ulcf->max_body_size);

        r->keepalive = 0;

        return ngx_http_ubt_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       "PAYLOAD_TOO_LARGE", NULL, NULL);
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * Copies the body that was read into *body, in a body handler.  When it
 * cannot be read or is larger than ubt_max_body_size, finalizes the request
 * with 500 or 413 and returns NGX_DONE.
 */

ngx_int_t
ngx_http_ubt_get_json_body(ngx_http_request_t *r, const char *endpoint,
    ngx_str_t *body)
{
    ngx_int_t                 rc;
    ngx_http_ubt_loc_conf_t  *ulcf;

    ulcf = ngx_http_get_module_loc_conf(r, ngx_http_ubt_module);

    rc = ngx_http_ubt_read_body(r, body);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    if (rc == NGX_DECLINED || body->len > ulcf->max_body_size) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ubt %s body exceeds ubt_max_body_size %uz",
                      endpoint, ulcf->max_body_size);

        rc = ngx_http_ubt_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                     "PAYLOAD_TOO_LARGE", NULL, NULL);
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    return NGX_OK;
}


/*
 * Finishes a body handler whose parser did not return NGX_OK: 400 naming
 * the reason and the field for NGX_DECLINED, 500 otherwise.
 */

void
ngx_http_ubt_finalize_invalid(ngx_http_request_t *r, ngx_int_t rc,
    const char *reason, const char *field)
{
    if (rc == NGX_DECLINED) {
        rc = ngx_http_ubt_send_error(r, NGX_HTTP_BAD_REQUEST, "BAD_REQUEST",
                                     reason, field);

    } else {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * Checks the provisioning token of a provisioning or admin call.  Returns
 * NGX_OK for an operator; otherwise sends 401 (400 for a bad X-UBT-SCOPE),
 * stores what the output filter returned in *rc and returns NGX_DONE.
 */

ngx_int_t
ngx_http_ubt_authorize_operator(ngx_http_request_t *r, ngx_int_t *rc)
{
    ngx_int_t                 status;
    ngx_http_ubt_loc_conf_t  *ulcf;

    ulcf = ngx_http_get_module_loc_conf(r, ngx_http_ubt_module);

    status = ngx_http_ubt_check_token(r, ulcf);

    if (status == NGX_OK) {
        return NGX_OK;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    if (status == NGX_HTTP_BAD_REQUEST) {
        *rc = ngx_http_ubt_send_error(r, NGX_HTTP_BAD_REQUEST, "BAD_REQUEST",
                                      "INVALID_FIELD", "X-UBT-SCOPE");

    } else {
        *rc = ngx_http_ubt_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                      "UNAUTHORIZED", NULL, NULL);
    }

    return NGX_DONE;
}


/*
 * Compares SHA-256 digests of the tokens, so that the comparison takes the
 * same time whatever the length of the token sent.
 */

static ngx_int_t
ngx_http_ubt_check_token(ngx_http_request_t *r,
    ngx_http_ubt_loc_conf_t *ulcf)
{
    ngx_str_t         *token, *scope;
    ngx_uint_t         i;
    const char        *endpoint;
    ngx_list_part_t   *part;
    ngx_table_elt_t   *h;
    u_char             digest[NGX_HTTP_UBT_DIGEST_LEN];

    token = NULL;
    scope = NULL;

    /* names the endpoint in the log lines */
    endpoint = ulcf->admin ? "admin call" : "provisioning";

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

        if (h[i].key.len == sizeof("X-UBT-PROVISION") - 1
            && ngx_strncmp(h[i].lowcase_key, "x-ubt-provision",
                           h[i].key.len)
               == 0)
        {
            if (token) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "ubt %s rejected: "
                              "duplicate X-UBT-PROVISION header", endpoint);
                return NGX_HTTP_UNAUTHORIZED;
            }

            token = &h[i].value;

        } else if (h[i].key.len == sizeof("X-UBT-SCOPE") - 1
                   && ngx_strncmp(h[i].lowcase_key, "x-ubt-scope",
                                  h[i].key.len)
                      == 0)
        {
            /* two scopes are no scope: the second one is checked below */
            scope = scope ? &ngx_http_ubt_no_scope : &h[i].value;
        }
    }

    if (token == NULL || token->len == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ubt %s rejected: "
                      "no X-UBT-PROVISION header", endpoint);
        return NGX_HTTP_UNAUTHORIZED;
    }

    ngx_http_ubt_digest(token, digest);

    if (!ngx_http_ubt_secret_equal(digest, ulcf->provision_digest.data,
                                   NGX_HTTP_UBT_DIGEST_LEN))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ubt %s rejected: wrong provisioning token", endpoint);
        return NGX_HTTP_UNAUTHORIZED;
    }

    /* the userbot_auth client sends "X-UBT-SCOPE: PROVISION" */
    if (scope
        && (scope->len != sizeof("PROVISION") - 1
            || ngx_strncasecmp(scope->data, (u_char *) "PROVISION",
                               scope->len)
               != 0))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ubt %s rejected: "
                      "X-UBT-SCOPE is not \"PROVISION\" or was sent twice",
                      endpoint);
        return NGX_HTTP_BAD_REQUEST;
    }

    return NGX_OK;
}


static void
ngx_http_ubt_provision_body(ngx_http_request_t *r)
{
    u_char                    *p;
    ngx_int_t                  rc;
    ngx_str_t                  body, args[3];
    const char                *reason, *field;
    ngx_http_ubt_ctx_t        *ctx;
    ngx_http_ubt_main_conf_t  *umcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ubt_module);
    umcf = ngx_http_get_module_main_conf(r, ngx_http_ubt_module);

    if (ngx_http_ubt_get_json_body(r, "provisioning", &body) != NGX_OK) {
        return;
    }

    rc = ngx_http_ubt_provision_parse(r, ctx, &body, &reason, &field);

    if (rc != NGX_OK) {
        ngx_http_ubt_finalize_invalid(r, rc, reason, field);
        return;
    }

    /* the key's mapping is written before the user record refers to it */

    p = ngx_pnalloc(r->pool, sizeof(NGX_HTTP_UBT_REDIS_DIGEST_KEY) - 1
                             + NGX_HTTP_UBT_DIGEST_HEX_LEN);
    if (p == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_str_set(&args[0], "SET");

    args[1].data = p;
    p = ngx_cpymem(p, NGX_HTTP_UBT_REDIS_DIGEST_KEY,
                   sizeof(NGX_HTTP_UBT_REDIS_DIGEST_KEY) - 1);
    p = ngx_hex_dump(p, ctx->digest, NGX_HTTP_UBT_DIGEST_LEN);
    args[1].len = p - args[1].data;

    args[2] = ctx->user_id;

    ctx->call = ngx_http_ubt_redis_command(umcf, args, 3,
                                           ngx_http_ubt_provision_mapped, ctx);

    if (ctx->call == NULL) {
        rc = ngx_http_ubt_send_unavailable(r, NGX_LOG_ERR);
        ngx_http_finalize_request(r, rc);
    }
}


/*
 * Copies the request body into one buffer, reading the parts that nginx
 * buffered to a temporary file.  Returns NGX_DECLINED when the body is
 * larger than ubt_max_body_size.
 */

static ngx_int_t
ngx_http_ubt_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char                   *p;
    off_t                     len;
    ssize_t                   n;
    ngx_buf_t                *b;
    ngx_chain_t              *cl;
    ngx_http_ubt_loc_conf_t  *ulcf;

    ulcf = ngx_http_get_module_loc_conf(r, ngx_http_ubt_module);

    ngx_str_null(body);

    if (r->request_body == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? b->file_last - b->file_pos : b->last - b->pos;
    }

    if (len > (off_t) ulcf->max_body_size) {
        return NGX_DECLINED;
    }

    if (len == 0) {
        return NGX_OK;
    }

    body->data = ngx_pnalloc(r->pool, (size_t) len);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    p = body->data;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        n = ngx_read_file(b->file, p, (size_t) (b->file_last - b->file_pos),
                          b->file_pos);

        if (n != b->file_last - b->file_pos) {
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                          "ubt reading the buffered request body failed");
            return NGX_ERROR;
        }

        p += n;
    }

    body->len = p - body->data;

    return NGX_OK;
}


/*
 * Parses {"user_id": 123 | "123", "plan"?: "PRO", "env"?: "live" | "test"},
 * then makes the key, its digest and its issued_id.  Returns NGX_DECLINED
 * with the reason and the field (NULL for the body as a whole) on bad input.
 */

static ngx_int_t
ngx_http_ubt_provision_parse(ngx_http_request_t *r, ngx_http_ubt_ctx_t *ctx,
    ngx_str_t *body, const char **reason, const char **field)
{
    u_char     *p;
    size_t      i;
    json_t     *root, *value;
    ngx_str_t   plan;

    *field = NULL;

    if (body->len == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ubt provisioning body is empty");

        *reason = "MALFORMED_JSON";

        return NGX_DECLINED;
    }

    root = ngx_http_ubt_json_object(r, body, "provisioning");

    if (root == NULL) {
        *reason = "MALFORMED_JSON";
        return NGX_DECLINED;
    }

    *reason = "INVALID_FIELD";

    *field = "user_id";
    value = json_object_get(root, *field);

    if (value == NULL) {
        *reason = "MISSING_FIELD";
        goto invalid;
    }

    if (ngx_http_ubt_json_user_id(r, value, &ctx->user_id) != NGX_OK) {
        goto invalid;
    }

    *field = "plan";
    value = json_object_get(root, *field);
    ngx_str_null(&ctx->plan);

    if (value && !json_is_null(value)) {
        if (!json_is_string(value)) {
            goto invalid;
        }

        plan.data = (u_char *) json_string_value(value);
        plan.len = json_string_length(value);

        if (!ngx_http_ubt_valid_token(&plan, 1, NGX_HTTP_UBT_PLAN_MAX_LEN)
            || ngx_http_ubt_known_plan(r, &plan) != NGX_OK)
        {
            goto invalid;
        }

        ctx->plan.data = ngx_pnalloc(r->pool, plan.len);
        if (ctx->plan.data == NULL) {
            json_decref(root);
            return NGX_ERROR;
        }

        for (i = 0; i < plan.len; i++) {
            ctx->plan.data[i] = ngx_toupper(plan.data[i]);
        }

        ctx->plan.len = plan.len;
    }

    *field = "env";
    value = json_object_get(root, *field);
    ngx_str_set(&ctx->key_env, "live");

    if (value && !json_is_null(value)) {
        if (!json_is_string(value)) {
            goto invalid;
        }

        if (ngx_strcmp(json_string_value(value), "test") == 0) {
            ngx_str_set(&ctx->key_env, "test");
            ctx->test_key = 1;

        } else if (ngx_strcmp(json_string_value(value), "live") != 0) {
            goto invalid;
        }
    }

    *field = "grace_seconds";
    value = json_object_get(root, *field);
    ctx->grace = 0;

    if (value && !json_is_null(value)) {
        if (!json_is_integer(value)
            || json_integer_value(value) < 0
            || json_integer_value(value) > NGX_HTTP_UBT_GRACE_MAX)
        {
            goto invalid;
        }

        ctx->grace = (ngx_msec_t) json_integer_value(value) * 1000;
    }

    json_decref(root);

    p = ngx_pnalloc(r->pool, NGX_HTTP_UBT_KEY_LEN + NGX_HTTP_UBT_ISSUED_ID_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->key.data = p;
    ctx->key.len = NGX_HTTP_UBT_KEY_LEN;

    ctx->issued_id.data = p + NGX_HTTP_UBT_KEY_LEN;
    ctx->issued_id.len = NGX_HTTP_UBT_ISSUED_ID_LEN;

    if (ngx_http_ubt_generate_key(ctx->key.data, ctx->test_key) != NGX_OK
        || ngx_http_ubt_generate_issued_id(ctx->issued_id.data) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_ubt_digest(&ctx->key, ctx->digest);

    return NGX_OK;

invalid:

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "ubt provisioning rejected: %s \"%s\"",
                  (*reason)[0] == 'M' ? "missing field" : "invalid field",
                  *field);

    json_decref(root);

    return NGX_DECLINED;
}


/*
 * Parses a request body that must be one JSON object.  Returns NULL, after
 * logging why, for anything else, a NUL byte included: jansson stops at a
 * NUL and would accept "{...}\0garbage".
 */

json_t *
ngx_http_ubt_json_object(ngx_http_request_t *r, ngx_str_t *body,
    const char *endpoint)
{
    json_t        *root;
    json_error_t   error;

    if (ngx_strlchr(body->data, body->data + body->len, '\0')) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ubt %s body is not a JSON object: it has a NUL byte",
                      endpoint);
        return NULL;
    }

    root = json_loadb((char *) body->data, body->len, JSON_REJECT_DUPLICATES,
                      &error);

    if (root == NULL || !json_is_object(root)) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ubt %s body is not a JSON object: %s",
                      endpoint, root ? "not an object" : error.text);

        if (root) {
            json_decref(root);
        }

        return NULL;
    }

    return root;
}


/* accepts a non-negative JSON integer or a string of [A-Za-z0-9_-] */

ngx_int_t
ngx_http_ubt_json_user_id(ngx_http_request_t *r, json_t *value,
    ngx_str_t *user_id)
{
    u_char     *p;
    ngx_str_t   s;

    if (json_is_integer(value)) {
        if (json_integer_value(value) < 0) {
            return NGX_DECLINED;
        }

        p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        user_id->data = p;
        user_id->len = ngx_sprintf(p, "%L",
                                   (int64_t) json_integer_value(value))
                       - p;

        return NGX_OK;
    }

    if (!json_is_string(value)) {
        return NGX_DECLINED;
    }

    s.data = (u_char *) json_string_value(value);
    s.len = json_string_length(value);

    if (!ngx_http_ubt_valid_token(&s, 1, NGX_HTTP_UBT_USER_ID_MAX_LEN)) {
        return NGX_DECLINED;
    }

    user_id->data = ngx_pstrdup(r->pool, &s);
    if (user_id->data == NULL) {
        return NGX_ERROR;
    }

    user_id->len = s.len;

    return NGX_OK;
}


static void
ngx_http_ubt_provision_mapped(void *data, ngx_http_ubt_redis_rc_e rc,
    redisReply *reply)
{
    ngx_http_ubt_ctx_t  *ctx = data;

    u_char                    *p;
    ngx_str_t                  args[13];
    ngx_http_request_t        *r;
    ngx_http_ubt_loc_conf_t   *ulcf;
    ngx_http_ubt_user_keys_t   keys;
    ngx_http_ubt_main_conf_t  *umcf;

    r = ctx->request;

    if (ngx_http_ubt_content_redis_failed(ctx, rc, NGX_LOG_ERR)) {
        return;
    }

    ulcf = ngx_http_get_module_loc_conf(r, ngx_http_ubt_module);
    umcf = ngx_http_get_module_main_conf(r, ngx_http_ubt_module);

    p = ngx_pnalloc(r->pool, NGX_HTTP_UBT_DIGEST_HEX_LEN + 2 * NGX_INT_T_LEN);

    if (p == NULL
        || ngx_http_ubt_user_keys(r->pool, &ctx->user_id, &keys) != NGX_OK)
    {
        ngx_http_ubt_content_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    args[0] = keys.record;
    args[1] = keys.revoked;
    args[2] = keys.audit;

    args[3].data = p;
    p = ngx_hex_dump(p, ctx->digest, NGX_HTTP_UBT_DIGEST_LEN);
    args[3].len = p - args[3].data;

    args[4] = ctx->issued_id;
    args[5] = ctx->key_env;
    args[6] = ctx->plan;
    args[7] = ulcf->default_plan;
    ngx_str_set(&args[8], NGX_HTTP_UBT_REVOKED_KEEP);

    args[9].data = p;
    p = ngx_sprintf(p, "%M", ctx->grace);
    args[9].len = p - args[9].data;

    args[10] = ctx->user_id;
    args[11] = r->connection->addr_text;

    args[12].data = p;
    p = ngx_sprintf(p, "%ui", ulcf->audit_max_len);
    args[12].len = p - args[12].data;

    ctx->call = ngx_http_ubt_redis_eval(umcf, NGX_HTTP_UBT_SCRIPT_ISSUE, 3,
                                        args, 13,
                                        ngx_http_ubt_provision_issued, ctx);

    if (ctx->call == NULL) {
        ngx_http_ubt_content_done(r, ngx_http_ubt_send_reject(r,
                                             NGX_HTTP_UBT_UNAVAILABLE));
    }
}


static void
ngx_http_ubt_provision_issued(void *data, ngx_http_ubt_redis_rc_e rc,
    redisReply *reply)
{
    ngx_http_ubt_ctx_t  *ctx = data;

    redisReply                *plan;
    ngx_http_request_t        *r;
    ngx_http_ubt_loc_conf_t   *ulcf;
    ngx_http_ubt_main_conf_t  *umcf;

    r = ctx->request;

    if (ngx_http_ubt_content_redis_failed(ctx, rc, NGX_LOG_ERR)) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 2
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ubt unexpected reply from the issue script");

        ngx_http_ubt_content_done(r, ngx_http_ubt_send_reject(r,
                                             NGX_HTTP_UBT_UNAVAILABLE));
        return;
    }

    plan = reply->element[0];

    ctx->plan.data = ngx_pnalloc(r->pool, plan->len);
    if (ctx->plan.data == NULL) {
        ngx_http_ubt_content_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(ctx->plan.data, plan->str, plan->len);
    ctx->plan.len = plan->len;

    ulcf = ngx_http_get_module_loc_conf(r, ngx_http_ubt_module);
    umcf = ngx_http_get_module_main_conf(r, ngx_http_ubt_module);

    ngx_http_ubt_audit_copy(umcf, ulcf->audit_max_len, reply, 2);

    ngx_http_ubt_metrics_key(umcf, ngx_http_ubt_provision_rotated(reply)
                                   ? NGX_HTTP_UBT_KEY_ROTATED
                                   : NGX_HTTP_UBT_KEY_ISSUED);

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "ubt issued a %V key for user \"%V\", issued id \"%V\"",
                  &ctx->key_env, &ctx->user_id, &ctx->issued_id);

    /* the $ubt_* variables describe the key just issued */
    ctx->done = 1;
    ctx->reason = NGX_HTTP_UBT_OK;

    ngx_http_ubt_content_done(r, ngx_http_ubt_provision_reply(r, ctx));
}


/* returns whether the issue script replaced a key, from its audit entry */

static ngx_uint_t
ngx_http_ubt_provision_rotated(redisReply *reply)
{
    size_t       i;
    redisReply  *field, *value;

    for (i = 2; i + 1 < reply->elements; i += 2) {
        field = reply->element[i];
        value = reply->element[i + 1];

        if (field->type == REDIS_REPLY_STRING
            && field->len == sizeof("action") - 1
            && ngx_strncmp(field->str, "action", field->len) == 0)
        {
            return value->type == REDIS_REPLY_STRING
                   && value->len == sizeof("rotate") - 1
                   && ngx_strncmp(value->str, "rotate", value->len) == 0;
        }
    }

    return 0;
}


/* the only place the plaintext key ever leaves the gateway */

static ngx_int_t
ngx_http_ubt_provision_reply(ngx_http_request_t *r, ngx_http_ubt_ctx_t *ctx)
{
    int      rc;
    json_t  *body;

    body = json_object();
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = json_object_set_new(body, "ok", json_true());
    rc |= json_object_set_new(body, "api_key",
              json_stringn((char *) ctx->key.data, ctx->key.len));
    rc |= json_object_set_new(body, "issued_id",
              json_stringn((char *) ctx->issued_id.data, ctx->issued_id.len));
    rc |= json_object_set_new(body, "user_id",
              json_stringn((char *) ctx->user_id.data, ctx->user_id.len));
    rc |= json_object_set_new(body, "plan",
              json_stringn((char *) ctx->plan.data, ctx->plan.len));
    rc |= json_object_set_new(body, "env",
              json_stringn((char *) ctx->key_env.data, ctx->key_env.len));

    ngx_explicit_memzero(ctx->key.data, ctx->key.len);

    if (rc != 0) {
        json_decref(body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_ubt_send_json(r, NGX_HTTP_OK, body);
}


/*
 * Sends 503 for a call that Redis could not take because it is not
 * connected; the connection logs its own failures, this logs the request.
 */

ngx_int_t
ngx_http_ubt_send_unavailable(ngx_http_request_t *r, ngx_uint_t level)
{
    ngx_log_error(level, r->connection->log, 0,
                  "ubt request failed: UNAVAILABLE, redis is not connected");

    return ngx_http_ubt_send_reject(r, NGX_HTTP_UBT_UNAVAILABLE);
}


/*
 * Detaches the finished call.  When Redis failed or timed out, logs it at
 * the level given, sends 503 and returns 1.
 */

ngx_int_t
ngx_http_ubt_content_redis_failed(ngx_http_ubt_ctx_t *ctx,
    ngx_http_ubt_redis_rc_e rc, ngx_uint_t level)
{
    ngx_http_request_t  *r;

    r = ctx->request;
    ctx->call = NULL;

    if (rc == NGX_HTTP_UBT_REDIS_REPLY) {
        return 0;
    }

    ngx_log_error(level, r->connection->log, 0,
                  "ubt request failed: UNAVAILABLE, redis %s",
                  rc == NGX_HTTP_UBT_REDIS_TIMEDOUT ? "timed out"
                                                    : "failed");

    ngx_http_ubt_content_done(r, ngx_http_ubt_send_reject(r,
                                         NGX_HTTP_UBT_UNAVAILABLE));
    return 1;
}


/* finishes a content handler's request from a Redis callback */

void
ngx_http_ubt_content_done(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_connection_t  *c;

    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


ngx_int_t
ngx_http_ubt_health_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  args[1];
    ngx_http_ubt_ctx_t        *ctx;
    ngx_http_ubt_loc_conf_t   *ulcf;
    ngx_http_ubt_main_conf_t  *umcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_ubt_method_not_allowed(r, "GET, HEAD");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_ubt_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    umcf = ngx_http_get_module_main_conf(r, ngx_http_ubt_module);

    ngx_str_set(&args[0], "PING");

    ctx->call = ngx_http_ubt_redis_command(umcf, args, 1,
                                           ngx_http_ubt_health_done, ctx);
    if (ctx->call == NULL) {
        ulcf = ngx_http_get_module_loc_conf(r, ngx_http_ubt_module);

        return ngx_http_ubt_send_unavailable(r, ulcf->log_level);
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_ubt_health_done(void *data, ngx_http_ubt_redis_rc_e rc,
    redisReply *reply)
{
    ngx_http_ubt_ctx_t  *ctx = data;

    json_t                   *body;
    ngx_http_request_t       *r;
    ngx_http_ubt_loc_conf_t  *ulcf;

    r = ctx->request;

    ulcf = ngx_http_get_module_loc_conf(r, ngx_http_ubt_module);

    if (ngx_http_ubt_content_redis_failed(ctx, rc, ulcf->log_level)) {
        return;
    }

    body = json_pack("{s:b}", "ok", 1);
    if (body == NULL) {
        ngx_http_ubt_content_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->done = 1;
    ctx->reason = NGX_HTTP_UBT_OK;

    ngx_http_ubt_content_done(r, ngx_http_ubt_send_json(r, NGX_HTTP_OK,
                                                        body));
}


ngx_int_t
ngx_http_ubt_method_not_allowed(ngx_http_request_t *r, char *allow)
{
    ngx_str_t  value;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "ubt rejected method \"%V\", allowed: %s",
                  &r->method_name, allow);

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    value.data = (u_char *) allow;
    value.len = ngx_strlen(allow);

    if (ngx_http_ubt_add_response_header(r, "Allow", &value) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_ubt_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                   "METHOD_NOT_ALLOWED", NULL, NULL);
}
