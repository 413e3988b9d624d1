
/*
 * Copyright (C) ngx_http_ubt_module authors
 */


/*
 * Fuzz target "log_update": the JSON body of the log-update endpoint.
 *
 * The input is the request body, given to ngx_http_ubt_log_update_parse()
 * with the arguments array of ngx_http_ubt_log_update_body().  Besides the
 * sanitizers, it checks that each telemetry field is set at most once, to
 * text of at most 128 bytes.  A phone number must be stored only in its
 * masked form, "+15***234", which keeps five of its digits.
 *
 * Seeds: fuzz/corpus/log_update, bodies with each member and phone numbers
 * in the forms the client sends.
 */


#include "ngx_http_ubt_unity.c"
#include "ngx_http_ubt_fuzz.h"


static void ngx_http_ubt_fuzz_check_phone(ngx_str_t *masked);


static char **ngx_http_ubt_fuzz_directives[] = { NULL };


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
    ngx_int_t            rc;
    ngx_str_t            body, args[4 + 2 * 8];
    ngx_uint_t           i, j, n;
    const char          *reason, *field;
    ngx_http_request_t  *r;

    r = ngx_http_ubt_fuzz_request();

    body.len = size;
    body.data = ngx_pnalloc(r->pool, size);
    if (body.data == NULL) {
        ngx_http_ubt_fuzz_fail("ngx_pnalloc() failed");
    }

    ngx_memcpy(body.data, data, size);

    /* the command and key that ngx_http_ubt_log_update_body() puts first */
    ngx_str_set(&args[0], "HSET");
    ngx_str_set(&args[1], "ubt:{u:42}");
    n = 2;

    reason = NULL;
    field = NULL;

    rc = ngx_http_ubt_log_update_parse(r, &body, args, &n, &reason, &field);

    if (rc == NGX_DECLINED) {
        if (reason == NULL) {
            ngx_http_ubt_fuzz_fail("a rejected body has no reason");
        }

        goto done;
    }

    if (rc != NGX_OK) {
        ngx_http_ubt_fuzz_fail("ngx_http_ubt_log_update_parse() returned "
                               "%ld", (long) rc);
    }

    /* the caller appends tm_updated_at after the fields */
    if (n % 2 || n + 2 > sizeof(args) / sizeof(ngx_str_t)) {
        ngx_http_ubt_fuzz_fail("%lu arguments", (unsigned long) n);
    }

    for (i = 2; i < n; i += 2) {

        for (j = 2; j < i; j += 2) {
            if (args[j].len == args[i].len
                && ngx_strncmp(args[j].data, args[i].data, args[i].len) == 0)
            {
                ngx_http_ubt_fuzz_fail("field %.*s set twice",
                                       (int) args[i].len, args[i].data);
            }
        }

        if (args[i].len < 3 || ngx_strncmp(args[i].data, "tm_", 3) != 0) {
            ngx_http_ubt_fuzz_fail("field %.*s is not telemetry",
                                   (int) args[i].len, args[i].data);
        }

        if (!ngx_http_ubt_valid_text(&args[i + 1],
                                     NGX_HTTP_UBT_TELEMETRY_MAX_LEN))
        {
            ngx_http_ubt_fuzz_fail("field %.*s is not valid text",
                                   (int) args[i].len, args[i].data);
        }

        if (args[i].len == sizeof("tm_phone_number") - 1
            && ngx_strncmp(args[i].data, "tm_phone_number", args[i].len)
               == 0)
        {
            ngx_http_ubt_fuzz_check_phone(&args[i + 1]);
        }
    }

done:

    ngx_http_ubt_fuzz_free(r);

    return 0;
}


static void
ngx_http_ubt_fuzz_check_phone(ngx_str_t *masked)
{
    u_char  *p;
    size_t   i;

    p = masked->data;

    if (masked->len == 9 && p[0] == '+') {
        p++;

    } else if (masked->len != 8) {
        goto invalid;
    }

    for (i = 0; i < 8; i++) {
        if (i >= 2 && i < 5) {
            if (p[i] != '*') {
                goto invalid;
            }

        } else if (p[i] < '0' || p[i] > '9') {
            goto invalid;
        }
    }

    return;

invalid:

    ngx_http_ubt_fuzz_fail("a phone number is stored as \"%.*s\"",
                           (int) masked->len, masked->data);
}
