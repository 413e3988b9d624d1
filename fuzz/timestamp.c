
/*
 * Copyright (C) ngx_http_ubt_module authors
 */


/*
 * Fuzz target "timestamp": the X-UBT-TS checks against a fixed clock.
 *
 * The input is the value of X-UBT-TS, any bytes.  It goes with a valid
 * key, nonce and signature through ngx_http_ubt_read_headers(), whose
 * verdict is compared with the one the wire format gives: MISSING_SIGNATURE
 * for an empty value, MALFORMED_HEADER unless it is 1 to 15 digits, then
 * STALE_TIMESTAMP unless it is within ubt_time_skew (300 s by default) of
 * the clock.  A value that passes must also pass the signature check with
 * a signature over it, so the digits that were checked are the ones that
 * get signed.
 *
 * Seeds: fuzz/corpus/timestamp, values at and around the skew's edges.
 */


#include "ngx_http_ubt_unity.c"
#include "ngx_http_ubt_fuzz.h"

#include <openssl/hmac.h>


#define NGX_HTTP_UBT_FUZZ_NONCE  "3f9c0a7e51d24b68"
#define NGX_HTTP_UBT_FUZZ_SKEW   300000


static ngx_http_ubt_reason_e ngx_http_ubt_fuzz_expected(const u_char *data,
    size_t len);
static void ngx_http_ubt_fuzz_sign(const u_char *ts, size_t len,
    u_char *sign);


static char *ngx_http_ubt_fuzz_directives_ubt[] = { "ubt", "on", NULL };

static char **ngx_http_ubt_fuzz_directives[] = {
    ngx_http_ubt_fuzz_directives_ubt,
    NULL
};

static u_char  ngx_http_ubt_fuzz_key[NGX_HTTP_UBT_KEY_LEN];


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_http_ubt_fuzz_init(ngx_http_ubt_fuzz_directives);

    if (ngx_http_ubt_generate_key(ngx_http_ubt_fuzz_key, 0) != NGX_OK) {
        ngx_http_ubt_fuzz_fail("ngx_http_ubt_generate_key() failed");
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                    sign[NGX_HTTP_UBT_DIGEST_HEX_LEN];
    ngx_http_request_t       *r;
    ngx_http_ubt_ctx_t       *ctx;
    ngx_http_ubt_reason_e     reason, expected;
    ngx_http_ubt_loc_conf_t  *ulcf;

    r = ngx_http_ubt_fuzz_request();

    ngx_http_ubt_fuzz_sign(data, size, sign);

    if (ngx_http_ubt_fuzz_add_header(r, "X-UBT-API-KEY",
                                     ngx_http_ubt_fuzz_key,
                                     NGX_HTTP_UBT_KEY_LEN)
        != NGX_OK
        || ngx_http_ubt_fuzz_add_header(r, "X-UBT-TS", data, size) != NGX_OK
        || ngx_http_ubt_fuzz_add_header(r, "X-UBT-NONCE",
                                        (u_char *) NGX_HTTP_UBT_FUZZ_NONCE,
                                        sizeof(NGX_HTTP_UBT_FUZZ_NONCE) - 1)
           != NGX_OK
        || ngx_http_ubt_fuzz_add_header(r, "X-UBT-SIGN", sign,
                                        NGX_HTTP_UBT_DIGEST_HEX_LEN)
           != NGX_OK)
    {
        ngx_http_ubt_fuzz_fail("ngx_http_ubt_fuzz_add_header() failed");
    }

    ulcf = ngx_http_get_module_loc_conf(r, ngx_http_ubt_module);

    if (ulcf->time_skew * 1000 != NGX_HTTP_UBT_FUZZ_SKEW) {
        ngx_http_ubt_fuzz_fail("ubt_time_skew is not 300 s");
    }

    ctx = ngx_http_ubt_create_ctx(r);
    if (ctx == NULL) {
        ngx_http_ubt_fuzz_fail("ngx_http_ubt_create_ctx() failed");
    }

    reason = ngx_http_ubt_read_headers(r, ctx, ulcf);
    expected = ngx_http_ubt_fuzz_expected(data, size);

    if (reason != expected) {
        ngx_http_ubt_fuzz_fail("X-UBT-TS of %lu bytes: reason %s, not %s",
                               (unsigned long) size,
                               ngx_http_ubt_reason_names[reason].data,
                               ngx_http_ubt_reason_names[expected].data);
    }

    if (reason == NGX_HTTP_UBT_OK) {
        ngx_str_set(&ctx->user_id, NGX_HTTP_UBT_FUZZ_USER_ID);

        if (ngx_http_ubt_verify(r, ctx) != NGX_HTTP_UBT_OK) {
            ngx_http_ubt_fuzz_fail("an accepted X-UBT-TS fails a good "
                                   "signature");
        }
    }

    ngx_http_ubt_fuzz_free(r);

    return 0;
}


/* the verdict of the wire format, worked out on its own */

static ngx_http_ubt_reason_e
ngx_http_ubt_fuzz_expected(const u_char *data, size_t len)
{
    size_t   i;
    int64_t  ts, now;

    if (len == 0) {
        return NGX_HTTP_UBT_MISSING_SIGNATURE;
    }

    if (len > 15) {
        return NGX_HTTP_UBT_MALFORMED_HEADER;
    }

    ts = 0;

    for (i = 0; i < len; i++) {
        if (data[i] < '0' || data[i] > '9') {
            return NGX_HTTP_UBT_MALFORMED_HEADER;
        }

        ts = ts * 10 + (data[i] - '0');
    }

    now = (int64_t) NGX_HTTP_UBT_FUZZ_SEC * 1000 + NGX_HTTP_UBT_FUZZ_MSEC;

    if (ts < now - NGX_HTTP_UBT_FUZZ_SKEW || ts > now + NGX_HTTP_UBT_FUZZ_SKEW)
    {
        return NGX_HTTP_UBT_STALE_TIMESTAMP;
    }

    return NGX_HTTP_UBT_OK;
}


/* signs "<ts>.42.<nonce>" as a client would; for a valid ts only */

static void
ngx_http_ubt_fuzz_sign(const u_char *ts, size_t len, u_char *sign)
{
    u_char        msg[64], mac[EVP_MAX_MD_SIZE];
    unsigned int  mac_len;

    if (len > 15) {
        ngx_memset(sign, '0', NGX_HTTP_UBT_DIGEST_HEX_LEN);
        return;
    }

    len = ngx_sprintf(msg, "%*s.%s.%s", len, ts, NGX_HTTP_UBT_FUZZ_USER_ID,
                      NGX_HTTP_UBT_FUZZ_NONCE)
          - msg;

    if (HMAC(EVP_sha256(), NGX_HTTP_UBT_FUZZ_SECRET,
             sizeof(NGX_HTTP_UBT_FUZZ_SECRET) - 1, msg, len, mac, &mac_len)
        == NULL)
    {
        ngx_http_ubt_fuzz_fail("HMAC() failed");
    }

    ngx_hex_dump(sign, mac, mac_len);
}
