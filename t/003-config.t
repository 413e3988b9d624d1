# Configuration checks: nginx refuses to start on a bad ubt directive and
# names the value, and accepts the good variants.

use Test::Nginx::Socket;
use FindBin;
use lib $FindBin::Bin;
use UbtTest;

repeat_each(1);

# a refused configuration is two checks (nginx died, the message); the
# last three blocks start nginx and make four checks each
plan tests => repeat_each() * (2 * blocks() + 2 * 3);

no_long_string();
no_shuffle();
run_tests();

__DATA__
=== TEST 1: ubt without a signing secret
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log
"ubt on" requires "ubt_signing_secret_file"



=== TEST 2: ubt without ubt_redis
--- http_config
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log
neither "ubt_redis" nor "ubt_redis_cluster" is set in the http block, but ubt is used



=== TEST 3: provisioning without ubt_redis
--- http_config
    ubt_provision_secret_file $TEST_NGINX_UBT_DIR/provision.secret;
--- config
    location /t {
        ubt_provision;
    }
--- request
GET /t
--- must_die
--- error_log
neither "ubt_redis" nor "ubt_redis_cluster" is set in the http block, but ubt is used



=== TEST 4: nonce window shorter than twice the skew
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
--- config
    location /t {
        ubt on;
        ubt_nonce_ttl 100s;
    }
--- request
GET /t
--- must_die
--- error_log
"ubt_nonce_ttl" 100000ms is shorter than twice "ubt_time_skew" 300s



=== TEST 5: inherited nonce window shorter than twice the skew
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
    ubt_nonce_ttl 700s;
--- config
    location /t {
        ubt on;
        ubt_time_skew 600s;
    }
--- request
GET /t
--- must_die
--- error_log
"ubt_nonce_ttl" 700000ms is shorter than twice "ubt_time_skew" 600s



=== TEST 6: zero skew
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
--- config
    location /t {
        ubt on;
        ubt_time_skew 0;
    }
--- request
GET /t
--- must_die
--- error_log
"ubt_time_skew" must be at least 1s



=== TEST 7: invalid default plan
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
--- config
    location /t {
        ubt on;
        ubt_default_plan "free plan";
    }
--- request
GET /t
--- must_die
--- error_log
invalid plan name "free plan"



=== TEST 8: provisioning in a ubt location
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
    ubt_provision_secret_file $TEST_NGINX_UBT_DIR/provision.secret;
--- config
    location /t {
        ubt on;
        ubt_provision;
    }
--- request
GET /t
--- must_die
--- error_log
"ubt_provision" cannot be used in a location with "ubt on"



=== TEST 9: provisioning without its secret
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
--- config
    location /t {
        ubt_provision;
    }
--- request
GET /t
--- must_die
--- error_log
"ubt_provision" requires "ubt_provision_secret_file"



=== TEST 10: one secret for signing and provisioning
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
--- config
    location /t {
        ubt on;
        ubt_provision_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
    }
--- request
GET /t
--- must_die
--- error_log
the signing secret and the provisioning secret must differ



=== TEST 11: secret too short
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/short.secret;
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log
short.secret" is shorter than 16 bytes



=== TEST 12: secret file missing
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file /nonexistent/ubt-signing.secret;
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log
open() "/nonexistent/ubt-signing.secret" failed



=== TEST 13: signing secret set twice
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log
"ubt_signing_secret_file" directive is duplicate



=== TEST 14: unknown redis parameter
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=5;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log
invalid parameter "timeout=5"



=== TEST 15: invalid database number
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT db=x;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log
invalid database number "db=x"



=== TEST 16: redis address twice
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log
"ubt_redis" directive is duplicate



=== TEST 17: invalid redis port
--- http_config
    ubt_redis 127.0.0.1:99999;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log
invalid port in redis address "127.0.0.1:99999"



=== TEST 18: unix socket without a path
--- http_config
    ubt_redis unix:;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log
no path in redis address "unix:"



=== TEST 19: redis password file missing
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT password_file=/nonexistent/redis.pass;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log
open() "/nonexistent/redis.pass" failed



=== TEST 20: invalid log level
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
--- config
    location /t {
        ubt on;
        ubt_log_level debug;
    }
--- request
GET /t
--- must_die
--- error_log
invalid value "debug"



=== TEST 21: key cache too large
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
    ubt_key_cache_size 2000000;
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log
value must be between 0 and 1048576



=== TEST 22: ubt_redis in a location
--- http_config
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
--- config
    location /t {
        ubt on;
        ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    }
--- request
GET /t
--- must_die
--- error_log
"ubt_redis" directive is not allowed here



=== TEST 23: admin API in an exact location
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_provision_secret_file $TEST_NGINX_UBT_DIR/provision.secret;
--- config
    location = /t {
        ubt_admin;
    }
--- request
GET /t
--- must_die
--- error_log
"ubt_admin" needs a prefix location that ends with "/"



=== TEST 24: admin API without its secret
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /t/ {
        ubt_admin;
    }
--- request
GET /t
--- must_die
--- error_log
"ubt_admin" requires "ubt_provision_secret_file"



=== TEST 25: admin API in a ubt location
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
    ubt_provision_secret_file $TEST_NGINX_UBT_DIR/provision.secret;
--- config
    location /t/ {
        ubt on;
        ubt_admin;
    }
--- request
GET /t
--- must_die
--- error_log
"ubt_admin" cannot be used in a location with "ubt on"



=== TEST 26: check-update without ubt
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
--- config
    location /t {
        ubt_check_update;
    }
--- request
GET /t
--- must_die
--- error_log
"ubt_check_update" requires "ubt on" in its location



=== TEST 27: log-update without ubt
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
--- config
    location /t {
        ubt_log_update;
    }
--- request
GET /t
--- must_die
--- error_log
"ubt_log_update" requires "ubt on" in its location



=== TEST 28: rate per week
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
    ubt_plan FREE 30r/w;
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log
invalid rate "30r/w" of plan "FREE"



=== TEST 29: zero rate
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
    ubt_plan FREE 0r/s;
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log
invalid rate "0r/s" of plan "FREE"



=== TEST 30: rate that is a word
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
    ubt_plan FREE lots;
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log
invalid rate "lots" of plan "FREE"



=== TEST 31: burst of an unlimited plan
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
    ubt_plan FREE 1r/s;
    ubt_plan MAX unlimited burst=5;
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log
invalid parameter "burst=5" of plan "MAX"



=== TEST 32: zero burst
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
    ubt_plan FREE 10r/s burst=0;
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log
invalid parameter "burst=0" of plan "FREE"



=== TEST 33: plan defined twice
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
    ubt_plan FREE 10r/s;
    ubt_plan free 20r/s;
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log
plan "FREE" is defined twice



=== TEST 34: default plan not defined
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
    ubt_plan PRO 10r/s;
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log
default plan "FREE" is not defined by "ubt_plan"



=== TEST 35: plan in a location
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
--- config
    location /t {
        ubt on;
        ubt_plan FREE 1r/s;
    }
--- request
GET /t
--- must_die
--- error_log
"ubt_plan" directive is not allowed here



=== TEST 36: invalid rate limit header mode
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
--- config
    location /t {
        ubt on;
        ubt_rate_limit_headers draft;
    }
--- request
GET /t
--- must_die
--- error_log
invalid value "draft"



=== TEST 37: audit stream too short
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
    ubt_audit_max_len 10;
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log
value must be between 100 and 100000000



=== TEST 38: cluster together with ubt_redis
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_redis_cluster 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location = /t {
        ubt_health;
    }
--- request
GET /t
--- must_die
--- error_log
"ubt_redis_cluster" directive cannot be used with "ubt_redis"



=== TEST 39: cluster with a database
--- http_config
    ubt_redis_cluster 127.0.0.1:$TEST_NGINX_REDIS_PORT db=1;
--- config
    location = /t {
        ubt_health;
    }
--- request
GET /t
--- must_die
--- error_log
invalid parameter "db=1"



=== TEST 40: cluster node on a unix socket
--- http_config
    ubt_redis_cluster unix:/run/redis.sock;
--- config
    location = /t {
        ubt_health;
    }
--- request
GET /t
--- must_die
--- error_log
cluster node "unix:/run/redis.sock" must be an IP address and port



=== TEST 41: cluster without a node
--- http_config
    ubt_redis_cluster password_file=$TEST_NGINX_UBT_DIR/signing.secret;
--- config
    location = /t {
        ubt_health;
    }
--- request
GET /t
--- must_die
--- error_log
no cluster node in "ubt_redis_cluster"



=== TEST 42: cluster node with a bad port
--- http_config
    ubt_redis_cluster 127.0.0.1:$TEST_NGINX_REDIS_PORT 127.0.0.1:99999;
--- config
    location = /t {
        ubt_health;
    }
--- request
GET /t
--- must_die
--- error_log
invalid port in redis address "127.0.0.1:99999"



=== TEST 43: database given twice
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT db=1 db=2;
--- config
    location = /t {
        ubt_health;
    }
--- request
GET /t
--- must_die
--- error_log
duplicate parameter "db=2"



=== TEST 44: provisioning with proxy_pass after it
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_provision_secret_file $TEST_NGINX_UBT_DIR/provision.secret;
--- config
    location /pp/ {
        ubt_provision;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
--- request
GET /pp/
--- must_die
--- error_log
"ubt_provision" cannot be combined with another content handler in location "/pp/"



=== TEST 45: health after proxy_pass
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /h {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT;
        ubt_health;
    }
--- request
GET /h
--- must_die
--- error_log
"ubt_health" cannot be combined with another content handler in location "/h"



=== TEST 46: two of the module's content handlers
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location = /m {
        ubt_health;
        ubt_metrics;
    }
--- request
GET /m
--- must_die
--- error_log
"ubt_metrics" cannot be combined with another content handler in location "/m"



=== TEST 47: metrics twice
--- config
    location = /m {
        ubt_metrics;
        ubt_metrics;
    }
--- request
GET /m
--- must_die
--- error_log
"ubt_metrics" directive is duplicate



=== TEST 48: host name resolved at startup
--- http_config
    ubt_redis localhost:$TEST_NGINX_REDIS_PORT;
--- config
    location = /t {
        ubt_health;
    }
--- request
GET /t
--- error_code: 200
--- response_body_like: ^\{"ok":true,"request_id":"[0-9a-f]{32}"\}$
--- no_error_log
[error]
[alert]



=== TEST 49: database selected
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT db=3;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;

    server {
        listen 127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
        return 200 "reached\n";
    }
--- config
    location /t {
        ubt on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
    }
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /t
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001')
--- error_code: 401
--- response_body_like: "reason":"UNKNOWN_KEY"
--- error_log
ubt rejected request: UNKNOWN_KEY
--- no_error_log
[alert]



=== TEST 50: secret readable by all users
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/readable.secret;
--- config
    location = /t {
        ubt_health;
    }
--- request
GET /t
--- error_code: 200
--- response_body_like: ^\{"ok":true,
--- error_log
readable.secret" is readable by all users
--- no_error_log
[alert]
