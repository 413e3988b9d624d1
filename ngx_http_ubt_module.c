
/*
 * Copyright (C) ngx_http_ubt_module authors
 */


#include "ngx_http_ubt.h"


static ngx_int_t ngx_http_ubt_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_ubt_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_ubt_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void *ngx_http_ubt_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_ubt_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_ubt_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ubt_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_ubt_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ubt_redis_cluster(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ubt_redis_param(ngx_conf_t *cf,
    ngx_http_ubt_main_conf_t *umcf, ngx_str_t *value);
static char *ngx_http_ubt_redis_unix(ngx_conf_t *cf,
    ngx_http_ubt_redis_addr_t *addr, ngx_str_t *value);
static char *ngx_http_ubt_redis_inet(ngx_conf_t *cf,
    ngx_http_ubt_redis_addr_t *addr, ngx_str_t *value);
static char *ngx_http_ubt_signing_secret_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_ubt_provision_secret_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_ubt_default_plan(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ubt_plan(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_ubt_rate_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static char *ngx_http_ubt_provision(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ubt_health(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ubt_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ubt_set_handler(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_ubt_loc_conf_t *ulcf, ngx_http_handler_pt handler);
static char *ngx_http_ubt_admin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ubt_control(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_ubt_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_ubt_init_process(ngx_cycle_t *cycle);
static void ngx_http_ubt_exit_process(ngx_cycle_t *cycle);
static void ngx_http_ubt_exit_master(ngx_cycle_t *cycle);


static ngx_conf_enum_t  ngx_http_ubt_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_ubt_rate_header_modes[] = {
    { ngx_string("off"), 0 },
    { ngx_string("legacy"), NGX_HTTP_UBT_RATE_HEADERS_LEGACY },
    { ngx_string("ietf"), NGX_HTTP_UBT_RATE_HEADERS_IETF },
    { ngx_string("both"), NGX_HTTP_UBT_RATE_HEADERS_LEGACY
                          |NGX_HTTP_UBT_RATE_HEADERS_IETF },
    { ngx_null_string, 0 }
};


static ngx_conf_num_bounds_t  ngx_http_ubt_key_cache_bounds = {
    ngx_conf_check_num_bounds, 0, 1048576
};


static ngx_conf_num_bounds_t  ngx_http_ubt_audit_bounds = {
    ngx_conf_check_num_bounds, 100, 100000000
};


static ngx_command_t  ngx_http_ubt_commands[] = {

    { ngx_string("ubt_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_ubt_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ubt_redis_cluster"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_ubt_redis_cluster,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ubt_redis_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ubt_main_conf_t, connect_timeout),
      NULL },

    { ngx_string("ubt_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ubt_main_conf_t, timeout),
      NULL },

    { ngx_string("ubt_key_cache_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ubt_main_conf_t, key_cache_size),
      &ngx_http_ubt_key_cache_bounds },

    { ngx_string("ubt_plan"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE23,
      ngx_http_ubt_plan,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ubt_rate_limit_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ubt_loc_conf_t, rate_headers),
      &ngx_http_ubt_rate_header_modes },

    { ngx_string("ubt"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ubt_loc_conf_t, enable),
      NULL },

    { ngx_string("ubt_signing_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ubt_signing_secret_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ubt_provision_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ubt_provision_secret_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ubt_allow_test_keys"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ubt_loc_conf_t, allow_test_keys),
      NULL },

    { ngx_string("ubt_forward_credentials"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ubt_loc_conf_t, forward_credentials),
      NULL },

    { ngx_string("ubt_time_skew"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ubt_loc_conf_t, time_skew),
      NULL },

    { ngx_string("ubt_nonce_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ubt_loc_conf_t, nonce_ttl),
      NULL },

    { ngx_string("ubt_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ubt_loc_conf_t, log_level),
      &ngx_http_ubt_log_levels },

    { ngx_string("ubt_max_body_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ubt_loc_conf_t, max_body_size),
      NULL },

    { ngx_string("ubt_default_plan"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ubt_default_plan,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ubt_loc_conf_t, default_plan),
      NULL },

    { ngx_string("ubt_provision"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_ubt_provision,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ubt_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_ubt_health,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ubt_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_ubt_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ubt_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_ubt_admin,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ubt_check_update"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_ubt_control,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ubt_loc_conf_t, check_update),
      NULL },

    { ngx_string("ubt_log_update"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_ubt_control,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ubt_loc_conf_t, log_update),
      NULL },

    { ngx_string("ubt_last_seen_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ubt_loc_conf_t, last_seen_interval),
      NULL },

    { ngx_string("ubt_audit_max_len"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ubt_loc_conf_t, audit_max_len),
      &ngx_http_ubt_audit_bounds },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_ubt_module_ctx = {
    ngx_http_ubt_add_variables,            /* preconfiguration */
    ngx_http_ubt_init,                     /* postconfiguration */

    ngx_http_ubt_create_main_conf,         /* create main configuration */
    ngx_http_ubt_init_main_conf,           /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_ubt_create_loc_conf,          /* create location configuration */
    ngx_http_ubt_merge_loc_conf            /* merge location configuration */
};


ngx_module_t  ngx_http_ubt_module = {
    NGX_MODULE_V1,
    &ngx_http_ubt_module_ctx,              /* module context */
    ngx_http_ubt_commands,                 /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_ubt_init_process,             /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_ubt_exit_process,             /* exit process */
    ngx_http_ubt_exit_master,              /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_ubt_vars[] = {

    { ngx_string("ubt_user_id"), NULL, ngx_http_ubt_variable,
      offsetof(ngx_http_ubt_ctx_t, user_id), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ubt_plan"), NULL, ngx_http_ubt_variable,
      offsetof(ngx_http_ubt_ctx_t, plan), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ubt_issued_id"), NULL, ngx_http_ubt_variable,
      offsetof(ngx_http_ubt_ctx_t, issued_id), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ubt_key_env"), NULL, ngx_http_ubt_variable,
      offsetof(ngx_http_ubt_ctx_t, key_env), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ubt_status"), NULL, ngx_http_ubt_status_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ubt_rate_limit"), NULL, ngx_http_ubt_rate_variable,
      offsetof(ngx_http_ubt_ctx_t, rate_limit), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ubt_rate_remaining"), NULL, ngx_http_ubt_rate_variable,
      offsetof(ngx_http_ubt_ctx_t, rate_remaining),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ubt_rate_reset"), NULL, ngx_http_ubt_rate_variable,
      offsetof(ngx_http_ubt_ctx_t, rate_reset), NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_ubt_request_id = ngx_string("request_id");


static ngx_int_t
ngx_http_ubt_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_ubt_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/* identity variables are empty unless the request was accepted */

static ngx_int_t
ngx_http_ubt_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_str_t           *value;
    ngx_http_ubt_ctx_t  *ctx;

    ctx = ngx_http_ubt_get_ctx(r);

    if (ctx == NULL || !ctx->done || ctx->reason != NGX_HTTP_UBT_OK) {
        v->not_found = 1;
        return NGX_OK;
    }

    value = (ngx_str_t *) ((char *) ctx + data);

    v->len = value->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = value->data;

    return NGX_OK;
}


/* the rate limit of an accepted or rate-limited request, when one applies */

static ngx_int_t
ngx_http_ubt_rate_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t           *value;
    ngx_http_ubt_ctx_t  *ctx;

    ctx = ngx_http_ubt_get_ctx(r);

    if (ctx == NULL || !ctx->done) {
        v->not_found = 1;
        return NGX_OK;
    }

    value = (ngx_str_t *) ((char *) ctx + data);

    if (value->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = value->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = value->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ubt_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_ubt_ctx_t  *ctx;

    ctx = ngx_http_ubt_get_ctx(r);

    if (ctx == NULL || !ctx->done) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ngx_http_ubt_reason_names[ctx->reason].len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = ngx_http_ubt_reason_names[ctx->reason].data;

    return NGX_OK;
}


static void *
ngx_http_ubt_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_ubt_main_conf_t  *umcf;

    umcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ubt_main_conf_t));
    if (umcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     umcf->server = { { 0, NULL }, ... };
     *     umcf->seeds = NULL;
     *     umcf->password = { 0, NULL };
     *     umcf->used = 0;
     *     umcf->redis = NULL;
     *     umcf->cluster = NULL;
     *     umcf->key_cache = NULL;
     */

    umcf->db = NGX_CONF_UNSET;
    umcf->connect_timeout = NGX_CONF_UNSET_MSEC;
    umcf->timeout = NGX_CONF_UNSET_MSEC;
    umcf->key_cache_size = NGX_CONF_UNSET_UINT;

    return umcf;
}


static char *
ngx_http_ubt_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_ubt_main_conf_t *umcf = conf;

    ngx_conf_init_value(umcf->db, 0);

    /* a gateway fails fast: a healthy Redis nearby replies within 1 ms */
    ngx_conf_init_msec_value(umcf->connect_timeout, 500);
    ngx_conf_init_msec_value(umcf->timeout, 500);

    ngx_conf_init_uint_value(umcf->key_cache_size, 4096);

    return NGX_CONF_OK;
}


static void *
ngx_http_ubt_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ubt_loc_conf_t  *ulcf;

    ulcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ubt_loc_conf_t));
    if (ulcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     ulcf->default_plan = { 0, NULL };
     *     ulcf->signing_secret = { 0, NULL };
     *     ulcf->signing_mac = NULL;
     *     ulcf->provision_digest = { 0, NULL };
     *     ulcf->admin_prefix = { 0, NULL };
     *     ulcf->provision = 0;
     *     ulcf->admin = 0;
     *     ulcf->check_update = 0;
     *     ulcf->log_update = 0;
     */

    ulcf->enable = NGX_CONF_UNSET;
    ulcf->allow_test_keys = NGX_CONF_UNSET;
    ulcf->forward_credentials = NGX_CONF_UNSET;
    ulcf->time_skew = NGX_CONF_UNSET;
    ulcf->nonce_ttl = NGX_CONF_UNSET_MSEC;
    ulcf->log_level = NGX_CONF_UNSET_UINT;
    ulcf->max_body_size = NGX_CONF_UNSET_SIZE;
    ulcf->last_seen_interval = NGX_CONF_UNSET_MSEC;
    ulcf->audit_max_len = NGX_CONF_UNSET_UINT;
    ulcf->rate_headers = NGX_CONF_UNSET_UINT;

    return ulcf;
}


static char *
ngx_http_ubt_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ubt_loc_conf_t *prev = parent;
    ngx_http_ubt_loc_conf_t *conf = child;

    u_char                     digest[NGX_HTTP_UBT_DIGEST_LEN];
    ngx_str_t                  where;
    ngx_http_core_loc_conf_t  *clcf;
    ngx_http_ubt_main_conf_t  *umcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_value(conf->allow_test_keys, prev->allow_test_keys, 0);
    ngx_conf_merge_value(conf->forward_credentials,
                         prev->forward_credentials, 0);
    ngx_conf_merge_sec_value(conf->time_skew, prev->time_skew, 300);

    /*
     * only an explicit ubt_nonce_ttl is inherited: the default follows the
     * skew of the level where it is used
     */

    if (conf->nonce_ttl == NGX_CONF_UNSET_MSEC) {
        conf->nonce_ttl = prev->nonce_ttl;
    }

    conf->nonce_window = (conf->nonce_ttl == NGX_CONF_UNSET_MSEC)
                         ? (ngx_msec_t) conf->time_skew * 2000
                         : conf->nonce_ttl;

    ngx_conf_merge_uint_value(conf->log_level, prev->log_level,
                              NGX_LOG_INFO);
    ngx_conf_merge_size_value(conf->max_body_size, prev->max_body_size,
                              8192);
    ngx_conf_merge_str_value(conf->default_plan, prev->default_plan, "FREE");
    ngx_conf_merge_msec_value(conf->last_seen_interval,
                              prev->last_seen_interval, 10000);
    ngx_conf_merge_uint_value(conf->audit_max_len, prev->audit_max_len,
                              10000);
    ngx_conf_merge_uint_value(conf->rate_headers, prev->rate_headers,
                              NGX_HTTP_UBT_RATE_HEADERS_LEGACY);

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ubt_module);
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /*
     * these checks run once the http block is read, so the line of an
     * error is the block's end: the message names the location instead
     */
    if (clcf->name.len) {
        where.data = ngx_pnalloc(cf->pool, clcf->name.len
                                           + sizeof(" in location \"\"") - 1);
        if (where.data == NULL) {
            return NGX_CONF_ERROR;
        }

        where.len = ngx_sprintf(where.data, " in location \"%V\"", &clcf->name)
                    - where.data;

    } else {
        ngx_str_null(&where);
    }

    /* a content handler of another module, proxy_pass for one, set later */
    if (conf->handler) {

        if (clcf->handler != conf->handler) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" cannot be combined with another "
                               "content handler in location \"%V\"",
                               &conf->handler_name, &clcf->name);
            return NGX_CONF_ERROR;
        }
    }

    /* with plans in nginx.conf, a new user must get one of them */
    if (umcf->plans && ngx_http_ubt_find_plan(umcf, &conf->default_plan)
                       == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "default plan \"%V\" is not defined by "
                           "\"ubt_plan\"", &conf->default_plan);
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_str_value(conf->signing_secret, prev->signing_secret, "");

    if (conf->signing_mac == NULL) {
        conf->signing_mac = prev->signing_mac;
    }

    ngx_conf_merge_str_value(conf->provision_digest, prev->provision_digest,
                             "");

    if (conf->time_skew < 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ubt_time_skew\" must be at least 1s");
        return NGX_CONF_ERROR;
    }

    /*
     * a nonce must be remembered for as long as its timestamp is accepted:
     * skew on either side of the gateway's clock
     */

    if (conf->nonce_window < (ngx_msec_t) conf->time_skew * 2000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ubt_nonce_ttl\" %Mms is shorter than twice "
                           "\"ubt_time_skew\" %Ts (%Mms)%V",
                           conf->nonce_window, conf->time_skew,
                           (ngx_msec_t) conf->time_skew * 2000, &where);
        return NGX_CONF_ERROR;
    }

    if (conf->enable && conf->signing_secret.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ubt on\" requires \"ubt_signing_secret_file\"%V",
                           &where);
        return NGX_CONF_ERROR;
    }

    if (conf->provision || conf->admin) {
        if (conf->provision_digest.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%s\" requires "
                               "\"ubt_provision_secret_file\"%V",
                               conf->admin ? "ubt_admin" : "ubt_provision",
                               &where);
            return NGX_CONF_ERROR;
        }

        if (conf->enable) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%s\" cannot be used in a location with "
                               "\"ubt on\": runtime keys must not reach "
                               "provisioning%V",
                               conf->admin ? "ubt_admin" : "ubt_provision",
                               &where);
            return NGX_CONF_ERROR;
        }
    }

    if ((conf->check_update || conf->log_update) && !conf->enable) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" requires \"ubt on\" in its location%V",
                           conf->check_update ? "ubt_check_update"
                                              : "ubt_log_update", &where);
        return NGX_CONF_ERROR;
    }

    if (conf->signing_secret.len && conf->provision_digest.len) {
        ngx_http_ubt_digest(&conf->signing_secret, digest);

        if (ngx_http_ubt_secret_equal(digest, conf->provision_digest.data,
                                      NGX_HTTP_UBT_DIGEST_LEN))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the signing secret and the provisioning "
                               "secret must differ");
            return NGX_CONF_ERROR;
        }
    }

    if (conf->enable) {
        umcf->used = 1;
    }

    return NGX_CONF_OK;
}


/*
 * ubt_redis 127.0.0.1:6379 | unix:/path [db=N] [password_file=path];
 */

static char *
ngx_http_ubt_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ubt_main_conf_t *umcf = conf;

    char        *rv;
    ngx_str_t   *value;
    ngx_uint_t   i;

    if (umcf->server.name.len) {
        return "is duplicate";
    }

    if (umcf->seeds) {
        return "cannot be used with \"ubt_redis_cluster\"";
    }

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "unix:", 5) == 0) {
        rv = ngx_http_ubt_redis_unix(cf, &umcf->server, &value[1]);

    } else {
        rv = ngx_http_ubt_redis_inet(cf, &umcf->server, &value[1]);
    }

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {

            if (umcf->db != NGX_CONF_UNSET) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate parameter \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            umcf->db = ngx_atoi(value[i].data + 3, value[i].len - 3);

            if (umcf->db == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid database number \"%V\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_http_ubt_redis_param(cf, umcf, &value[i]) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * ubt_redis_cluster 127.0.0.1:7000 127.0.0.1:7001 ... [password_file=path];
 *
 * The seeds only lead to the slot map: the worker connects to the masters
 * that the map names.  A cluster has one database, so db= is not offered.
 */

static char *
ngx_http_ubt_redis_cluster(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ubt_main_conf_t *umcf = conf;

    ngx_str_t                  *value;
    ngx_uint_t                  i;
    ngx_http_ubt_redis_addr_t  *seed;

    if (umcf->seeds) {
        return "is duplicate";
    }

    if (umcf->server.name.len) {
        return "cannot be used with \"ubt_redis\"";
    }

    umcf->seeds = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                   sizeof(ngx_http_ubt_redis_addr_t));
    if (umcf->seeds == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strchr(value[i].data, '=') != NULL) {
            if (ngx_http_ubt_redis_param(cf, umcf, &value[i]) != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "unix:", 5) == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "cluster node \"%V\" must be an IP address "
                               "and port, because the nodes name each other "
                               "that way", &value[i]);
            return NGX_CONF_ERROR;
        }

        seed = ngx_array_push(umcf->seeds);
        if (seed == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(seed, sizeof(ngx_http_ubt_redis_addr_t));

        if (ngx_http_ubt_redis_inet(cf, seed, &value[i]) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (umcf->seeds->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no cluster node in \"ubt_redis_cluster\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* a parameter that both ubt_redis and ubt_redis_cluster take */

static char *
ngx_http_ubt_redis_param(ngx_conf_t *cf, ngx_http_ubt_main_conf_t *umcf,
    ngx_str_t *value)
{
    ngx_str_t  path;

    if (ngx_strncmp(value->data, "password_file=", 14) == 0) {

        if (umcf->password.data) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate parameter \"%V\"", value);
            return NGX_CONF_ERROR;
        }

        path.data = value->data + 14;
        path.len = value->len - 14;

        return ngx_http_ubt_read_secret_file(cf, &path, &umcf->password, 1);
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", value);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_ubt_redis_unix(ngx_conf_t *cf, ngx_http_ubt_redis_addr_t *addr,
    ngx_str_t *value)
{
    ngx_str_t  path;

    path.data = value->data + 5;
    path.len = value->len - 5;

    if (path.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no path in redis address \"%V\"", value);
        return NGX_CONF_ERROR;
    }

    /* ngx_conf_full_name() returns a NUL-terminated copy */
    if (ngx_conf_full_name(cf->cycle, &path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    addr->unix_path = path;
    addr->name = *value;

    return NGX_CONF_OK;
}


/*
 * hiredis resolves host names with a blocking call, so a name is resolved
 * here, once, and the worker connects to the numeric address.
 */

static char *
ngx_http_ubt_redis_inet(ngx_conf_t *cf, ngx_http_ubt_redis_addr_t *addr,
    ngx_str_t *value)
{
    u_char     *host;
    size_t      len;
    ngx_url_t   u;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = *value;
    u.default_port = 6379;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in redis address \"%V\"", u.err, value);
        }

        return NGX_CONF_ERROR;
    }

    if (u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis address \"%V\" was not resolved", value);
        return NGX_CONF_ERROR;
    }

    if (u.naddrs > 1) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "redis address \"%V\" resolves to %ui addresses, "
                           "using \"%V\"", value, u.naddrs, &u.addrs[0].name);
    }

    host = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (host == NULL) {
        return NGX_CONF_ERROR;
    }

    len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, host,
                        NGX_SOCKADDR_STRLEN, 0);
    host[len] = '\0';

    /* hiredis wants a bare IPv6 address, without the brackets */
    if (len > 2 && host[0] == '[') {
        host[len - 1] = '\0';
        host++;
        len -= 2;
    }

    addr->host.data = host;
    addr->host.len = len;
    addr->port = ngx_inet_get_port(u.addrs[0].sockaddr);
    addr->name = u.addrs[0].name;

    return NGX_CONF_OK;
}


static char *
ngx_http_ubt_signing_secret_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_ubt_loc_conf_t *ulcf = conf;

    ngx_str_t  *value;

    if (ulcf->signing_secret.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_ubt_read_secret_file(cf, &value[1], &ulcf->signing_secret,
                                      NGX_HTTP_UBT_SECRET_MIN_LEN)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_http_ubt_ct_secret(ulcf->signing_secret.data,
                           ulcf->signing_secret.len);

    ulcf->signing_mac = ngx_http_ubt_mac_create(cf, &ulcf->signing_secret);
    if (ulcf->signing_mac == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* only a digest of the provisioning token is kept in memory */

static char *
ngx_http_ubt_provision_secret_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_ubt_loc_conf_t *ulcf = conf;

    ngx_str_t  *value, secret;

    if (ulcf->provision_digest.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_ubt_read_secret_file(cf, &value[1], &secret,
                                      NGX_HTTP_UBT_SECRET_MIN_LEN)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    ulcf->provision_digest.data = ngx_pnalloc(cf->pool,
                                              NGX_HTTP_UBT_DIGEST_LEN);
    if (ulcf->provision_digest.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_http_ubt_digest(&secret, ulcf->provision_digest.data);
    ulcf->provision_digest.len = NGX_HTTP_UBT_DIGEST_LEN;

    ngx_explicit_memzero(secret.data, secret.len);

    ngx_http_ubt_ct_secret(ulcf->provision_digest.data,
                           NGX_HTTP_UBT_DIGEST_LEN);

    return NGX_CONF_OK;
}


static char *
ngx_http_ubt_default_plan(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ubt_loc_conf_t *ulcf = conf;

    size_t      i;
    ngx_str_t  *value;

    if (ulcf->default_plan.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (!ngx_http_ubt_valid_token(&value[1], 1, NGX_HTTP_UBT_PLAN_MAX_LEN)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid plan name \"%V\": use 1 to %d "
                           "characters of A-Z, 0-9, \"_\" and \"-\"",
                           &value[1], NGX_HTTP_UBT_PLAN_MAX_LEN);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < value[1].len; i++) {
        value[1].data[i] = ngx_toupper(value[1].data[i]);
    }

    ulcf->default_plan = value[1];

    return NGX_CONF_OK;
}


/*
 * ubt_plan NAME RATE [burst=N];  RATE is "N r/s|m|h|d" or "unlimited".
 */

static char *
ngx_http_ubt_plan(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ubt_main_conf_t *umcf = conf;

    size_t                i;
    ngx_int_t             burst, rc;
    ngx_str_t            *value;
    ngx_uint_t            count;
    ngx_msec_t            period;
    ngx_http_ubt_plan_t  *plan;

    value = cf->args->elts;

    if (!ngx_http_ubt_valid_token(&value[1], 1, NGX_HTTP_UBT_PLAN_MAX_LEN)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid plan name \"%V\": use 1 to %d "
                           "characters of A-Z, 0-9, \"_\" and \"-\"",
                           &value[1], NGX_HTTP_UBT_PLAN_MAX_LEN);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < value[1].len; i++) {
        value[1].data[i] = ngx_toupper(value[1].data[i]);
    }

    if (umcf->plans == NULL) {
        umcf->plans = ngx_array_create(cf->pool, 4,
                                       sizeof(ngx_http_ubt_plan_t));
        if (umcf->plans == NULL) {
            return NGX_CONF_ERROR;
        }

    } else if (ngx_http_ubt_find_plan(umcf, &value[1])) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "plan \"%V\" is defined twice", &value[1]);
        return NGX_CONF_ERROR;
    }

    rc = ngx_http_ubt_parse_rate(&value[2], &count, &period);

    if (rc == NGX_DECLINED) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid rate \"%V\" of plan \"%V\": use "
                           "\"N r/s\", \"N r/m\", \"N r/h\", \"N r/d\" "
                           "or \"unlimited\"", &value[2], &value[1]);
        return NGX_CONF_ERROR;
    }

    burst = (rc == NGX_OK) ? (ngx_int_t) count : 0;

    if (cf->args->nelts == 4) {
        if (rc == NGX_DONE
            || ngx_strncmp(value[3].data, "burst=", 6) != 0
            || (burst = ngx_atoi(value[3].data + 6, value[3].len - 6))
               == NGX_ERROR
            || burst < 1 || burst > 1000000000)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" of plan \"%V\": "
                               "use \"burst=N\" with N from 1 to "
                               "1000000000, and no burst for an unlimited "
                               "plan", &value[3], &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    plan = ngx_array_push(umcf->plans);
    if (plan == NULL) {
        return NGX_CONF_ERROR;
    }

    plan->name = value[1];

    if (rc == NGX_DONE) {
        ngx_str_set(&plan->spec, "unlimited");
        return NGX_CONF_OK;
    }

    plan->spec.data = ngx_pnalloc(cf->pool, 3 * NGX_INT_T_LEN);
    if (plan->spec.data == NULL) {
        return NGX_CONF_ERROR;
    }

    plan->spec.len = ngx_sprintf(plan->spec.data, "%ui %M %i", count, period,
                                 burst)
                     - plan->spec.data;

    return NGX_CONF_OK;
}


ngx_http_ubt_plan_t *
ngx_http_ubt_find_plan(ngx_http_ubt_main_conf_t *umcf, ngx_str_t *name)
{
    ngx_uint_t            i;
    ngx_http_ubt_plan_t  *plan;

    if (umcf->plans == NULL) {
        return NULL;
    }

    plan = umcf->plans->elts;

    for (i = 0; i < umcf->plans->nelts; i++) {
        if (plan[i].name.len == name->len
            && ngx_strncasecmp(plan[i].name.data, name->data, name->len) == 0)
        {
            return &plan[i];
        }
    }

    return NULL;
}


/* tests that a plan sent to the API is one of nginx.conf, when it has any */

ngx_int_t
ngx_http_ubt_known_plan(ngx_http_request_t *r, ngx_str_t *plan)
{
    ngx_http_ubt_main_conf_t  *umcf;

    umcf = ngx_http_get_module_main_conf(r, ngx_http_ubt_module);

    if (umcf->plans == NULL || ngx_http_ubt_find_plan(umcf, plan)) {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


static char *
ngx_http_ubt_provision(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ubt_loc_conf_t *ulcf = conf;

    char                      *rv;
    ngx_http_ubt_main_conf_t  *umcf;

    rv = ngx_http_ubt_set_handler(cf, cmd, ulcf,
                                  ngx_http_ubt_provision_handler);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ubt_module);
    umcf->used = 1;

    ulcf->provision = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_ubt_health(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                      *rv;
    ngx_http_ubt_main_conf_t  *umcf;

    rv = ngx_http_ubt_set_handler(cf, cmd, conf, ngx_http_ubt_health_handler);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ubt_module);
    umcf->used = 1;

    return NGX_CONF_OK;
}


/*
 * The counters need no Redis: ubt_metrics alone serves zeros, and the
 * zone is added once every plan is known.
 */

static char *
ngx_http_ubt_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                      *rv;
    ngx_http_ubt_main_conf_t  *umcf;

    rv = ngx_http_ubt_set_handler(cf, cmd, conf,
                                  ngx_http_ubt_metrics_handler);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ubt_module);
    umcf->metrics_used = 1;

    return NGX_CONF_OK;
}


/*
 * ubt_admin serves every path below its location, so the location must be
 * a prefix one: the rest of the path names the call.
 */

static char *
ngx_http_ubt_admin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ubt_loc_conf_t *ulcf = conf;

    char                      *rv;
    ngx_http_core_loc_conf_t  *clcf;
    ngx_http_ubt_main_conf_t  *umcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->named
#if (NGX_PCRE)
        || clcf->regex
#endif
        || clcf->exact_match
        || clcf->name.len == 0
        || clcf->name.data[clcf->name.len - 1] != '/')
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ubt_admin\" needs a prefix location that "
                           "ends with \"/\", such as \"location /ubt/admin/\","
                           " not %s\"%V\"",
                           clcf->exact_match ? "the exact location " : "",
                           &clcf->name);
        return NGX_CONF_ERROR;
    }

    rv = ngx_http_ubt_set_handler(cf, cmd, ulcf, ngx_http_ubt_admin_handler);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    ulcf->admin_prefix = clcf->name;
    ulcf->admin = 1;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ubt_module);
    umcf->used = 1;

    return NGX_CONF_OK;
}


/* ubt_check_update and ubt_log_update: content handlers behind "ubt on" */

static char *
ngx_http_ubt_control(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char        *rv;
    ngx_flag_t  *flag;

    rv = ngx_http_ubt_set_handler(cf, cmd, conf,
                                  (cmd->offset
                                   == offsetof(ngx_http_ubt_loc_conf_t,
                                               check_update))
                                  ? ngx_http_ubt_check_update_handler
                                  : ngx_http_ubt_log_update_handler);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    flag = (ngx_flag_t *) ((char *) conf + cmd->offset);
    *flag = 1;

    return NGX_CONF_OK;
}


/*
 * Sets one of the module's content handlers.  A location has one content
 * handler, and nginx lets a later one replace an earlier one silently:
 * proxy_pass after ubt_provision would send the token upstream.  The
 * check here catches a handler set before; the one in the merge, one set
 * after.
 */

static char *
ngx_http_ubt_set_handler(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_ubt_loc_conf_t *ulcf, ngx_http_handler_pt handler)
{
    ngx_http_core_loc_conf_t  *clcf;

    if (ulcf->handler == handler) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (ulcf->handler || clcf->handler) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" cannot be combined with another content "
                           "handler in location \"%V\"", &cmd->name,
                           &clcf->name);
        return NGX_CONF_ERROR;
    }

    clcf->handler = handler;
    ulcf->handler = handler;
    ulcf->handler_name = cmd->name;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_ubt_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;
    ngx_http_ubt_main_conf_t   *umcf;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ubt_module);

    if (umcf->metrics_used
        && ngx_http_ubt_metrics_add_zone(cf, umcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!umcf->used) {
        return NGX_OK;
    }

    if (umcf->server.name.len == 0 && umcf->seeds == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "neither \"ubt_redis\" nor \"ubt_redis_cluster\" "
                           "is set in the http block, but ubt is used");
        return NGX_ERROR;
    }

    umcf->request_id_index = ngx_http_get_variable_index(cf,
                                                   &ngx_http_ubt_request_id);
    if (umcf->request_id_index == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (ngx_http_ubt_redis_script_digests(cf, umcf) != NGX_OK) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ubt_access_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ubt_init_process(ngx_cycle_t *cycle)
{
    ngx_http_ubt_main_conf_t  *umcf;

    umcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_ubt_module);

    if (umcf == NULL) {
        return NGX_OK;
    }

    /* before the first connection, whose state the counters track */
    ngx_http_ubt_metrics_init_process(umcf);

    if (!umcf->used) {
        return NGX_OK;
    }

    if (umcf->key_cache_size) {
        umcf->key_cache = ngx_pcalloc(cycle->pool,
                                      umcf->key_cache_size
                                      * sizeof(ngx_http_ubt_cache_entry_t));
        if (umcf->key_cache == NULL) {
            return NGX_ERROR;
        }
    }

    return ngx_http_ubt_redis_init_process(cycle, umcf);
}


static void
ngx_http_ubt_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_ubt_main_conf_t  *umcf;

    ngx_http_ubt_crypto_exit();

    umcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_ubt_module);

    if (umcf == NULL || !umcf->used) {
        return;
    }

    ngx_http_ubt_redis_exit_process(umcf);
}


static void
ngx_http_ubt_exit_master(ngx_cycle_t *cycle)
{
    ngx_http_ubt_crypto_exit();
}
