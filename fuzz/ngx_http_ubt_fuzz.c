
/*
 * Copyright (C) ngx_http_ubt_module authors
 */


/*
 * Support code of the libFuzzer targets, linked into each of them.
 *
 * Everything here is real nginx: the targets link nginx's core objects,
 * compiled with -DNGX_DEBUG_PALLOC=1 so that every pool allocation is a
 * malloc() of its own that AddressSanitizer watches.  The configuration is
 * made by the module's create, init and merge functions and its directive
 * handlers, reached through ngx_http_ubt_module as nginx reaches them.
 * There is no cycle: the module's context index is set to 0 and a request
 * gets arrays with that one slot.  Log lines go through a log writer that
 * drops them after checking that none contains the signing secret.
 */


#include "ngx_http_ubt_fuzz.h"


static void ngx_http_ubt_fuzz_write_log(ngx_log_t *log, ngx_uint_t level,
    u_char *buf, size_t len);
static void ngx_http_ubt_fuzz_directive(ngx_conf_t *cf, char **words);
static void ngx_http_ubt_fuzz_secret_file(ngx_conf_t *cf);


static ngx_log_t     ngx_http_ubt_fuzz_log;
static ngx_cycle_t   ngx_http_ubt_fuzz_cycle;
static ngx_time_t    ngx_http_ubt_fuzz_time;
static ngx_flag_t    ngx_http_ubt_fuzz_configuring;

static void         *ngx_http_ubt_fuzz_main_conf[1];
static void         *ngx_http_ubt_fuzz_loc_conf[2];


static char *ngx_http_ubt_fuzz_free_plan[] = {
    "ubt_plan", "FREE", "30r/m", NULL
};

static char *ngx_http_ubt_fuzz_pro_plan[] = {
    "ubt_plan", "PRO", "600r/m", "burst=100", NULL
};

static char *ngx_http_ubt_fuzz_max_plan[] = {
    "ubt_plan", "MAX", "unlimited", NULL
};

char **ngx_http_ubt_fuzz_plans[] = {
    ngx_http_ubt_fuzz_free_plan,
    ngx_http_ubt_fuzz_pro_plan,
    ngx_http_ubt_fuzz_max_plan,
    NULL
};


void
ngx_http_ubt_fuzz_init(char ***directives)
{
    char                    ***d;
    ngx_conf_t                 cf;
    ngx_pool_t                *pool;
    ngx_http_module_t         *module;
    ngx_http_conf_ctx_t        ctx;
    void                      *http_loc_conf[2];

    ngx_pagesize = getpagesize();
    ngx_cacheline_size = NGX_CPU_CACHE_LINE;

    /* fills the cached time strings that log lines start with */
    ngx_time_init();

    ngx_http_ubt_fuzz_time.sec = NGX_HTTP_UBT_FUZZ_SEC;
    ngx_http_ubt_fuzz_time.msec = NGX_HTTP_UBT_FUZZ_MSEC;
    ngx_cached_time = &ngx_http_ubt_fuzz_time;

    /* as nginx does once it runs: log lines go to the log alone */
    ngx_use_stderr = 0;

    ngx_http_ubt_fuzz_log.log_level = NGX_LOG_DEBUG_ALL;
    ngx_http_ubt_fuzz_log.writer = ngx_http_ubt_fuzz_write_log;

    pool = ngx_create_pool(NGX_CYCLE_POOL_SIZE, &ngx_http_ubt_fuzz_log);
    if (pool == NULL) {
        ngx_http_ubt_fuzz_fail("ngx_create_pool() failed");
    }

    ngx_http_ubt_fuzz_cycle.pool = pool;
    ngx_http_ubt_fuzz_cycle.log = &ngx_http_ubt_fuzz_log;
    ngx_str_set(&ngx_http_ubt_fuzz_cycle.conf_prefix, "/");
    ngx_str_set(&ngx_http_ubt_fuzz_cycle.prefix, "/");
    ngx_cycle = &ngx_http_ubt_fuzz_cycle;

    ngx_http_ubt_module.ctx_index = 0;
    module = ngx_http_ubt_module.ctx;

    /* the merge reads the location's name from the core module's conf */
    ngx_http_core_module.ctx_index = 1;

    ngx_memzero(&cf, sizeof(ngx_conf_t));
    cf.pool = pool;
    cf.temp_pool = pool;
    cf.cycle = &ngx_http_ubt_fuzz_cycle;
    cf.log = &ngx_http_ubt_fuzz_log;
    cf.ctx = &ctx;
    cf.module_type = NGX_HTTP_MODULE;
    cf.cmd_type = NGX_HTTP_LOC_CONF;

    cf.args = ngx_array_create(pool, 8, sizeof(ngx_str_t));
    if (cf.args == NULL) {
        ngx_http_ubt_fuzz_fail("ngx_array_create() failed");
    }

    ctx.main_conf = ngx_http_ubt_fuzz_main_conf;
    ctx.srv_conf = ngx_http_ubt_fuzz_loc_conf;
    ctx.loc_conf = ngx_http_ubt_fuzz_loc_conf;

    ngx_http_ubt_fuzz_configuring = 1;

    ngx_http_ubt_fuzz_main_conf[0] = module->create_main_conf(&cf);
    http_loc_conf[0] = module->create_loc_conf(&cf);
    ngx_http_ubt_fuzz_loc_conf[0] = module->create_loc_conf(&cf);

    http_loc_conf[1] = ngx_pcalloc(pool, sizeof(ngx_http_core_loc_conf_t));
    ngx_http_ubt_fuzz_loc_conf[1] = ngx_pcalloc(pool,
                                        sizeof(ngx_http_core_loc_conf_t));

    if (http_loc_conf[1] == NULL || ngx_http_ubt_fuzz_loc_conf[1] == NULL) {
        ngx_http_ubt_fuzz_fail("ngx_pcalloc() failed");
    }

    if (ngx_http_ubt_fuzz_main_conf[0] == NULL
        || http_loc_conf[0] == NULL
        || ngx_http_ubt_fuzz_loc_conf[0] == NULL)
    {
        ngx_http_ubt_fuzz_fail("creating the configuration failed");
    }

    /* the directives are those of one location */

    ngx_http_ubt_fuzz_secret_file(&cf);

    for (d = directives; *d; d++) {
        ngx_http_ubt_fuzz_directive(&cf, *d);
    }

    if (module->init_main_conf(&cf, ngx_http_ubt_fuzz_main_conf[0])
        != NGX_CONF_OK
        || module->merge_loc_conf(&cf, http_loc_conf[0],
                                  ngx_http_ubt_fuzz_loc_conf[0])
           != NGX_CONF_OK)
    {
        ngx_http_ubt_fuzz_fail("the configuration is invalid, see above");
    }

    ngx_http_ubt_fuzz_configuring = 0;
}


/* runs one directive as ngx_conf_handler() does */

static void
ngx_http_ubt_fuzz_directive(ngx_conf_t *cf, char **words)
{
    char           *rv, **w;
    void           *conf;
    ngx_str_t      *arg;
    ngx_command_t  *cmd;

    for (cmd = ngx_http_ubt_module.commands; cmd->name.len; cmd++) {
        if (ngx_strcmp(cmd->name.data, words[0]) == 0) {
            break;
        }
    }

    if (cmd->name.len == 0) {
        ngx_http_ubt_fuzz_fail("unknown directive \"%s\"", words[0]);
    }

    cf->args->nelts = 0;

    for (w = words; *w; w++) {
        arg = ngx_array_push(cf->args);
        if (arg == NULL) {
            ngx_http_ubt_fuzz_fail("ngx_array_push() failed");
        }

        /* handlers may change their arguments, as ubt_plan does */
        arg->len = ngx_strlen(*w);
        arg->data = ngx_pnalloc(cf->pool, arg->len + 1);
        if (arg->data == NULL) {
            ngx_http_ubt_fuzz_fail("ngx_pnalloc() failed");
        }

        ngx_cpystrn(arg->data, (u_char *) *w, arg->len + 1);
    }

    conf = (*(void ***) ((char *) cf->ctx + cmd->conf))
                                           [ngx_http_ubt_module.ctx_index];

    rv = cmd->set(cf, cmd, conf);

    if (rv != NGX_CONF_OK) {
        ngx_http_ubt_fuzz_fail("directive \"%s\" failed: %s", words[0],
                               rv == NGX_CONF_ERROR ? "see above" : rv);
    }
}


/* the secret goes through ubt_signing_secret_file like a real one */

static void
ngx_http_ubt_fuzz_secret_file(ngx_conf_t *cf)
{
    int    fd;
    char  *words[3];
    char   path[] = "/tmp/ubt-fuzz-secret.XXXXXX";

    fd = mkstemp(path);
    if (fd == -1) {
        ngx_http_ubt_fuzz_fail("mkstemp(\"%s\") failed: %s", path,
                               strerror(errno));
    }

    if (write(fd, NGX_HTTP_UBT_FUZZ_SECRET "\n",
              sizeof(NGX_HTTP_UBT_FUZZ_SECRET))
        != (ssize_t) sizeof(NGX_HTTP_UBT_FUZZ_SECRET))
    {
        ngx_http_ubt_fuzz_fail("writing \"%s\" failed", path);
    }

    close(fd);

    words[0] = "ubt_signing_secret_file";
    words[1] = path;
    words[2] = NULL;

    ngx_http_ubt_fuzz_directive(cf, words);

    unlink(path);
}


ngx_http_request_t *
ngx_http_ubt_fuzz_request(void)
{
    ngx_pool_t          *pool;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, &ngx_http_ubt_fuzz_log);
    if (pool == NULL) {
        ngx_http_ubt_fuzz_fail("ngx_create_pool() failed");
    }

    c = ngx_pcalloc(pool, sizeof(ngx_connection_t));
    r = ngx_pcalloc(pool, sizeof(ngx_http_request_t));

    if (c == NULL || r == NULL) {
        ngx_http_ubt_fuzz_fail("ngx_pcalloc() failed");
    }

    c->pool = pool;
    c->log = &ngx_http_ubt_fuzz_log;
    ngx_str_set(&c->addr_text, "127.0.0.1");

    r->pool = pool;
    r->connection = c;
    r->main = r;
    r->count = 1;

    r->main_conf = ngx_http_ubt_fuzz_main_conf;
    r->srv_conf = ngx_http_ubt_fuzz_loc_conf;
    r->loc_conf = ngx_http_ubt_fuzz_loc_conf;

    r->ctx = ngx_pcalloc(pool, sizeof(void *));
    if (r->ctx == NULL) {
        ngx_http_ubt_fuzz_fail("ngx_pcalloc() failed");
    }

    /*
     * nginx allocates 20 headers a list part; parts of 4 take the module's
     * loops across part boundaries with few headers
     */

    if (ngx_list_init(&r->headers_in.headers, pool, 4,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        ngx_http_ubt_fuzz_fail("ngx_list_init() failed");
    }

    return r;
}


void
ngx_http_ubt_fuzz_free(ngx_http_request_t *r)
{
    ngx_destroy_pool(r->pool);
}


/*
 * Follows ngx_http_process_request_headers() with ignore_invalid_headers
 * on, as by default.  The handlers of standard headers such as Host, which
 * can reject a request too, are not run: the module reads no header they
 * set.
 */

ngx_int_t
ngx_http_ubt_fuzz_parse_headers(ngx_http_request_t *r, const u_char *data,
    size_t len, ngx_uint_t allow_underscores)
{
    ngx_int_t         rc;
    ngx_buf_t         b;
    ngx_table_elt_t  *h;

    if (len == 0) {
        return NGX_OK;
    }

    /* a buffer of its own, so that a read past the input is reported */
    ngx_memzero(&b, sizeof(ngx_buf_t));

    b.start = ngx_pnalloc(r->pool, len);
    if (b.start == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(b.start, data, len);
    b.pos = b.start;
    b.last = b.start + len;
    b.end = b.last;

    for ( ;; ) {
        rc = ngx_http_parse_header_line(r, &b, allow_underscores);

        if (rc == NGX_OK) {
            if (r->invalid_header) {
                continue;
            }

            h = ngx_list_push(&r->headers_in.headers);
            if (h == NULL) {
                return NGX_ERROR;
            }

            h->hash = r->header_hash;

            h->key.len = r->header_name_end - r->header_name_start;
            h->key.data = r->header_name_start;
            h->key.data[h->key.len] = '\0';

            h->value.len = r->header_end - r->header_start;
            h->value.data = r->header_start;
            h->value.data[h->value.len] = '\0';

            h->lowcase_key = ngx_pnalloc(r->pool, h->key.len);
            if (h->lowcase_key == NULL) {
                return NGX_ERROR;
            }

            if (h->key.len == r->lowcase_index) {
                ngx_memcpy(h->lowcase_key, r->lowcase_header, h->key.len);

            } else {
                ngx_strlow(h->lowcase_key, h->key.data, h->key.len);
            }

            continue;
        }

        /* nginx waits for the rest of a line cut by NGX_AGAIN */
        if (rc == NGX_HTTP_PARSE_HEADER_DONE || rc == NGX_AGAIN) {
            return NGX_OK;
        }

        return NGX_DECLINED;
    }
}


ngx_int_t
ngx_http_ubt_fuzz_add_header(ngx_http_request_t *r, char *name,
    const u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->key.len = ngx_strlen(name);
    h->key.data = (u_char *) name;

    h->lowcase_key = ngx_pnalloc(r->pool, h->key.len);
    h->value.data = ngx_pnalloc(r->pool, len + 1);

    if (h->lowcase_key == NULL || h->value.data == NULL) {
        return NGX_ERROR;
    }

    h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, h->key.len);

    /* nginx's parser ends every value with a NUL */
    ngx_memcpy(h->value.data, value, len);
    h->value.data[len] = '\0';
    h->value.len = len;

    return NGX_OK;
}


void
ngx_http_ubt_fuzz_fail(const char *fmt, ...)
{
    va_list  args;

    fprintf(stderr, "ubt fuzz: ");

    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);

    fprintf(stderr, "\n");

    abort();
}


static void
ngx_http_ubt_fuzz_write_log(ngx_log_t *log, ngx_uint_t level, u_char *buf,
    size_t len)
{
    if (memmem(buf, len, NGX_HTTP_UBT_FUZZ_SECRET,
               sizeof(NGX_HTTP_UBT_FUZZ_SECRET) - 1))
    {
        ngx_http_ubt_fuzz_fail("a log line holds the signing secret");
    }

    /* configuration errors are shown; request log lines are dropped */
    if (ngx_http_ubt_fuzz_configuring && level <= NGX_LOG_WARN) {
        fprintf(stderr, "%.*s", (int) len, buf);
    }
}
