# Redis failures: the gateway answers 503 UNAVAILABLE, names the cause in
# the error log, and recovers the script cache by itself.

use Test::Nginx::Socket;
use FindBin;
use lib $FindBin::Bin;
use UbtTest;

repeat_each(1);

# four checks a request (status, body, two error-log patterns); one block
# also checks a header, one sends a second request, and one checks three
# log patterns but no response
plan tests => repeat_each() * (4 * blocks() + 1 + 4 - 1);

no_long_string();
no_shuffle();
run_tests();

__DATA__
=== TEST 1: signed request while redis is down
--- http_config
    ubt_redis 127.0.0.1:1;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;

    server {
        listen 127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
        return 200 "reached $http_x_ubt_user_id\n";
    }
--- config
    location /api/ {
        ubt on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
    }

    location = /health {
        ubt_health;
    }

    location = /plain {
        return 200 "plain\n";
    }
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001')
--- error_code: 503
--- response_body_like: ^\{"ok":false,"status":"UNAVAILABLE","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: UNAVAILABLE
--- no_error_log
[alert]



=== TEST 2: health while redis is down
--- http_config
    ubt_redis 127.0.0.1:1;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;

    server {
        listen 127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
        return 200 "reached $http_x_ubt_user_id\n";
    }
--- config
    location /api/ {
        ubt on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
    }

    location = /health {
        ubt_health;
    }

    location = /plain {
        return 200 "plain\n";
    }
--- request
GET /health
--- error_code: 503
--- response_body_like: ^\{"ok":false,"status":"UNAVAILABLE","request_id":"[0-9a-f]{32}"\}$
--- error_log
connect to redis failed
--- no_error_log
[alert]



=== TEST 3: provisioning while redis is down
--- http_config
    ubt_redis 127.0.0.1:1;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
    ubt_provision_secret_file $TEST_NGINX_UBT_DIR/provision.secret;
    server {
        listen 127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
        return 200 "reached $http_x_ubt_user_id\n";
    }
--- config
    location = /issue {
        ubt_provision;
    }
--- request
POST /issue
{"user_id": 555}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"
--- error_code: 503
--- response_body_like: ^\{"ok":false,"status":"UNAVAILABLE","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt request failed: UNAVAILABLE, redis is not connected
--- no_error_log
[alert]



=== TEST 4: health while redis is up
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;

    server {
        listen 127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
        return 200 "reached $http_x_ubt_user_id\n";
    }
--- config
    location /api/ {
        ubt on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
    }

    location = /health {
        ubt_health;
    }

    location = /plain {
        return 200 "plain\n";
    }
--- request
GET /health
--- error_code: 200
--- response_body_like: ^\{"ok":true,"request_id":"[0-9a-f]{32}"\}$
--- no_error_log
[error]
[alert]



=== TEST 5: health takes GET only
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;

    server {
        listen 127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
        return 200 "reached $http_x_ubt_user_id\n";
    }
--- config
    location /api/ {
        ubt on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
    }

    location = /health {
        ubt_health;
    }

    location = /plain {
        return 200 "plain\n";
    }
--- request
POST /health
--- error_code: 405
--- response_headers
Allow: GET, HEAD
--- response_body_like: "status":"METHOD_NOT_ALLOWED"
--- no_error_log
[error]
[alert]



=== TEST 6: redis too slow
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
    ubt_redis_timeout 200ms;
    server {
        listen 127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
        return 200 "reached $http_x_ubt_user_id\n";
    }
--- config
    location /api/ {
        ubt on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
    }

    location = /health {
        ubt_health;
    }

    location = /plain {
        return 200 "plain\n";
    }
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
UbtTest::redis('CLIENT', 'PAUSE', 1500, 'ALL');
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001')
--- timeout: 1
--- error_code: 503
--- response_body_like: ^\{"ok":false,"status":"UNAVAILABLE","request_id":"[0-9a-f]{32}"\}$
--- error_log
redis command timed out after 200 ms
--- no_error_log
[alert]



=== TEST 7: plain location served while redis is paused
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
    ubt_redis_timeout 300ms;
    server {
        listen 127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
        return 200 "reached $http_x_ubt_user_id\n";
    }
--- config
    location /api/ {
        ubt on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
    }

    location = /health {
        ubt_health;
    }

    location = /plain {
        return 200 "plain\n";
    }
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
UbtTest::redis('CLIENT', 'PAUSE', 1500, 'ALL');
--- request eval
["GET /api/v1/me", "GET /plain"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001'), ""]
--- timeout: 1
--- error_code eval
[503, 200]
--- response_body_like eval
[qr/"status":"UNAVAILABLE"/, qr/^plain$/]
--- no_error_log
[alert]
[crit]



=== TEST 8: lost script cache recovered
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;

    # the health check of the init goes to this server, which speaks
    # HTTP/1.1 also when the test server runs HTTP/2
    server {
        listen 127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;

        location = /health {
            ubt_health;
        }

        location / {
            return 200 "reached $http_x_ubt_user_id\n";
        }
    }
--- config
    location /api/ {
        ubt on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
    }

    location = /health {
        ubt_health;
    }

    location = /plain {
        return 200 "plain\n";
    }
--- init
# nginx sends SCRIPT LOAD when it connects to Redis, and that can reach
# Redis after the SCRIPT FLUSH below: under valgrind, or while the pause
# that the block before left holds it back.  Our PING waits out the
# pause, and /health goes over nginx's connection, so its 200 means that
# Redis has run those loads.
UbtTest::redis('PING');
UbtTest::status_of('/health', '', $ENV{TEST_NGINX_UBT_BACKEND_PORT}) == 200
    or die "health is not 200\n";
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
UbtTest::redis('SCRIPT', 'FLUSH');
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001')
--- error_code: 200
--- response_body
reached 1001
--- error_log
redis lost script
--- no_error_log
[error]



=== TEST 9: authentication refused
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT password_file=$TEST_NGINX_UBT_DIR/provision.secret;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;

    server {
        listen 127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
        return 200 "reached $http_x_ubt_user_id\n";
    }
--- config
    location /api/ {
        ubt on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
    }

    location = /health {
        ubt_health;
    }

    location = /plain {
        return 200 "plain\n";
    }
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001')
--- error_code: 503
--- response_body_like: ^\{"ok":false,"status":"UNAVAILABLE","request_id":"[0-9a-f]{32}"\}$
--- error_log
redis AUTH failed
--- no_error_log
[alert]



=== TEST 10: error reply from the check script
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;

    server {
        listen 127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
        return 200 "reached $http_x_ubt_user_id\n";
    }
--- config
    location /api/ {
        ubt on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
    }

    location = /health {
        ubt_health;
    }

    location = /plain {
        return 200 "plain\n";
    }
--- init
UbtTest::flush();
UbtTest::redis('SET', 'ubt:{u:1001}', 'not a hash');
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001')
--- error_code: 503
--- response_body_like: ^\{"ok":false,"status":"UNAVAILABLE","request_id":"[0-9a-f]{32}"\}$
--- error_log
redis replied with error "WRONGTYPE
--- no_error_log
[alert]



=== TEST 11: client gone while redis is paused
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
    ubt_redis_timeout 2s;
    server {
        listen 127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
        return 200 "reached $http_x_ubt_user_id\n";
    }
--- config
    location /api/ {
        ubt on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
    }

    location = /health {
        ubt_health;
    }

    location = /plain {
        return 200 "plain\n";
    }
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
UbtTest::redis('CLIENT', 'PAUSE', 800, 'ALL');
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001')
--- timeout: 0.2
--- abort
--- ignore_response
--- wait: 1.2
--- error_log
client prematurely closed connection
ubt redis discarded a late reply
--- no_error_log
[alert]
