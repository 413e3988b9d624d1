# Known-answer vectors for the request signature.  The expected values were
# computed outside the project with
#     printf '%s' '<ts>.<user_id>.<nonce>' | openssl dgst -sha256 -hmac SECRET
# and the timestamps are fixed, so the location accepts a ten-year skew.

use Test::Nginx::Socket;
use FindBin;
use lib $FindBin::Bin;
use UbtTest;

repeat_each(1);

plan tests => repeat_each() * (4 * blocks());

no_long_string();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: vector with a numeric user id
--- http_config eval: $UbtTest::HttpConfig
--- config
    location /api/ {
        ubt on;
        ubt_time_skew 3650d;
        proxy_pass http://ubt_backend;
    }
--- init
UbtTest::flush();
UbtTest::seed('123456789', UbtTest::key('live', 'kat1'));
--- request
GET /api/v1/me
--- more_headers eval
"X-UBT-API-KEY: " . UbtTest::key('live', 'kat1') . "
X-UBT-USER-ID: 123456789
X-UBT-TS: 1700000000000
X-UBT-NONCE: abcdefgh12345678
X-UBT-SIGN: 05fba4f43675b7e597235767e279fc4114d35d6d9c55f1e52e14502c338a8e11
"
--- error_code: 200
--- response_body_like: ^user=123456789\n
--- no_error_log
[error]
[alert]



=== TEST 2: vector with the longest nonce
--- http_config eval: $UbtTest::HttpConfig
--- config
    location /api/ {
        ubt on;
        ubt_time_skew 3650d;
        proxy_pass http://ubt_backend;
    }
--- init
UbtTest::flush();
UbtTest::seed('user_A-9', UbtTest::key('live', 'kat2'));
--- request
GET /api/v1/me
--- more_headers eval
"X-UBT-API-KEY: " . UbtTest::key('live', 'kat2') . "
X-UBT-USER-ID: user_A-9
X-UBT-TS: 1790000000000
X-UBT-NONCE: Zz09_-Zz09_-Zz09_-Zz09_-Zz09_-Zz09_-Zz09_-Zz09_-Zz09_-Zz09_-abcd
X-UBT-SIGN: 73A0DD4E8951F335FFD3C0AC6F00C88B587B7A7452F99B19C2D4F21FBD29FC78
"
--- error_code: 200
--- response_body_like: ^user=user_A-9\n
--- no_error_log
[error]
[alert]



=== TEST 3: vector with its last digit changed
--- http_config eval: $UbtTest::HttpConfig
--- config
    location /api/ {
        ubt on;
        ubt_time_skew 3650d;
        proxy_pass http://ubt_backend;
    }
--- init
UbtTest::flush();
UbtTest::seed('123456789', UbtTest::key('live', 'kat1'));
--- request
GET /api/v1/me
--- more_headers eval
"X-UBT-API-KEY: " . UbtTest::key('live', 'kat1') . "
X-UBT-USER-ID: 123456789
X-UBT-TS: 1700000000000
X-UBT-NONCE: abcdefgh12345678
X-UBT-SIGN: 05fba4f43675b7e597235767e279fc4114d35d6d9c55f1e52e14502c338a8e10
"
--- error_code: 401
--- response_body_like: "reason":"BAD_SIGNATURE"
--- error_log
ubt rejected request: BAD_SIGNATURE, claimed user "123456789"
--- no_error_log
[alert]



=== TEST 4: vector without the user id header
--- http_config eval: $UbtTest::HttpConfig
--- config
    location /api/ {
        ubt on;
        ubt_time_skew 3650d;
        proxy_pass http://ubt_backend;
    }
--- init
UbtTest::flush();
UbtTest::seed('123456789', UbtTest::key('live', 'kat1'));
--- request
GET /api/v1/me
--- more_headers eval
"X-UBT-API-KEY: " . UbtTest::key('live', 'kat1') . "
X-UBT-TS: 1700000000000
X-UBT-NONCE: abcdefgh12345678
X-UBT-SIGN: 05fba4f43675b7e597235767e279fc4114d35d6d9c55f1e52e14502c338a8e11
"
--- error_code: 200
--- response_body_like: ^user=123456789\n
--- no_error_log
[error]
[alert]
