
/*
 * Copyright (C) ngx_http_ubt_module authors
 */


/*
 * Fuzz target "headers": the credential headers of a signed request.
 *
 * The input is the header block of a request, "Name: value" lines as a
 * client sends them after the request line.  nginx's own parser turns it
 * into r->headers_in.headers, once with underscores_in_headers off and once
 * on, and the request then goes the way of the access handler as far as
 * it goes without Redis: ngx_http_ubt_read_headers(), the signature check
 * with the user id from X-UBT-USER-ID or, as the key lookup would return
 * it, "42", and for a good signature ngx_http_ubt_set_identity().
 *
 * Besides the sanitizers, it checks that an accepted header set has one
 * copy of each credential and values of the documented formats, and that
 * after ngx_http_ubt_set_identity() the upstream would see only the
 * gateway's identity headers and no credentials.
 *
 * Seeds: fuzz/corpus/headers, signed with NGX_HTTP_UBT_FUZZ_SECRET for
 * timestamps within ubt_time_skew of the fixed clock.
 */


#include "ngx_http_ubt_unity.c"
#include "ngx_http_ubt_fuzz.h"


typedef enum {
    NGX_HTTP_UBT_FUZZ_ROLE_KEY = 0,
    NGX_HTTP_UBT_FUZZ_ROLE_USER_ID,
    NGX_HTTP_UBT_FUZZ_ROLE_SIGNED,      /* X-UBT-TS, -NONCE and -SIGN */
    NGX_HTTP_UBT_FUZZ_ROLE_TELEMETRY,
    NGX_HTTP_UBT_FUZZ_ROLE_IDENTITY,
    NGX_HTTP_UBT_FUZZ_ROLE_PROVISION
} ngx_http_ubt_fuzz_role_e;


typedef struct {
    char                      *name;
    ngx_http_ubt_fuzz_role_e   role;
} ngx_http_ubt_fuzz_header_t;


/* the names of ngx_http_ubt_headers[], spelled out */
static ngx_http_ubt_fuzz_header_t  ngx_http_ubt_fuzz_headers[] = {
    { "x-ubt-api-key", NGX_HTTP_UBT_FUZZ_ROLE_KEY },
    { "x-ubt-live-api-key", NGX_HTTP_UBT_FUZZ_ROLE_KEY },
    { "x-ubt-user-id", NGX_HTTP_UBT_FUZZ_ROLE_USER_ID },
    { "x-ubt-ts", NGX_HTTP_UBT_FUZZ_ROLE_SIGNED },
    { "x-ubt-nonce", NGX_HTTP_UBT_FUZZ_ROLE_SIGNED },
    { "x-ubt-sign", NGX_HTTP_UBT_FUZZ_ROLE_SIGNED },
    { "x-ubt-version", NGX_HTTP_UBT_FUZZ_ROLE_TELEMETRY },
    { "x-ubt-platform", NGX_HTTP_UBT_FUZZ_ROLE_TELEMETRY },
    { "x-ubt-device", NGX_HTTP_UBT_FUZZ_ROLE_TELEMETRY },
    { "x-ubt-system", NGX_HTTP_UBT_FUZZ_ROLE_TELEMETRY },
    { "x-ubt-plan", NGX_HTTP_UBT_FUZZ_ROLE_IDENTITY },
    { "x-ubt-issued-id", NGX_HTTP_UBT_FUZZ_ROLE_IDENTITY },
    { "x-ubt-key-env", NGX_HTTP_UBT_FUZZ_ROLE_IDENTITY },
    { "x-ubt-provision", NGX_HTTP_UBT_FUZZ_ROLE_PROVISION },
    { NULL, 0 }
};

#define NGX_HTTP_UBT_FUZZ_NAMES                                               \
    (sizeof(ngx_http_ubt_fuzz_headers) / sizeof(ngx_http_ubt_fuzz_header_t) \
     - 1)


static char *ngx_http_ubt_fuzz_directives_ubt[] = { "ubt", "on", NULL };

static char **ngx_http_ubt_fuzz_directives[] = {
    ngx_http_ubt_fuzz_directives_ubt,
    NULL
};


static ngx_int_t ngx_http_ubt_fuzz_name(ngx_table_elt_t *h);
static void ngx_http_ubt_fuzz_count(ngx_list_t *list, ngx_uint_t *count,
    ngx_uint_t *others);
static void ngx_http_ubt_fuzz_check_accepted(ngx_http_request_t *r,
    ngx_http_ubt_ctx_t *ctx, ngx_uint_t *count);
static void ngx_http_ubt_fuzz_check_identity(ngx_http_request_t *r,
    ngx_uint_t *before, ngx_uint_t others);
static void ngx_http_ubt_fuzz_request_headers(const u_char *data, size_t len,
    ngx_uint_t allow_underscores);


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_http_ubt_fuzz_init(ngx_http_ubt_fuzz_directives);

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_http_ubt_fuzz_request_headers(data, size, 0);
    ngx_http_ubt_fuzz_request_headers(data, size, 1);

    return 0;
}


static void
ngx_http_ubt_fuzz_request_headers(const u_char *data, size_t len,
    ngx_uint_t allow_underscores)
{
    ngx_int_t                 rc;
    ngx_uint_t                count[NGX_HTTP_UBT_FUZZ_NAMES], others;
    ngx_http_request_t       *r;
    ngx_http_ubt_ctx_t       *ctx;
    ngx_http_ubt_reason_e     reason;
    ngx_http_ubt_loc_conf_t  *ulcf;

    r = ngx_http_ubt_fuzz_request();

    rc = ngx_http_ubt_fuzz_parse_headers(r, data, len, allow_underscores);

    if (rc == NGX_ERROR) {
        ngx_http_ubt_fuzz_fail("parsing the headers failed");
    }

    if (rc == NGX_DECLINED) {
        goto done;
    }

    ulcf = ngx_http_get_module_loc_conf(r, ngx_http_ubt_module);

    ctx = ngx_http_ubt_create_ctx(r);
    if (ctx == NULL) {
        ngx_http_ubt_fuzz_fail("ngx_http_ubt_create_ctx() failed");
    }

    reason = ngx_http_ubt_read_headers(r, ctx, ulcf);

    if (reason >= NGX_HTTP_UBT_REASON_LAST) {
        ngx_http_ubt_fuzz_fail("read_headers returned reason %d",
                               (int) reason);
    }

    if (reason != NGX_HTTP_UBT_OK) {
        goto done;
    }

    ngx_http_ubt_fuzz_count(&r->headers_in.headers, count, &others);
    ngx_http_ubt_fuzz_check_accepted(r, ctx, count);

    ngx_http_ubt_digest(&ctx->key, ctx->digest);

    if (ctx->user_id.len == 0) {
        ngx_str_set(&ctx->user_id, NGX_HTTP_UBT_FUZZ_USER_ID);
    }

    reason = ngx_http_ubt_verify(r, ctx);

    if (reason == NGX_HTTP_UBT_UNAVAILABLE) {
        ngx_http_ubt_fuzz_fail("HMAC() failed");
    }

    if (reason != NGX_HTTP_UBT_OK) {
        goto done;
    }

    /* as the check script would return them */
    ngx_str_set(&ctx->plan, "FREE");
    ngx_str_set(&ctx->issued_id, "01KBQ3ZJ5T0000000000000000");
    ngx_str_set(&ctx->key_env, "live");

    if (ngx_http_ubt_set_identity(r, ctx, ulcf) != NGX_OK) {
        ngx_http_ubt_fuzz_fail("ngx_http_ubt_set_identity() failed");
    }

    ngx_http_ubt_fuzz_check_identity(r, count, others);

done:

    ngx_http_ubt_fuzz_free(r);
}


/*
 * Returns the index in ngx_http_ubt_fuzz_headers[] of the header's name,
 * compared without regard to case and with "_" for "-", or -1.
 */

static ngx_int_t
ngx_http_ubt_fuzz_name(ngx_table_elt_t *h)
{
    u_char      c;
    size_t      i;
    ngx_int_t   n;
    char       *name;

    for (n = 0; ngx_http_ubt_fuzz_headers[n].name; n++) {
        name = ngx_http_ubt_fuzz_headers[n].name;

        if (h->key.len != ngx_strlen(name)) {
            continue;
        }

        for (i = 0; i < h->key.len; i++) {
            c = ngx_tolower(h->key.data[i]);

            if ((c == '_' ? '-' : c) != (u_char) name[i]) {
                break;
            }
        }

        if (i == h->key.len) {
            return n;
        }
    }

    return -1;
}


static void
ngx_http_ubt_fuzz_count(ngx_list_t *list, ngx_uint_t *count,
    ngx_uint_t *others)
{
    ngx_int_t         n;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    ngx_memzero(count, NGX_HTTP_UBT_FUZZ_NAMES * sizeof(ngx_uint_t));
    *others = 0;

    part = &list->part;
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

        n = ngx_http_ubt_fuzz_name(&h[i]);

        if (n == -1) {
            (*others)++;

        } else {
            count[n]++;
        }
    }
}


static void
ngx_http_ubt_fuzz_check_accepted(ngx_http_request_t *r,
    ngx_http_ubt_ctx_t *ctx, ngx_uint_t *count)
{
    size_t                     i;
    int64_t                    ts, now;
    ngx_uint_t                 n, keys;
    ngx_flag_t                 test;
    ngx_http_ubt_fuzz_role_e   role;

    keys = 0;

    for (n = 0; n < NGX_HTTP_UBT_FUZZ_NAMES; n++) {
        role = ngx_http_ubt_fuzz_headers[n].role;

        if (role == NGX_HTTP_UBT_FUZZ_ROLE_KEY) {
            keys += count[n];
            continue;
        }

        /* the identity headers of a client are dropped, not checked */
        if (role == NGX_HTTP_UBT_FUZZ_ROLE_IDENTITY
            || role == NGX_HTTP_UBT_FUZZ_ROLE_PROVISION)
        {
            continue;
        }

        if (count[n] > 1
            || (role == NGX_HTTP_UBT_FUZZ_ROLE_SIGNED && count[n] == 0))
        {
            ngx_http_ubt_fuzz_fail("accepted with %lu headers \"%s\"",
                                   (unsigned long) count[n],
                                   ngx_http_ubt_fuzz_headers[n].name);
        }
    }

    if (keys != 1) {
        ngx_http_ubt_fuzz_fail("accepted with %lu runtime key headers",
                               (unsigned long) keys);
    }

    if (ngx_http_ubt_check_key(&ctx->key, &test) != NGX_OK || test) {
        ngx_http_ubt_fuzz_fail("accepted a key that fails its checks, or a "
                               "test key with ubt_allow_test_keys off");
    }

    if (ctx->ts.len == 0 || ctx->ts.len > NGX_HTTP_UBT_TS_MAX_LEN) {
        ngx_http_ubt_fuzz_fail("accepted X-UBT-TS of %lu characters",
                               (unsigned long) ctx->ts.len);
    }

    ts = 0;

    for (i = 0; i < ctx->ts.len; i++) {
        if (ctx->ts.data[i] < '0' || ctx->ts.data[i] > '9') {
            ngx_http_ubt_fuzz_fail("accepted X-UBT-TS with a non-digit");
        }

        ts = ts * 10 + (ctx->ts.data[i] - '0');
    }

    now = (int64_t) NGX_HTTP_UBT_FUZZ_SEC * 1000 + NGX_HTTP_UBT_FUZZ_MSEC;

    if (ts != ctx->ts_ms || ts < now - 300000 || ts > now + 300000) {
        ngx_http_ubt_fuzz_fail("accepted X-UBT-TS %lld outside the skew",
                               (long long) ts);
    }

    if (!ngx_http_ubt_valid_token(&ctx->nonce, NGX_HTTP_UBT_NONCE_MIN_LEN,
                                  NGX_HTTP_UBT_NONCE_MAX_LEN))
    {
        ngx_http_ubt_fuzz_fail("accepted an invalid X-UBT-NONCE");
    }

    if (ctx->sign.len != NGX_HTTP_UBT_DIGEST_HEX_LEN) {
        ngx_http_ubt_fuzz_fail("accepted X-UBT-SIGN of %lu characters",
                               (unsigned long) ctx->sign.len);
    }

    for (i = 0; i < ctx->sign.len; i++) {
        if (ctx->sign.data[i] == '\0'
            || ngx_strchr("0123456789abcdefABCDEF", ctx->sign.data[i]) == NULL)
        {
            ngx_http_ubt_fuzz_fail("accepted X-UBT-SIGN with byte 0x%02x",
                                   ctx->sign.data[i]);
        }
    }

    if (ctx->header_user
        && !ngx_http_ubt_valid_token(&ctx->user_id, 1,
                                     NGX_HTTP_UBT_USER_ID_MAX_LEN))
    {
        ngx_http_ubt_fuzz_fail("accepted an invalid X-UBT-USER-ID");
    }
}


/*
 * Checks what the upstream would get: the gateway's own user id and
 * identity headers once each, no credential or provisioning header, and
 * every other header of the client.
 */

static void
ngx_http_ubt_fuzz_check_identity(ngx_http_request_t *r, ngx_uint_t *before,
    ngx_uint_t others)
{
    ngx_uint_t                 n, expected, count[NGX_HTTP_UBT_FUZZ_NAMES],
                               after;
    ngx_http_ubt_fuzz_role_e   role;

    ngx_http_ubt_fuzz_count(&r->headers_in.headers, count, &after);

    for (n = 0; n < NGX_HTTP_UBT_FUZZ_NAMES; n++) {
        role = ngx_http_ubt_fuzz_headers[n].role;

        switch (role) {

        case NGX_HTTP_UBT_FUZZ_ROLE_USER_ID:
        case NGX_HTTP_UBT_FUZZ_ROLE_IDENTITY:
            expected = 1;
            break;

        case NGX_HTTP_UBT_FUZZ_ROLE_TELEMETRY:
            expected = before[n];
            break;

        default:
            expected = 0;
        }

        if (count[n] != expected) {
            ngx_http_ubt_fuzz_fail("the upstream gets %lu headers \"%s\", "
                                   "not %lu", (unsigned long) count[n],
                                   ngx_http_ubt_fuzz_headers[n].name,
                                   (unsigned long) expected);
        }
    }

    if (after != others) {
        ngx_http_ubt_fuzz_fail("the upstream gets %lu other headers of %lu",
                               (unsigned long) after, (unsigned long) others);
    }
}
