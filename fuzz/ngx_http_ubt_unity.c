
/*
 * Copyright (C) ngx_http_ubt_module authors
 */


/*
 * The whole module as one translation unit, which each fuzz target
 * includes so that it can call the module's static functions.
 */


#include "../ngx_http_ubt_module.c"
#include "../src/ngx_http_ubt_access.c"
#include "../src/ngx_http_ubt_admin.c"
#include "../src/ngx_http_ubt_cluster.c"
#include "../src/ngx_http_ubt_control.c"
#include "../src/ngx_http_ubt_crypto.c"
#include "../src/ngx_http_ubt_metrics.c"
#include "../src/ngx_http_ubt_provision.c"
#include "../src/ngx_http_ubt_redis.c"
#include "../src/ngx_http_ubt_reply.c"
