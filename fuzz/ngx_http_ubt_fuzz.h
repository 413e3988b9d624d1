
/*
 * Copyright (C) ngx_http_ubt_module authors
 */


/*
 * Shared support of the libFuzzer targets in this directory: a
 * configuration made by the module's own directive handlers, requests on
 * real nginx pools, and header lines parsed by nginx's own parser.  See
 * ngx_http_ubt_fuzz.c.
 */


#ifndef _NGX_HTTP_UBT_FUZZ_H_INCLUDED_
#define _NGX_HTTP_UBT_FUZZ_H_INCLUDED_


#include "ngx_http_ubt.h"


/* the fixed clock of every target, 1796417281295 ms since the epoch */
#define NGX_HTTP_UBT_FUZZ_SEC         1796417281
#define NGX_HTTP_UBT_FUZZ_MSEC        295

/*
 * the signing secret of the targets; the signed seeds in fuzz/corpus are
 * made with it, as
 *     printf %s "$ts.$user_id.$nonce" | openssl dgst -sha256 -hmac SECRET
 */
#define NGX_HTTP_UBT_FUZZ_SECRET      "ubt-fuzz-signing-secret-0123456789"

/* the user id that the key lookup returns when X-UBT-USER-ID is absent */
#define NGX_HTTP_UBT_FUZZ_USER_ID     "42"


/*
 * Configures the module as nginx.conf would: ubt_signing_secret_file with
 * the secret above, then each directive of the NULL-terminated list, every
 * one a NULL-terminated array of the directive's name and arguments.
 * Exits the process on failure.
 */
void ngx_http_ubt_fuzz_init(char ***directives);

/* the directives of the plans FREE, PRO and MAX, for the init function */
extern char **ngx_http_ubt_fuzz_plans[];

/* creates a request with its own pool, connection and empty header list */
ngx_http_request_t *ngx_http_ubt_fuzz_request(void);
void ngx_http_ubt_fuzz_free(ngx_http_request_t *r);

/*
 * Parses data as the header lines of a request, with nginx's own parser,
 * into r->headers_in.headers.  Returns NGX_DECLINED where nginx would
 * reject the request with 400.
 */
ngx_int_t ngx_http_ubt_fuzz_parse_headers(ngx_http_request_t *r,
    const u_char *data, size_t len, ngx_uint_t allow_underscores);

/* appends a header to r->headers_in.headers as nginx's parser would */
ngx_int_t ngx_http_ubt_fuzz_add_header(ngx_http_request_t *r, char *name,
    const u_char *value, size_t len);

/* reports a broken property of the module and aborts the process */
void ngx_http_ubt_fuzz_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));


#endif /* _NGX_HTTP_UBT_FUZZ_H_INCLUDED_ */
