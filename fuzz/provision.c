
/*
 * Copyright (C) ngx_http_ubt_module authors
 */


/*
 * Fuzz target "provision": the JSON body of the provisioning endpoint.
 *
 * The input is the request body, given to ngx_http_ubt_provision_parse()
 * as the body handler does, with the plans FREE, PRO and MAX configured.
 * Besides the sanitizers, it checks that an accepted body leaves a user id
 * of the documented format, a known plan or none, an environment that
 * matches the new key's prefix and a key that passes its own checks, and
 * that a rejection names a reason.
 *
 * Seeds: fuzz/corpus/provision, one for each field and shape of a value.
 */


#include "ngx_http_ubt_unity.c"
#include "ngx_http_ubt_fuzz.h"


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_http_ubt_fuzz_init(ngx_http_ubt_fuzz_plans);

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_int_t                  rc;
    ngx_str_t                  body;
    ngx_flag_t                 test;
    const char                *reason, *field;
    ngx_http_request_t        *r;
    ngx_http_ubt_ctx_t        *ctx;
    ngx_http_ubt_main_conf_t  *umcf;

    r = ngx_http_ubt_fuzz_request();

    ctx = ngx_http_ubt_create_ctx(r);
    if (ctx == NULL) {
        ngx_http_ubt_fuzz_fail("ngx_http_ubt_create_ctx() failed");
    }

    /* a copy the size of the body, as ngx_http_ubt_read_body() makes */
    body.len = size;
    body.data = ngx_pnalloc(r->pool, size);
    if (body.data == NULL) {
        ngx_http_ubt_fuzz_fail("ngx_pnalloc() failed");
    }

    ngx_memcpy(body.data, data, size);

    reason = NULL;
    field = NULL;

    rc = ngx_http_ubt_provision_parse(r, ctx, &body, &reason, &field);

    if (rc == NGX_DECLINED) {
        if (reason == NULL) {
            ngx_http_ubt_fuzz_fail("a rejected body has no reason");
        }

        goto done;
    }

    if (rc != NGX_OK) {
        ngx_http_ubt_fuzz_fail("ngx_http_ubt_provision_parse() returned %ld",
                               (long) rc);
    }

    if (!ngx_http_ubt_valid_token(&ctx->user_id, 1,
                                  NGX_HTTP_UBT_USER_ID_MAX_LEN))
    {
        ngx_http_ubt_fuzz_fail("an accepted body has an invalid user id");
    }

    umcf = ngx_http_get_module_main_conf(r, ngx_http_ubt_module);

    if (ctx->plan.len && ngx_http_ubt_find_plan(umcf, &ctx->plan) == NULL) {
        ngx_http_ubt_fuzz_fail("an accepted body has an unknown plan");
    }

    if (ngx_http_ubt_check_key(&ctx->key, &test) != NGX_OK
        || test != (ctx->key_env.len == 4
                    && ngx_strncmp(ctx->key_env.data, "test", 4) == 0))
    {
        ngx_http_ubt_fuzz_fail("the new key fails its checks or does not "
                               "match env \"%.*s\"", (int) ctx->key_env.len,
                               ctx->key_env.data);
    }

    if (ctx->grace > (ngx_msec_t) NGX_HTTP_UBT_GRACE_MAX * 1000) {
        ngx_http_ubt_fuzz_fail("an accepted body has a grace period of "
                               "%lu ms", (unsigned long) ctx->grace);
    }

done:

    ngx_http_ubt_fuzz_free(r);

    return 0;
}
