
/*
 * Copyright (C) ngx_http_ubt_module authors
 */


#ifndef _NGX_HTTP_UBT_H_INCLUDED_
#define _NGX_HTTP_UBT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <jansson.h>
#include <openssl/evp.h>


/*
 * A build with NGX_HTTP_UBT_CT_CHECK marks every secret as undefined for
 * valgrind's memcheck, which then reports each branch and each memory
 * address that depends on a secret byte.  Only the outcome of a comparison
 * is made defined again.  Other builds compile the marks away.
 */
#if (NGX_HTTP_UBT_CT_CHECK)
#include <valgrind/memcheck.h>
#define ngx_http_ubt_ct_secret(p, n)  VALGRIND_MAKE_MEM_UNDEFINED(p, n)
#define ngx_http_ubt_ct_public(p, n)  VALGRIND_MAKE_MEM_DEFINED(p, n)
#else
#define ngx_http_ubt_ct_secret(p, n)
#define ngx_http_ubt_ct_public(p, n)
#endif


#define NGX_HTTP_UBT_KEY_LIVE_PREFIX    "ubt_live_"
#define NGX_HTTP_UBT_KEY_TEST_PREFIX    "ubt_test_"
#define NGX_HTTP_UBT_KEY_PREFIX_LEN                                           \
    (sizeof(NGX_HTTP_UBT_KEY_LIVE_PREFIX) - 1)

/* 43 base62 characters carry 256 random bits; 6 more carry a CRC32 */
#define NGX_HTTP_UBT_KEY_RANDOM_LEN     43
#define NGX_HTTP_UBT_KEY_CHECKSUM_LEN   6
#define NGX_HTTP_UBT_KEY_LEN                                                  \
    (NGX_HTTP_UBT_KEY_PREFIX_LEN + NGX_HTTP_UBT_KEY_RANDOM_LEN                \
     + NGX_HTTP_UBT_KEY_CHECKSUM_LEN)

#define NGX_HTTP_UBT_DIGEST_LEN         32
#define NGX_HTTP_UBT_DIGEST_HEX_LEN     64
#define NGX_HTTP_UBT_ISSUED_ID_LEN      26

#define NGX_HTTP_UBT_USER_ID_MAX_LEN    64
#define NGX_HTTP_UBT_NONCE_MIN_LEN      8
#define NGX_HTTP_UBT_NONCE_MAX_LEN      64
#define NGX_HTTP_UBT_TS_MAX_LEN         15
#define NGX_HTTP_UBT_PLAN_MAX_LEN       32
#define NGX_HTTP_UBT_TELEMETRY_MAX_LEN  128
#define NGX_HTTP_UBT_SECRET_MIN_LEN     16
#define NGX_HTTP_UBT_SECRET_MAX_LEN     4096

/* every Redis key of one user shares the {u:<user id>} hash tag */
#define NGX_HTTP_UBT_REDIS_USER_PREFIX  "ubt:{u:"
#define NGX_HTTP_UBT_REDIS_DIGEST_KEY   "ubt:kd:"
#define NGX_HTTP_UBT_REDIS_AUDIT_KEY    "ubt:audit"

/* how many revoked key digests a user record remembers */
#define NGX_HTTP_UBT_REVOKED_KEEP       "64"

#define NGX_HTTP_UBT_TELEMETRY_HEADERS  4


typedef enum {
    NGX_HTTP_UBT_OK = 0,
    NGX_HTTP_UBT_MISSING_KEY,
    NGX_HTTP_UBT_MALFORMED_KEY,
    NGX_HTTP_UBT_UNKNOWN_KEY,
    NGX_HTTP_UBT_REVOKED_KEY,
    NGX_HTTP_UBT_TEST_KEY_NOT_ALLOWED,
    NGX_HTTP_UBT_MALFORMED_HEADER,
    NGX_HTTP_UBT_DUPLICATE_HEADER,
    NGX_HTTP_UBT_MISSING_SIGNATURE,
    NGX_HTTP_UBT_BAD_SIGNATURE,
    NGX_HTTP_UBT_STALE_TIMESTAMP,
    NGX_HTTP_UBT_REPLAYED_NONCE,
    NGX_HTTP_UBT_DISCONNECTED,
    NGX_HTTP_UBT_BANNED,
    NGX_HTTP_UBT_RATE_LIMIT,
    NGX_HTTP_UBT_UNAVAILABLE,
    NGX_HTTP_UBT_REASON_LAST
} ngx_http_ubt_reason_e;


typedef enum {
    NGX_HTTP_UBT_SCRIPT_CHECK = 0,
    NGX_HTTP_UBT_SCRIPT_ISSUE,
    NGX_HTTP_UBT_SCRIPT_ADMIN,
    NGX_HTTP_UBT_SCRIPT_MISMATCH,
    NGX_HTTP_UBT_SCRIPT_LAST
} ngx_http_ubt_script_e;


/* failures of Redis connections and calls, as the metrics count them */
typedef enum {
    NGX_HTTP_UBT_REDIS_ERROR_CONNECT = 0,
    NGX_HTTP_UBT_REDIS_ERROR_LOST,
    NGX_HTTP_UBT_REDIS_ERROR_TIMEOUT,
    NGX_HTTP_UBT_REDIS_ERROR_REPLY,
    NGX_HTTP_UBT_REDIS_ERROR_CLUSTER_DOWN,
    NGX_HTTP_UBT_REDIS_ERROR_MIGRATING,
    NGX_HTTP_UBT_REDIS_ERROR_LAST
} ngx_http_ubt_redis_error_e;


typedef enum {
    NGX_HTTP_UBT_KEY_ISSUED = 0,
    NGX_HTTP_UBT_KEY_ROTATED,
    NGX_HTTP_UBT_KEY_REVOKED,
    NGX_HTTP_UBT_KEY_LAST
} ngx_http_ubt_key_action_e;


/* outcome of a Redis call, passed to its handler */
typedef enum {
    NGX_HTTP_UBT_REDIS_REPLY = 0,
    NGX_HTTP_UBT_REDIS_FAILED,
    NGX_HTTP_UBT_REDIS_TIMEDOUT
} ngx_http_ubt_redis_rc_e;


typedef struct ngx_http_ubt_redis_s       ngx_http_ubt_redis_t;
typedef struct ngx_http_ubt_redis_call_s  ngx_http_ubt_redis_call_t;

/* reply is NULL unless rc is NGX_HTTP_UBT_REDIS_REPLY */
typedef void (*ngx_http_ubt_redis_handler_pt)(void *data,
    ngx_http_ubt_redis_rc_e rc, redisReply *reply);


typedef struct {
    u_char                      digest[NGX_HTTP_UBT_DIGEST_LEN];
    u_char                      user_id_len;
    u_char                      user_id[NGX_HTTP_UBT_USER_ID_MAX_LEN];
} ngx_http_ubt_cache_entry_t;


/* a plan of nginx.conf, as the check script takes it */
typedef struct {
    ngx_str_t                   name;
    ngx_str_t                   spec;   /* "<count> <period ms> <burst>" */
} ngx_http_ubt_plan_t;


#define NGX_HTTP_UBT_RATE_HEADERS_LEGACY  0x01
#define NGX_HTTP_UBT_RATE_HEADERS_IETF    0x02


/* a Redis server: the one of ubt_redis, or a node of a cluster */
typedef struct {
    ngx_str_t                   name;         /* "127.0.0.1:6379" */
    ngx_str_t                   host;         /* numeric, NUL-terminated */
    in_port_t                   port;
    ngx_str_t                   unix_path;    /* NUL-terminated */
} ngx_http_ubt_redis_addr_t;


typedef struct ngx_http_ubt_cluster_s  ngx_http_ubt_cluster_t;


typedef struct {
    ngx_http_ubt_redis_addr_t   server;       /* ubt_redis */
    ngx_array_t                *seeds;        /* ubt_redis_cluster */
    ngx_int_t                   db;
    ngx_str_t                   password;

    ngx_msec_t                  connect_timeout;
    ngx_msec_t                  timeout;

    ngx_uint_t                  key_cache_size;

    ngx_array_t                *plans;        /* ngx_http_ubt_plan_t */

    ngx_flag_t                  used;
    ngx_int_t                   request_id_index;

    ngx_str_t                   script_sha[NGX_HTTP_UBT_SCRIPT_LAST];

    ngx_flag_t                  metrics_used;
    ngx_shm_zone_t             *metrics_zone;
    void                       *metrics_sh;

    /* per worker process */
    ngx_http_ubt_redis_t       *redis;
    ngx_http_ubt_cluster_t     *cluster;
    ngx_http_ubt_cache_entry_t *key_cache;
    ngx_atomic_t               *metrics;       /* this worker's counters */
} ngx_http_ubt_main_conf_t;


typedef struct {
    ngx_flag_t                  enable;
    ngx_flag_t                  allow_test_keys;
    ngx_flag_t                  forward_credentials;
    time_t                      time_skew;
    ngx_msec_t                  nonce_ttl;        /* as configured */
    ngx_msec_t                  nonce_window;     /* in effect */
    ngx_uint_t                  log_level;
    size_t                      max_body_size;
    ngx_str_t                   default_plan;

    ngx_msec_t                  last_seen_interval;
    ngx_uint_t                  audit_max_len;
    ngx_uint_t                  rate_headers;

    ngx_str_t                   signing_secret;
    EVP_MAC_CTX                *signing_mac;        /* keyed once */
    ngx_str_t                   provision_digest;   /* SHA-256 of the token */

    ngx_str_t                   admin_prefix;       /* the location's name */

    /* the module's content handler of this location, not inherited */
    ngx_http_handler_pt         handler;
    ngx_str_t                   handler_name;

    ngx_flag_t                  provision;
    ngx_flag_t                  admin;
    ngx_flag_t                  check_update;
    ngx_flag_t                  log_update;
} ngx_http_ubt_loc_conf_t;


/* the Redis keys of one user */
typedef struct {
    ngx_str_t                   record;
    ngx_str_t                   revoked;
    ngx_str_t                   audit;
} ngx_http_ubt_user_keys_t;


typedef struct {
    ngx_http_request_t         *request;
    ngx_http_ubt_redis_call_t  *call;

    ngx_http_ubt_reason_e       reason;
    unsigned                    done:1;
    unsigned                    waiting:1;
    unsigned                    looked_up:1;
    unsigned                    test_key:1;
    unsigned                    identity_set:1;
    unsigned                    user_verified:1;
    unsigned                    header_user:1;
    unsigned                    identity_mismatch:1;
    unsigned                    counted:1;

    ngx_str_t                   key;
    ngx_str_t                   ts;
    ngx_str_t                   nonce;
    ngx_str_t                   sign;
    int64_t                     ts_ms;
    u_char                      digest[NGX_HTTP_UBT_DIGEST_LEN];

    ngx_str_t                   user_id;
    ngx_str_t                   plan;
    ngx_str_t                   issued_id;
    ngx_str_t                   key_env;
    ngx_str_t                   limit;

    /* the rate limit in effect: empty when none applies */
    ngx_str_t                   rate_limit;
    ngx_str_t                   rate_remaining;
    ngx_str_t                   rate_reset;         /* s */
    ngx_str_t                   rate_window;        /* s */
    ngx_str_t                   rate_retry;         /* ms, when rejected */

    /* X-UBT-Version, -Platform, -Device and -System, when sent */
    ngx_str_t                   telemetry[NGX_HTTP_UBT_TELEMETRY_HEADERS];
    ngx_str_t                   bad_header;         /* named in the log */

    /* content handlers: provisioning, admin and control endpoints */
    ngx_msec_t                  grace;
    ngx_str_t                   action;
    ngx_str_t                   value;
    ngx_str_t                   note;
    ngx_uint_t                  count;
} ngx_http_ubt_ctx_t;


extern ngx_module_t  ngx_http_ubt_module;


/* access phase */
ngx_int_t ngx_http_ubt_access_handler(ngx_http_request_t *r);
ngx_http_ubt_ctx_t *ngx_http_ubt_get_ctx(ngx_http_request_t *r);
ngx_http_ubt_ctx_t *ngx_http_ubt_create_ctx(ngx_http_request_t *r);
extern ngx_str_t  ngx_http_ubt_reason_names[];

/* provisioning and health content handlers, and what the others share */
ngx_int_t ngx_http_ubt_provision_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_ubt_health_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_ubt_authorize_operator(ngx_http_request_t *r,
    ngx_int_t *rc);
ngx_int_t ngx_http_ubt_read_json_body(ngx_http_request_t *r,
    const char *endpoint, ngx_http_client_body_handler_pt handler);
ngx_int_t ngx_http_ubt_get_json_body(ngx_http_request_t *r,
    const char *endpoint, ngx_str_t *body);
void ngx_http_ubt_finalize_invalid(ngx_http_request_t *r, ngx_int_t rc,
    const char *reason, const char *field);
ngx_int_t ngx_http_ubt_method_not_allowed(ngx_http_request_t *r,
    char *allow);
ngx_int_t ngx_http_ubt_content_redis_failed(ngx_http_ubt_ctx_t *ctx,
    ngx_http_ubt_redis_rc_e rc, ngx_uint_t level);
void ngx_http_ubt_content_done(ngx_http_request_t *r, ngx_int_t rc);
ngx_int_t ngx_http_ubt_send_unavailable(ngx_http_request_t *r,
    ngx_uint_t level);
ngx_int_t ngx_http_ubt_json_user_id(ngx_http_request_t *r, json_t *value,
    ngx_str_t *user_id);
ngx_int_t ngx_http_ubt_valid_text(ngx_str_t *value, size_t max);
ngx_int_t ngx_http_ubt_parse_rate(ngx_str_t *value, ngx_uint_t *count,
    ngx_msec_t *period);
ngx_int_t ngx_http_ubt_known_plan(ngx_http_request_t *r, ngx_str_t *plan);
ngx_http_ubt_plan_t *ngx_http_ubt_find_plan(ngx_http_ubt_main_conf_t *umcf,
    ngx_str_t *name);
json_t *ngx_http_ubt_json_object(ngx_http_request_t *r, ngx_str_t *body,
    const char *endpoint);

/* admin API and the control endpoints of the userbot_auth client */
ngx_int_t ngx_http_ubt_admin_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_ubt_check_update_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_ubt_log_update_handler(ngx_http_request_t *r);
void ngx_http_ubt_audit_copy(ngx_http_ubt_main_conf_t *umcf,
    ngx_uint_t max_len, redisReply *reply, size_t first);

/* JSON replies */
ngx_int_t ngx_http_ubt_send_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *body);
ngx_int_t ngx_http_ubt_send_body(ngx_http_request_t *r, ngx_buf_t *b);
ngx_int_t ngx_http_ubt_send_reject(ngx_http_request_t *r,
    ngx_http_ubt_reason_e reason);
ngx_int_t ngx_http_ubt_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *status_text, const char *reason, const char *field);
ngx_uint_t ngx_http_ubt_reason_status(ngx_http_ubt_reason_e reason);
ngx_table_elt_t *ngx_http_ubt_add_response_header(ngx_http_request_t *r,
    char *name, ngx_str_t *value);
ngx_int_t ngx_http_ubt_rate_headers(ngx_http_request_t *r,
    ngx_http_ubt_ctx_t *ctx, ngx_uint_t mode);
ngx_int_t ngx_http_ubt_ms_to_seconds(ngx_http_request_t *r, ngx_str_t *value,
    ngx_uint_t min);

/* keys, digests and signatures */
ngx_int_t ngx_http_ubt_generate_key(u_char *buf, ngx_flag_t test);
ngx_int_t ngx_http_ubt_check_key(ngx_str_t *key, ngx_flag_t *test);
void ngx_http_ubt_digest(ngx_str_t *data, u_char *digest);
void ngx_http_ubt_crypto_exit(void);
ngx_int_t ngx_http_ubt_secret_equal(u_char *a, u_char *b, size_t len);
int ngx_http_ubt_hex_value(u_char c);
EVP_MAC_CTX *ngx_http_ubt_mac_create(ngx_conf_t *cf, ngx_str_t *secret);
ngx_int_t ngx_http_ubt_verify_signature(EVP_MAC_CTX *mac, ngx_str_t *ts,
    ngx_str_t *user_id, ngx_str_t *nonce, ngx_str_t *sign);
ngx_int_t ngx_http_ubt_generate_issued_id(u_char *buf);
ngx_int_t ngx_http_ubt_valid_token(ngx_str_t *value, size_t min,
    size_t max);
char *ngx_http_ubt_read_secret_file(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *secret, size_t min);

/* counters in shared memory, and their Prometheus endpoint */
ngx_int_t ngx_http_ubt_metrics_add_zone(ngx_conf_t *cf,
    ngx_http_ubt_main_conf_t *umcf);
void ngx_http_ubt_metrics_init_process(ngx_http_ubt_main_conf_t *umcf);
ngx_int_t ngx_http_ubt_metrics_handler(ngx_http_request_t *r);
void ngx_http_ubt_metrics_request(ngx_http_request_t *r,
    ngx_http_ubt_ctx_t *ctx, ngx_http_ubt_reason_e reason);
uint64_t ngx_http_ubt_metrics_clock(void);
void ngx_http_ubt_metrics_redis_time(ngx_http_ubt_main_conf_t *umcf,
    uint64_t start);
void ngx_http_ubt_metrics_redis_error(ngx_http_ubt_main_conf_t *umcf,
    ngx_http_ubt_redis_error_e kind);
void ngx_http_ubt_metrics_redis_state(ngx_http_ubt_main_conf_t *umcf,
    ngx_int_t servers, ngx_int_t ready);
void ngx_http_ubt_metrics_key(ngx_http_ubt_main_conf_t *umcf,
    ngx_http_ubt_key_action_e action);

/* Redis connection of the worker process */
ngx_int_t ngx_http_ubt_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_ubt_main_conf_t *umcf);
void ngx_http_ubt_redis_exit_process(ngx_http_ubt_main_conf_t *umcf);
ngx_int_t ngx_http_ubt_redis_script_digests(ngx_conf_t *cf,
    ngx_http_ubt_main_conf_t *umcf);
ngx_http_ubt_redis_call_t *ngx_http_ubt_redis_eval(
    ngx_http_ubt_main_conf_t *umcf, ngx_http_ubt_script_e script,
    ngx_uint_t nkeys, ngx_str_t *args, ngx_uint_t nargs,
    ngx_http_ubt_redis_handler_pt handler, void *data);
ngx_http_ubt_redis_call_t *ngx_http_ubt_redis_command(
    ngx_http_ubt_main_conf_t *umcf, ngx_str_t *args, ngx_uint_t nargs,
    ngx_http_ubt_redis_handler_pt handler, void *data);
void ngx_http_ubt_redis_cancel(ngx_http_ubt_redis_call_t *call);
ngx_int_t ngx_http_ubt_user_keys(ngx_pool_t *pool, ngx_str_t *user_id,
    ngx_http_ubt_user_keys_t *keys);


#endif /* _NGX_HTTP_UBT_H_INCLUDED_ */
