# The Prometheus endpoint: every counter family, requests by outcome,
# reason and plan, 429s by plan, Redis round trips, errors and connection
# state, and the keys issued, rotated and revoked through the gateway.

use Test::Nginx::Socket;
use FindBin;
use lib $FindBin::Bin;
use UbtTest;

our $HttpConfig = $UbtTest::HttpConfig . <<'_EOC_';
    ubt_plan FREE 2r/m;
    ubt_plan PRO 600r/m;
_EOC_

our $Config = <<'_EOC_';
    location /api/ {
        ubt on;
        proxy_pass http://ubt_backend;
    }

    location /ubt/admin/ {
        ubt_admin;
    }

    location = /metrics {
        ubt_metrics;
    }
_EOC_

repeat_each(1);

# four checks a request (status, body, two error-log patterns), plus the
# headers that two blocks check
plan tests => repeat_each() * (4 * blocks() + 4 * 13 + 2);

no_long_string();
no_shuffle();
UbtTest::use_defaults($::Config, $::HttpConfig);
run_tests();

__DATA__
=== TEST 1: every family at zero before any request
--- init
UbtTest::flush();
--- request
GET /metrics
--- error_code: 200
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
--- response_body_like eval
qr/\A# HELP ubt_requests_total .+\n# TYPE ubt_requests_total counter\n(?:ubt_requests_total\{outcome="(?:accepted|rejected|error)",reason="[A-Z_]+"\} 0\n){16}# HELP ubt_plan_requests_total .+\n# TYPE ubt_plan_requests_total counter\nubt_plan_requests_total\{plan="FREE"\} 0\nubt_plan_requests_total\{plan="PRO"\} 0\nubt_plan_requests_total\{plan="other"\} 0\n.*ubt_rate_limited_total\{plan="other"\} 0\n# HELP ubt_redis_request_duration_seconds .+\n# TYPE ubt_redis_request_duration_seconds histogram\nubt_redis_request_duration_seconds_bucket\{le="0\.000100"\} 0\n.*ubt_redis_request_duration_seconds_bucket\{le="\+Inf"\} 0\nubt_redis_request_duration_seconds_sum 0\.000000\nubt_redis_request_duration_seconds_count 0\n.*ubt_redis_errors_total\{kind="slot_migrating"\} 0\n.*# TYPE ubt_redis_connections gauge\n.*# TYPE ubt_redis_servers gauge\n.*ubt_keys_total\{action="issued"\} 0\nubt_keys_total\{action="rotated"\} 0\nubt_keys_total\{action="revoked"\} 0\n\z/s
--- no_error_log
[error]
[alert]



=== TEST 2: accepted and rejected requests by reason and plan
--- init
UbtTest::flush();
UbtTest::seed('1301', UbtTest::key('live', 'u1301'));
--- request eval
["GET /api/v1/me",
 "GET /api/v1/me",
 "GET /api/v1/me",
 "GET /metrics"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u1301'), user => '1301'),
 UbtTest::headers(key => UbtTest::key('live', 'u1301'), user => '1301',
                  sign => '0' x 64),
 "X-UBT-API-KEY: ubt_live_short\n",
 ""]
--- error_code eval
[200, 401, 401, 200]
--- response_body_like eval
[qr/^user=1301\n/,
 qr/"reason":"BAD_SIGNATURE"/,
 qr/"reason":"MALFORMED_KEY"/,
 qr/\nubt_requests_total\{outcome="accepted",reason="OK"\} 1\n.*\nubt_requests_total\{outcome="rejected",reason="MALFORMED_KEY"\} 1\n.*\nubt_requests_total\{outcome="rejected",reason="BAD_SIGNATURE"\} 1\n.*\nubt_plan_requests_total\{plan="FREE"\} 1\nubt_plan_requests_total\{plan="PRO"\} 0\n.*\nubt_redis_request_duration_seconds_count 1\n/s]
--- no_error_log
[error]
[alert]



=== TEST 3: rate limited requests counted by plan
--- init
UbtTest::flush();
UbtTest::seed('1302', UbtTest::key('live', 'u1302'));
--- request eval
["GET /api/v1/me",
 "GET /api/v1/me",
 "GET /api/v1/me",
 "GET /metrics"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u1302'), user => '1302'),
 UbtTest::headers(key => UbtTest::key('live', 'u1302'), user => '1302'),
 UbtTest::headers(key => UbtTest::key('live', 'u1302'), user => '1302'),
 ""]
--- error_code eval
[200, 200, 429, 200]
--- response_body_like eval
[qr/^user=1302\n/,
 qr/^user=1302\n/,
 qr/"status":"RATE_LIMIT"/,
 qr/\nubt_requests_total\{outcome="accepted",reason="OK"\} 2\n.*\nubt_requests_total\{outcome="rejected",reason="RATE_LIMIT"\} 1\n.*\nubt_plan_requests_total\{plan="FREE"\} 2\n.*\nubt_rate_limited_total\{plan="FREE"\} 1\nubt_rate_limited_total\{plan="PRO"\} 0\n/s]
--- no_error_log
[error]
[alert]



=== TEST 4: a plan override and an unknown plan
--- init
UbtTest::flush();
UbtTest::seed('1303', UbtTest::key('live', 'u1303'), plan => 'PRO');
UbtTest::seed('1304', UbtTest::key('live', 'u1304'), plan => 'GONE');
--- request eval
["GET /api/v1/me",
 "GET /api/v1/me",
 "GET /metrics"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u1303'), user => '1303'),
 UbtTest::headers(key => UbtTest::key('live', 'u1304'), user => '1304'),
 ""]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/^user=1303\nplan=PRO\n/,
 qr/^user=1304\nplan=GONE\n/,
 qr/\nubt_plan_requests_total\{plan="FREE"\} 0\nubt_plan_requests_total\{plan="PRO"\} 1\nubt_plan_requests_total\{plan="other"\} 1\n/s]
--- no_error_log
[error]
[alert]



=== TEST 5: keys issued, rotated and revoked
--- init
UbtTest::flush();
--- request eval
["POST /ubt/admin/keys\n{\"user_id\": 1305}",
 "POST /ubt/admin/keys\n{\"user_id\": 1305}",
 "POST /ubt/admin/users/1305/revoke",
 "GET /metrics"]
--- more_headers eval
["X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 ""]
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
[qr/"user_id":"1305"/,
 qr/"user_id":"1305"/,
 qr/"ok":true/,
 qr/\nubt_keys_total\{action="issued"\} 1\nubt_keys_total\{action="rotated"\} 1\nubt_keys_total\{action="revoked"\} 1\n\z/]
--- no_error_log
[error]
[alert]



=== TEST 6: the worker's connection is ready after a call
--- init
UbtTest::flush();
UbtTest::seed('1306', UbtTest::key('live', 'u1306'));
--- request eval
["GET /api/v1/me",
 "GET /metrics"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u1306'), user => '1306'),
 ""]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^user=1306\n/,
 qr/\nubt_redis_errors_total\{kind="connect"\} 0\n.*\nubt_redis_connections\{worker="0"\} 1\n.*\nubt_redis_servers\{worker="0"\} 1\n/s]
--- no_error_log
[error]
[alert]



=== TEST 7: Redis down: errors by kind, no ready connection
--- http_config eval
# nothing listens on port 1 of the loopback address
$::HttpConfig =~ s/ubt_redis \S+;/ubt_redis 127.0.0.1:1;/r
--- request eval
["GET /api/v1/me",
 "GET /metrics"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u1307'), user => '1307'),
 ""]
--- error_code eval
[503, 200]
--- response_body_like eval
[qr/"status":"UNAVAILABLE"/,
 qr/\nubt_requests_total\{outcome="error",reason="UNAVAILABLE"\} 1\n.*\nubt_redis_errors_total\{kind="connect"\} [1-9]\d*\n.*\nubt_redis_connections\{worker="0"\} 0\n/s]
--- no_error_log
[alert]
[crit]



=== TEST 8: only GET and HEAD
--- request
POST /metrics
--- error_code: 405
--- response_headers
Allow: GET, HEAD
--- response_body_like: "status":"METHOD_NOT_ALLOWED"
--- no_error_log
[error]
[alert]



=== TEST 9: the endpoint without ubt and without Redis
--- http_config
--- config
    location = /metrics {
        ubt_metrics;
    }
--- request
GET /metrics
--- error_code: 200
--- response_body_like: \nubt_requests_total\{outcome="accepted",reason="OK"\} 0\n.*\nubt_redis_servers\{worker="0"\} 0\n
--- no_error_log
[error]
[alert]
