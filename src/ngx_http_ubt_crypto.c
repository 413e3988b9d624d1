
/*
 * Copyright (C) ngx_http_ubt_module authors
 */


#include "ngx_http_ubt.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>


#if (OPENSSL_VERSION_NUMBER < 0x30000000L)
#error ngx_http_ubt_module needs OpenSSL 3.0 or later
#endif


static void ngx_http_ubt_key_checksum(u_char *data, size_t len, u_char *out);
static ngx_int_t ngx_http_ubt_random_base62(u_char *out, size_t len);
static void ngx_http_ubt_mac_cleanup(void *data);


/* fetched once per process: a fetch per digest costs more than the digest */
static EVP_MD       *ngx_http_ubt_sha256;
static EVP_MD_CTX   *ngx_http_ubt_sha256_ctx;


static u_char  ngx_http_ubt_base62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* Crockford's base32: no I, L, O or U, so ids survive being read aloud */
static u_char  ngx_http_ubt_base32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";


ngx_int_t
ngx_http_ubt_generate_key(u_char *buf, ngx_flag_t test)
{
    u_char  *p;

    p = ngx_cpymem(buf, test ? NGX_HTTP_UBT_KEY_TEST_PREFIX
                             : NGX_HTTP_UBT_KEY_LIVE_PREFIX,
                   NGX_HTTP_UBT_KEY_PREFIX_LEN);

    if (ngx_http_ubt_random_base62(p, NGX_HTTP_UBT_KEY_RANDOM_LEN) != NGX_OK) {
        return NGX_ERROR;
    }

    p += NGX_HTTP_UBT_KEY_RANDOM_LEN;

    ngx_http_ubt_key_checksum(buf, p - buf, p);

    return NGX_OK;
}


/*
 * Checks the prefix, length, alphabet and checksum of a runtime key, so that
 * typos and garbage are rejected without a Redis round trip.
 */

ngx_int_t
ngx_http_ubt_check_key(ngx_str_t *key, ngx_flag_t *test)
{
    size_t   i, body;
    u_char   c, checksum[NGX_HTTP_UBT_KEY_CHECKSUM_LEN];

    if (key->len != NGX_HTTP_UBT_KEY_LEN) {
        return NGX_DECLINED;
    }

    if (ngx_strncmp(key->data, NGX_HTTP_UBT_KEY_LIVE_PREFIX,
                    NGX_HTTP_UBT_KEY_PREFIX_LEN)
        == 0)
    {
        *test = 0;

    } else if (ngx_strncmp(key->data, NGX_HTTP_UBT_KEY_TEST_PREFIX,
                           NGX_HTTP_UBT_KEY_PREFIX_LEN)
               == 0)
    {
        *test = 1;

    } else {
        return NGX_DECLINED;
    }

    for (i = NGX_HTTP_UBT_KEY_PREFIX_LEN; i < key->len; i++) {
        c = key->data[i];

        if ((c >= '0' && c <= '9')
            || (c >= 'A' && c <= 'Z')
            || (c >= 'a' && c <= 'z'))
        {
            continue;
        }

        return NGX_DECLINED;
    }

    body = NGX_HTTP_UBT_KEY_PREFIX_LEN + NGX_HTTP_UBT_KEY_RANDOM_LEN;

    ngx_http_ubt_key_checksum(key->data, body, checksum);

    if (ngx_memcmp(checksum, key->data + body, NGX_HTTP_UBT_KEY_CHECKSUM_LEN)
        != 0)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static void
ngx_http_ubt_key_checksum(u_char *data, size_t len, u_char *out)
{
    uint32_t    crc;
    ngx_uint_t  i;

    crc = ngx_crc32_long(data, len);

    /* 62^6 > 2^32, so six digits hold any CRC32 */
    for (i = NGX_HTTP_UBT_KEY_CHECKSUM_LEN; i > 0; i--) {
        out[i - 1] = ngx_http_ubt_base62[crc % 62];
        crc /= 62;
    }
}


static ngx_int_t
ngx_http_ubt_random_base62(u_char *out, size_t len)
{
    u_char  *p, *last, rnd[64];
    size_t   i;

    p = out;
    last = out + len;

    while (p < last) {
        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                          "RAND_bytes() failed");
            return NGX_ERROR;
        }

        /* bytes of 248 and up would bias the modulo, so they are skipped */
        for (i = 0; i < sizeof(rnd) && p < last; i++) {
            if (rnd[i] < 248) {
                *p++ = ngx_http_ubt_base62[rnd[i] % 62];
            }
        }
    }

    ngx_explicit_memzero(rnd, sizeof(rnd));

    return NGX_OK;
}


void
ngx_http_ubt_digest(ngx_str_t *data, u_char *digest)
{
    if (ngx_http_ubt_sha256_ctx == NULL) {
        ngx_http_ubt_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
        ngx_http_ubt_sha256_ctx = EVP_MD_CTX_new();
    }

    if (ngx_http_ubt_sha256 != NULL
        && ngx_http_ubt_sha256_ctx != NULL
        && EVP_DigestInit_ex2(ngx_http_ubt_sha256_ctx, ngx_http_ubt_sha256,
                              NULL)
           == 1
        && EVP_DigestUpdate(ngx_http_ubt_sha256_ctx, data->data, data->len)
           == 1
        && EVP_DigestFinal_ex(ngx_http_ubt_sha256_ctx, digest, NULL) == 1)
    {
        return;
    }

    /* the one-shot call fetches and allocates on each use, but works */
    SHA256(data->data, data->len, digest);
}


/*
 * Frees the digest context at process exit: nginx unloads the module
 * before it exits, and the only pointer to the context would go with it.
 */

void
ngx_http_ubt_crypto_exit(void)
{
    EVP_MD_CTX_free(ngx_http_ubt_sha256_ctx);
    ngx_http_ubt_sha256_ctx = NULL;

    EVP_MD_free(ngx_http_ubt_sha256);
    ngx_http_ubt_sha256 = NULL;
}


/*
 * Makes an HMAC-SHA256 context keyed with the signing secret, so that each
 * request only resets it: keying hashes the secret's padded blocks, and a
 * one-shot HMAC() would also look the algorithm up every time.
 */

EVP_MAC_CTX *
ngx_http_ubt_mac_create(ngx_conf_t *cf, ngx_str_t *secret)
{
    EVP_MAC             *mac;
    OSSL_PARAM           params[2];
    EVP_MAC_CTX         *ctx;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "EVP_MAC_fetch(\"HMAC\") failed");
        return NULL;
    }

    /* the context keeps its own reference to the algorithm */
    ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);

    if (ctx == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "EVP_MAC_CTX_new() failed");
        return NULL;
    }

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();

    if (EVP_MAC_init(ctx, secret->data, secret->len, params) != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "EVP_MAC_init() failed for HMAC-SHA256");
        EVP_MAC_CTX_free(ctx);
        return NULL;
    }

    cln->handler = ngx_http_ubt_mac_cleanup;
    cln->data = ctx;

    return ctx;
}


static void
ngx_http_ubt_mac_cleanup(void *data)
{
    EVP_MAC_CTX_free(data);
}


/*
 * Compares secret bytes in constant time; only the outcome is public.
 */

ngx_int_t
ngx_http_ubt_secret_equal(u_char *a, u_char *b, size_t len)
{
    int  rc;

    rc = CRYPTO_memcmp(a, b, len);

    ngx_http_ubt_ct_public(&rc, sizeof(int));

    return rc == 0;
}


/*
 * Verifies a hex HMAC-SHA256 over "<ts>.<user_id>.<nonce>" in constant time.
 * The caller has checked that sign is 64 hex digits.
 */

ngx_int_t
ngx_http_ubt_verify_signature(EVP_MAC_CTX *mac, ngx_str_t *ts,
    ngx_str_t *user_id, ngx_str_t *nonce, ngx_str_t *sign)
{
    int          hi, lo;
    u_char      *p;
    size_t       mac_len;
    ngx_uint_t   i;
    u_char       msg[NGX_HTTP_UBT_TS_MAX_LEN + NGX_HTTP_UBT_USER_ID_MAX_LEN
                     + NGX_HTTP_UBT_NONCE_MAX_LEN + 2];
    u_char       out[EVP_MAX_MD_SIZE], given[NGX_HTTP_UBT_DIGEST_LEN];

    if (ts->len > NGX_HTTP_UBT_TS_MAX_LEN
        || user_id->len > NGX_HTTP_UBT_USER_ID_MAX_LEN
        || nonce->len > NGX_HTTP_UBT_NONCE_MAX_LEN
        || sign->len != 2 * NGX_HTTP_UBT_DIGEST_LEN)
    {
        return NGX_DECLINED;
    }

    p = ngx_cpymem(msg, ts->data, ts->len);
    *p++ = '.';
    p = ngx_cpymem(p, user_id->data, user_id->len);
    *p++ = '.';
    p = ngx_cpymem(p, nonce->data, nonce->len);

    /* a NULL key resets the context to the state keying left it in */
    if (EVP_MAC_init(mac, NULL, 0, NULL) != 1
        || EVP_MAC_update(mac, msg, p - msg) != 1
        || EVP_MAC_final(mac, out, &mac_len, sizeof(out)) != 1)
    {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "HMAC-SHA256 of a request signature failed");
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_UBT_DIGEST_LEN; i++) {
        hi = ngx_http_ubt_hex_value(sign->data[2 * i]);
        lo = ngx_http_ubt_hex_value(sign->data[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return NGX_DECLINED;
        }

        given[i] = (u_char) (hi << 4 | lo);
    }

    if (mac_len != NGX_HTTP_UBT_DIGEST_LEN
        || !ngx_http_ubt_secret_equal(out, given, NGX_HTTP_UBT_DIGEST_LEN))
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Decodes one hex digit, or returns -1.  Only letters are folded to lower
 * case: "| 0x20" on any byte would turn 0x10 to 0x19 into digits.
 */

int
ngx_http_ubt_hex_value(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/*
 * Writes a 26-character id: 48 bits of milliseconds since the epoch and
 * 80 random bits in Crockford's base32, so that ids sort by issue time.
 */

ngx_int_t
ngx_http_ubt_generate_issued_id(u_char *buf)
{
    uint64_t     ms;
    ngx_uint_t   i, bit, v, start, width;
    ngx_time_t  *tp;
    u_char       raw[16];

    tp = ngx_timeofday();
    ms = (uint64_t) tp->sec * 1000 + tp->msec;

    for (i = 0; i < 6; i++) {
        raw[i] = (u_char) (ms >> (8 * (5 - i)));
    }

    if (RAND_bytes(raw + 6, 10) != 1) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0, "RAND_bytes() failed");
        return NGX_ERROR;
    }

    /* 26 digits of 5 bits take 130 bits, so the first digit has only 3 */
    start = 0;

    for (i = 0; i < NGX_HTTP_UBT_ISSUED_ID_LEN; i++) {
        width = (i == 0) ? 3 : 5;
        v = 0;

        for (bit = start; bit < start + width; bit++) {
            v = (v << 1) | ((raw[bit / 8] >> (7 - bit % 8)) & 1);
        }

        buf[i] = ngx_http_ubt_base32[v];
        start += width;
    }

    return NGX_OK;
}


/* Tests that value is min to max characters of [A-Za-z0-9_-]. */

ngx_int_t
ngx_http_ubt_valid_token(ngx_str_t *value, size_t min, size_t max)
{
    u_char  c, *p, *last;

    if (value->len < min || value->len > max) {
        return 0;
    }

    last = value->data + value->len;

    for (p = value->data; p < last; p++) {
        c = *p;

        if ((c >= '0' && c <= '9')
            || (c >= 'A' && c <= 'Z')
            || (c >= 'a' && c <= 'z')
            || c == '_' || c == '-')
        {
            continue;
        }

        return 0;
    }

    return 1;
}


/*
 * Tests that value is 1 to max bytes without control characters.  Bytes
 * from 0x80 up pass, so that UTF-8 device and system names do.
 */

ngx_int_t
ngx_http_ubt_valid_text(ngx_str_t *value, size_t max)
{
    u_char  *p, *last;

    if (value->len == 0 || value->len > max) {
        return 0;
    }

    last = value->data + value->len;

    for (p = value->data; p < last; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return 0;
        }
    }

    return 1;
}


/*
 * Parses a rate: "N r/s", "N r/m", "N r/h" or "N r/d", N from 1 to 10^9,
 * with an optional space before "r", in any letter case.  Returns NGX_OK
 * with the count and the period in ms, NGX_DONE for "unlimited", and
 * NGX_DECLINED for anything else.
 */

ngx_int_t
ngx_http_ubt_parse_rate(ngx_str_t *value, ngx_uint_t *count,
    ngx_msec_t *period)
{
    u_char     *p, *last;
    ngx_int_t   n;

    if (value->len == sizeof("unlimited") - 1
        && ngx_strncasecmp(value->data, (u_char *) "unlimited", value->len)
           == 0)
    {
        return NGX_DONE;
    }

    p = value->data;
    last = p + value->len;

    while (p < last && *p >= '0' && *p <= '9') {
        p++;
    }

    if (p == value->data || p - value->data > 10 || value->data[0] == '0') {
        return NGX_DECLINED;
    }

    n = ngx_atoi(value->data, p - value->data);

    if (n == NGX_ERROR || n > 1000000000) {
        return NGX_DECLINED;
    }

    if (p < last && *p == ' ') {
        p++;
    }

    if (last - p != 3 || (p[0] | 0x20) != 'r' || p[1] != '/') {
        return NGX_DECLINED;
    }

    switch (p[2] | 0x20) {
    case 's':
        *period = 1000;
        break;
    case 'm':
        *period = 60000;
        break;
    case 'h':
        *period = 3600000;
        break;
    case 'd':
        *period = 86400000;
        break;
    default:
        return NGX_DECLINED;
    }

    *count = (ngx_uint_t) n;

    return NGX_OK;
}


/*
 * Reads a secret from a file at configuration time.  Trailing white space is
 * dropped, so "echo SECRET > file" works.  The secret is never logged.
 */

char *
ngx_http_ubt_read_secret_file(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *secret, size_t min)
{
    u_char           *buf;
    size_t            len;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_file_info_t   fi;

    if (ngx_conf_full_name(cf->cycle, path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(path->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", path);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", path);
        goto failed;
    }

    if (ngx_file_size(&fi) > NGX_HTTP_UBT_SECRET_MAX_LEN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%V\" is larger than %d bytes",
                           path, NGX_HTTP_UBT_SECRET_MAX_LEN);
        goto failed;
    }

    if (fi.st_mode & S_IROTH) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "secret file \"%V\" is readable by all users",
                           path);
    }

    buf = ngx_pnalloc(cf->pool, NGX_HTTP_UBT_SECRET_MAX_LEN + 1);
    if (buf == NULL) {
        goto failed;
    }

    n = ngx_read_fd(fd, buf, NGX_HTTP_UBT_SECRET_MAX_LEN + 1);
    if (n == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_fd_n " \"%V\" failed", path);
        goto failed;
    }

    ngx_close_file(fd);

    len = n;

    while (len > 0
           && (buf[len - 1] == '\n' || buf[len - 1] == '\r'
               || buf[len - 1] == ' ' || buf[len - 1] == '\t'))
    {
        len--;
    }

    if (len < min) {
        ngx_explicit_memzero(buf, NGX_HTTP_UBT_SECRET_MAX_LEN + 1);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret in \"%V\" is shorter than %uz bytes",
                           path, min);
        return NGX_CONF_ERROR;
    }

    secret->data = buf;
    secret->len = len;

    return NGX_CONF_OK;

failed:

    ngx_close_file(fd);

    return NGX_CONF_ERROR;
}
