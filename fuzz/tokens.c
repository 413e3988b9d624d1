
/*
 * Copyright (C) ngx_http_ubt_module authors
 */


/*
 * Fuzz target "tokens": the checks of one untrusted string.
 *
 * The input is one string, any bytes, given to ngx_http_ubt_check_key(),
 * ngx_http_ubt_valid_token() with the bounds of a user id and of a nonce,
 * ngx_http_ubt_valid_text() with the bound of a telemetry value, and
 * ngx_http_ubt_parse_rate().  Each verdict is compared with one worked out
 * here by other means: zlib's crc32() for the key's checksum, character
 * classes for the validators, and a POSIX regular expression for rates.
 *
 * Seeds: fuzz/corpus/tokens, runtime keys, ids, nonces and rates.
 */


#include "ngx_http_ubt_unity.c"
#include "ngx_http_ubt_fuzz.h"

#include <regex.h>
#include <zlib.h>


static void ngx_http_ubt_fuzz_key(ngx_str_t *s);
static ngx_int_t ngx_http_ubt_fuzz_token(ngx_str_t *s, size_t min,
    size_t max);
static ngx_int_t ngx_http_ubt_fuzz_text(ngx_str_t *s, size_t max);
static void ngx_http_ubt_fuzz_rate(ngx_str_t *s);


static char **ngx_http_ubt_fuzz_directives[] = { NULL };

static regex_t  ngx_http_ubt_fuzz_rate_re;
static regex_t  ngx_http_ubt_fuzz_unlimited_re;

static char  ngx_http_ubt_fuzz_base62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_http_ubt_fuzz_init(ngx_http_ubt_fuzz_directives);

    if (regcomp(&ngx_http_ubt_fuzz_rate_re,
                "^[1-9][0-9]{0,9} ?[rR]/[sSmMhHdD]$", REG_EXTENDED) != 0
        || regcomp(&ngx_http_ubt_fuzz_unlimited_re, "^unlimited$",
                   REG_EXTENDED|REG_ICASE|REG_NOSUB) != 0)
    {
        ngx_http_ubt_fuzz_fail("regcomp() failed");
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_str_t  s;

    s.data = (u_char *) data;
    s.len = size;

    ngx_http_ubt_fuzz_key(&s);

    if (ngx_http_ubt_valid_token(&s, 1, NGX_HTTP_UBT_USER_ID_MAX_LEN)
        != ngx_http_ubt_fuzz_token(&s, 1, NGX_HTTP_UBT_USER_ID_MAX_LEN))
    {
        ngx_http_ubt_fuzz_fail("ngx_http_ubt_valid_token() is wrong for a "
                               "user id of %lu bytes", (unsigned long) size);
    }

    if (ngx_http_ubt_valid_token(&s, NGX_HTTP_UBT_NONCE_MIN_LEN,
                                 NGX_HTTP_UBT_NONCE_MAX_LEN)
        != ngx_http_ubt_fuzz_token(&s, NGX_HTTP_UBT_NONCE_MIN_LEN,
                                   NGX_HTTP_UBT_NONCE_MAX_LEN))
    {
        ngx_http_ubt_fuzz_fail("ngx_http_ubt_valid_token() is wrong for a "
                               "nonce of %lu bytes", (unsigned long) size);
    }

    if (ngx_http_ubt_valid_text(&s, NGX_HTTP_UBT_TELEMETRY_MAX_LEN)
        != ngx_http_ubt_fuzz_text(&s, NGX_HTTP_UBT_TELEMETRY_MAX_LEN))
    {
        ngx_http_ubt_fuzz_fail("ngx_http_ubt_valid_text() is wrong for %lu "
                               "bytes", (unsigned long) size);
    }

    ngx_http_ubt_fuzz_rate(&s);

    return 0;
}


static void
ngx_http_ubt_fuzz_key(ngx_str_t *s)
{
    size_t      i, body;
    uLong       crc;
    ngx_int_t   rc, expected;
    ngx_flag_t  test, expected_test;
    u_char      checksum[NGX_HTTP_UBT_KEY_CHECKSUM_LEN];

    test = -1;
    rc = ngx_http_ubt_check_key(s, &test);

    expected = NGX_DECLINED;
    expected_test = -1;
    body = NGX_HTTP_UBT_KEY_PREFIX_LEN + NGX_HTTP_UBT_KEY_RANDOM_LEN;

    if (s->len != NGX_HTTP_UBT_KEY_LEN) {
        goto done;
    }

    if (ngx_strncmp(s->data, "ubt_live_", 9) == 0) {
        expected_test = 0;

    } else if (ngx_strncmp(s->data, "ubt_test_", 9) == 0) {
        expected_test = 1;

    } else {
        goto done;
    }

    for (i = 9; i < s->len; i++) {
        if (s->data[i] == '\0'
            || ngx_strchr(ngx_http_ubt_fuzz_base62, s->data[i]) == NULL)
        {
            goto done;
        }
    }

    crc = crc32(0, s->data, body);

    for (i = NGX_HTTP_UBT_KEY_CHECKSUM_LEN; i > 0; i--) {
        checksum[i - 1] = ngx_http_ubt_fuzz_base62[crc % 62];
        crc /= 62;
    }

    if (ngx_memcmp(checksum, s->data + body, NGX_HTTP_UBT_KEY_CHECKSUM_LEN)
        == 0)
    {
        expected = NGX_OK;
    }

done:

    if (rc != expected) {
        ngx_http_ubt_fuzz_fail("ngx_http_ubt_check_key() returned %ld, "
                               "not %ld, for %lu bytes", (long) rc,
                               (long) expected, (unsigned long) s->len);
    }

    if (rc == NGX_OK && test != expected_test) {
        ngx_http_ubt_fuzz_fail("ngx_http_ubt_check_key() took a %s key for "
                               "a %s key", test ? "test" : "live",
                               expected_test ? "test" : "live");
    }
}


static ngx_int_t
ngx_http_ubt_fuzz_token(ngx_str_t *s, size_t min, size_t max)
{
    size_t  i;

    if (s->len < min || s->len > max) {
        return 0;
    }

    for (i = 0; i < s->len; i++) {
        if (s->data[i] == '\0'
            || (ngx_strchr(ngx_http_ubt_fuzz_base62, s->data[i]) == NULL
                && s->data[i] != '_' && s->data[i] != '-'))
        {
            return 0;
        }
    }

    return 1;
}


static ngx_int_t
ngx_http_ubt_fuzz_text(ngx_str_t *s, size_t max)
{
    size_t  i;

    if (s->len < 1 || s->len > max) {
        return 0;
    }

    for (i = 0; i < s->len; i++) {
        if (iscntrl(s->data[i]) && s->data[i] < 0x80) {
            return 0;
        }
    }

    return 1;
}


static void
ngx_http_ubt_fuzz_rate(ngx_str_t *s)
{
    char                buf[64];
    ngx_int_t           rc, expected;
    ngx_uint_t          count;
    ngx_msec_t          period;
    unsigned long long  n;
    regmatch_t          match[1];

    count = 0;
    period = 0;
    rc = ngx_http_ubt_parse_rate(s, &count, &period);

    expected = NGX_DECLINED;
    n = 0;

    /* a rate is short and has no NUL, or it is not a rate */
    if (s->len >= sizeof(buf) || ngx_strlchr(s->data, s->data + s->len, '\0'))
    {
        goto done;
    }

    ngx_memcpy(buf, s->data, s->len);
    buf[s->len] = '\0';

    if (regexec(&ngx_http_ubt_fuzz_unlimited_re, buf, 0, NULL, 0) == 0) {
        expected = NGX_DONE;
        goto done;
    }

    if (regexec(&ngx_http_ubt_fuzz_rate_re, buf, 1, match, 0) != 0) {
        goto done;
    }

    n = strtoull(buf, NULL, 10);

    if (n <= 1000000000) {
        expected = NGX_OK;
    }

done:

    if (rc != expected) {
        ngx_http_ubt_fuzz_fail("ngx_http_ubt_parse_rate() returned %ld, not "
                               "%ld, for %lu bytes", (long) rc,
                               (long) expected, (unsigned long) s->len);
    }

    if (rc != NGX_OK) {
        return;
    }

    if (count != n) {
        ngx_http_ubt_fuzz_fail("ngx_http_ubt_parse_rate() counted %lu, not "
                               "%llu", (unsigned long) count, n);
    }

    switch (buf[s->len - 1] | 0x20) {
    case 's':
        expected = 1000;
        break;
    case 'm':
        expected = 60000;
        break;
    case 'h':
        expected = 3600000;
        break;
    default:
        expected = 86400000;
    }

    if (period != (ngx_msec_t) expected) {
        ngx_http_ubt_fuzz_fail("ngx_http_ubt_parse_rate() gave a period of "
                               "%lu ms, not %ld", (unsigned long) period,
                               (long) expected);
    }
}
