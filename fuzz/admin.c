
/*
 * Copyright (C) ngx_http_ubt_module authors
 */


/*
 * Fuzz target "admin": the JSON body of the admin API's actions.
 *
 * The input is the request body, given to ngx_http_ubt_admin_parse() once
 * for each action of the admin table that takes a body (revoke,
 * disconnect, ban, reconnect, plan and limit), with the plans FREE, PRO
 * and MAX configured.  Besides the sanitizers, it checks that an accepted
 * plan is a configured one in upper case, an accepted limit is a rate in
 * lower case, and an accepted reason is text of at most 128 bytes.
 *
 * Seeds: fuzz/corpus/admin, the bodies of each action.
 */


#include "ngx_http_ubt_unity.c"
#include "ngx_http_ubt_fuzz.h"


static void ngx_http_ubt_fuzz_action(const u_char *data, size_t size,
    ngx_str_t *action);


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
    ngx_http_ubt_admin_action_t  *a;

    for (a = ngx_http_ubt_admin_actions; a->allow; a++) {
        if (a->name.len) {
            ngx_http_ubt_fuzz_action(data, size, &a->name);
        }
    }

    return 0;
}


static void
ngx_http_ubt_fuzz_action(const u_char *data, size_t size, ngx_str_t *action)
{
    size_t                     i;
    ngx_int_t                  rc;
    ngx_str_t                  body;
    ngx_uint_t                 count;
    ngx_msec_t                 period;
    const char                *reason, *field;
    ngx_http_request_t        *r;
    ngx_http_ubt_ctx_t        *ctx;
    ngx_http_ubt_main_conf_t  *umcf;

    r = ngx_http_ubt_fuzz_request();

    ctx = ngx_http_ubt_create_ctx(r);
    if (ctx == NULL) {
        ngx_http_ubt_fuzz_fail("ngx_http_ubt_create_ctx() failed");
    }

    /* as ngx_http_ubt_admin_route() sets it */
    ctx->action = *action;

    body.len = size;
    body.data = ngx_pnalloc(r->pool, size);
    if (body.data == NULL) {
        ngx_http_ubt_fuzz_fail("ngx_pnalloc() failed");
    }

    ngx_memcpy(body.data, data, size);

    reason = NULL;
    field = NULL;

    rc = ngx_http_ubt_admin_parse(r, ctx, &body, &reason, &field);

    if (rc == NGX_DECLINED) {
        if (reason == NULL) {
            ngx_http_ubt_fuzz_fail("a rejected %s body has no reason",
                                   action->data);
        }

        goto done;
    }

    if (rc != NGX_OK) {
        ngx_http_ubt_fuzz_fail("ngx_http_ubt_admin_parse() returned %ld",
                               (long) rc);
    }

    umcf = ngx_http_get_module_main_conf(r, ngx_http_ubt_module);

    if (ngx_strcmp(action->data, "plan") == 0) {
        if (ngx_http_ubt_find_plan(umcf, &ctx->value) == NULL) {
            ngx_http_ubt_fuzz_fail("an accepted plan is unknown");
        }

        for (i = 0; i < ctx->value.len; i++) {
            if (ctx->value.data[i] >= 'a' && ctx->value.data[i] <= 'z') {
                ngx_http_ubt_fuzz_fail("an accepted plan is not upper case");
            }
        }

    } else if (ngx_strcmp(action->data, "limit") == 0) {
        if (ngx_http_ubt_parse_rate(&ctx->value, &count, &period)
            == NGX_DECLINED)
        {
            ngx_http_ubt_fuzz_fail("an accepted limit is not a rate");
        }

        for (i = 0; i < ctx->value.len; i++) {
            if (ctx->value.data[i] >= 'A' && ctx->value.data[i] <= 'Z') {
                ngx_http_ubt_fuzz_fail("an accepted limit is not lower "
                                       "case");
            }
        }

    } else if (ctx->value.len) {
        ngx_http_ubt_fuzz_fail("action %s took a value", action->data);
    }

    if (ctx->note.data
        && !ngx_http_ubt_valid_text(&ctx->note, 128))
    {
        ngx_http_ubt_fuzz_fail("an accepted reason is not valid text");
    }

done:

    ngx_http_ubt_fuzz_free(r);
}
