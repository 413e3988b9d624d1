# Signed requests in the access phase: the accepted path, the identity
# headers the upstream receives, and every rejection reason.
#
# Every accepted request spends its nonce, so a block cannot be sent twice
# with the same headers: the suites run each block once.

use Test::Nginx::Socket;
use FindBin;
use lib $FindBin::Bin;
use UbtTest;

repeat_each(1);

# each request checks its status, its body or a header, and two error-log
# patterns; some blocks send more than one request
plan tests => repeat_each() * (4 * blocks() + 4 * 7);

no_long_string();
no_shuffle();
UbtTest::use_defaults($UbtTest::GatewayConfig);
run_tests();

__DATA__
=== TEST 1: accepted with the user id header
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'), plan => 'PRO', issued_id => '01JPROISSUED0000000000000');
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001')
--- error_code: 200
--- response_body
user=1001
plan=PRO
issued=01JPROISSUED0000000000000
env=live
key=
live_key=
ts=
nonce=
sign=
provision=
other=
--- no_error_log
[error]
[alert]



=== TEST 2: accepted without the user id header
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', header_user => undef)
--- error_code: 200
--- response_body
user=1001
plan=FREE
issued=01JTESTISSUEDID0000000000
env=live
key=
live_key=
ts=
nonce=
sign=
provision=
other=
--- no_error_log
[error]
[alert]



=== TEST 3: forged identity headers replaced
--- config
    underscores_in_headers on;

    location /api/ {
        ubt on;
        proxy_pass http://ubt_backend;
    }
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001')
  . "X-UBT-Plan: MAX\nX-Ubt-Issued-Id: forged\nX_UBT_KEY_ENV: test\n"
  . "x-ubt-plan: MAX\nX-UBT-PROVISION: not-for-upstream\nX-UBT-Version: 1.0.11\n"
--- error_code: 200
--- response_body
user=1001
plan=FREE
issued=01JTESTISSUEDID0000000000
env=live
key=
live_key=
ts=
nonce=
sign=
provision=
other=1.0.11
--- no_error_log
[error]
[alert]



=== TEST 4: variables after acceptance
--- config
    location /api/ {
        ubt on;
        add_header X-Seen "$ubt_user_id/$ubt_plan/$ubt_issued_id/$ubt_key_env/$ubt_status" always;
        proxy_pass http://ubt_backend;
    }
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'), plan => 'MAX');
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001')
--- error_code: 200
--- response_headers
X-Seen: 1001/MAX/01JTESTISSUEDID0000000000/live/OK
--- no_error_log
[error]
[alert]



=== TEST 5: variables after a rejection
--- config
    location /api/ {
        ubt on;
        add_header X-Seen "[$ubt_user_id][$ubt_plan][$ubt_status]" always;
        proxy_pass http://ubt_backend;
    }
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', sign => '0' x 64)
--- error_code: 401
--- response_headers
X-Seen: [][][BAD_SIGNATURE]
--- error_log
ubt rejected request: BAD_SIGNATURE
--- no_error_log
[alert]



=== TEST 6: credentials forwarded when enabled
--- config
    location /api/ {
        ubt on;
        ubt_forward_credentials on;
        proxy_pass http://ubt_backend;
    }
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', ts => UbtTest::now_ms() - 1000, nonce => 'forwarded-nonce-1')
--- error_code: 200
--- response_body_like: ^user=1001\nplan=FREE\nissued=\w+\nenv=live\nkey=ubt_live_\w{49}\nlive_key=\nts=\d{13}\nnonce=forwarded-nonce-1\nsign=[0-9a-f]{64}\nprovision=\nother=\n$
--- no_error_log
[error]
[alert]



=== TEST 7: no credentials
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MISSING_KEY","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MISSING_KEY
--- no_error_log
[alert]



=== TEST 8: empty key header
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers
X-UBT-API-KEY:
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MISSING_KEY","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MISSING_KEY
--- no_error_log
[alert]



=== TEST 9: key of the wrong format
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => 'ubt_live_not-a-key', user => '1001')
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MALFORMED_KEY","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MALFORMED_KEY
--- no_error_log
[alert]



=== TEST 10: key with a wrong checksum
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => do { my $k = UbtTest::key('live', 'u1001'); substr($k, -1, 1) = substr($k, -1, 1) eq 'A' ? 'B' : 'A'; $k }, user => '1001')
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MALFORMED_KEY","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MALFORMED_KEY
--- no_error_log
[alert]



=== TEST 11: key with an unknown prefix
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => do { my $k = UbtTest::key('live', 'u1001'); $k =~ s/^ubt_live_/ubt_prod_/; $k }, user => '1001')
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MALFORMED_KEY","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MALFORMED_KEY
--- no_error_log
[alert]



=== TEST 12: key with a non-ASCII byte
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => do { my $k = UbtTest::key('live', 'u1001'); substr($k, 20, 1) = "\xc3"; $k }, user => '1001')
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MALFORMED_KEY","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MALFORMED_KEY
--- no_error_log
[alert]



=== TEST 13: test key where test keys are off
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('test', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('test', 'u1001'), user => '1001')
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"TEST_KEY_NOT_ALLOWED","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: TEST_KEY_NOT_ALLOWED
--- no_error_log
[alert]



=== TEST 14: test key where test keys are on
--- config
    location /api/ {
        ubt on;
        ubt_allow_test_keys on;
        proxy_pass http://ubt_backend;
    }
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('test', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('test', 'u1001'), user => '1001')
--- error_code: 200
--- response_body
user=1001
plan=FREE
issued=01JTESTISSUEDID0000000000
env=test
key=
live_key=
ts=
nonce=
sign=
provision=
other=
--- no_error_log
[error]
[alert]



=== TEST 15: unknown key with the user id header
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'never-issued'), user => '1001')
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"UNKNOWN_KEY","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: UNKNOWN_KEY
--- no_error_log
[alert]



=== TEST 16: unknown key without the user id header
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'never-issued'), user => '1001', header_user => undef)
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"UNKNOWN_KEY","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: UNKNOWN_KEY
--- no_error_log
[alert]



=== TEST 17: revoked key of another user
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001-new'));
UbtTest::revoke('1001', UbtTest::key('live', 'u1001'));
UbtTest::seed('1002', UbtTest::key('live', 'u1002'));
--- request eval
["GET /api/v1/me", "GET /api/v1/me"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1002'),
 UbtTest::headers(key => UbtTest::key('live', 'u1001-new'), user => '1001')]
--- error_code eval
[401, 200]
--- response_body_like eval
[qr/"reason":"UNKNOWN_KEY"/, qr/^user=1001\n/]
--- no_error_log
[error]
[alert]



=== TEST 18: unknown user
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'never-issued'), user => '999999')
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"UNKNOWN_KEY","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: UNKNOWN_KEY, claimed user "999999"
--- no_error_log
[alert]



=== TEST 19: key of another user disconnects its owner
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
UbtTest::seed('1002', UbtTest::key('live', 'u1002'));
--- request eval
["GET /api/v1/me", "GET /api/v1/me", "GET /api/v1/me"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1002'),
 UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001'),
 UbtTest::headers(key => UbtTest::key('live', 'u1002'), user => '1002')]
--- error_code eval
[403, 403, 200]
--- response_body_like eval
[qr/^\{"ok":false,"status":"DISCONNECTED","reason":"IDENTITY_MISMATCH","request_id":"[0-9a-f]{32}"\}$/,
 qr/^\{"ok":false,"status":"DISCONNECTED","request_id"/,
 qr/^user=1002\n/]
--- no_error_log
[error]
[alert]



=== TEST 20: key of another user without its header
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
UbtTest::seed('1002', UbtTest::key('live', 'u1002'));
--- request eval
["GET /api/v1/me", "GET /api/v1/me"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1002', header_user => undef),
 UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001')]
--- error_code eval
[401, 200]
--- response_body_like eval
[qr/"reason":"BAD_SIGNATURE"/, qr/^user=1001\n/]
--- no_error_log
[error]
[alert]



=== TEST 21: revoked key
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001-new'));
UbtTest::revoke('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001')
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"REVOKED_KEY","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: REVOKED_KEY
--- no_error_log
[alert]



=== TEST 22: revoked key without the user id header
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001-new'));
UbtTest::revoke('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', header_user => undef)
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"REVOKED_KEY","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: REVOKED_KEY
--- no_error_log
[alert]



=== TEST 23: no signature headers
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
"X-UBT-API-KEY: " . UbtTest::key('live', 'u1001') . "\nX-UBT-USER-ID: 1001\n"
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MISSING_SIGNATURE","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MISSING_SIGNATURE
--- no_error_log
[alert]



=== TEST 24: no timestamp
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
my $h = UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001'); $h =~ s/^X-UBT-TS:.*\n//m; $h
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MISSING_SIGNATURE","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MISSING_SIGNATURE, header "x-ubt-ts"
--- no_error_log
[alert]



=== TEST 25: no nonce
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
my $h = UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001'); $h =~ s/^X-UBT-NONCE:.*\n//m; $h
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MISSING_SIGNATURE","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MISSING_SIGNATURE, header "x-ubt-nonce"
--- no_error_log
[alert]



=== TEST 26: empty signature
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
my $h = UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001'); $h =~ s/^X-UBT-SIGN:.*\n/X-UBT-SIGN:\n/m; $h
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MISSING_SIGNATURE","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MISSING_SIGNATURE, header "x-ubt-sign"
--- no_error_log
[alert]



=== TEST 27: timestamp with a letter
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', ts => '17964172812a5')
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MALFORMED_HEADER","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MALFORMED_HEADER, header "x-ubt-ts"
--- no_error_log
[alert]



=== TEST 28: negative timestamp
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', ts => '-1796417281295')
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MALFORMED_HEADER","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MALFORMED_HEADER
--- no_error_log
[alert]



=== TEST 29: timestamp in microseconds
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', ts => UbtTest::now_ms() . '000')
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MALFORMED_HEADER","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MALFORMED_HEADER
--- no_error_log
[alert]



=== TEST 30: timestamp that overflows
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', ts => '99999999999999999999999')
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MALFORMED_HEADER","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MALFORMED_HEADER
--- no_error_log
[alert]



=== TEST 31: timestamp with a fraction
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', ts => UbtTest::now_ms() . '.5')
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MALFORMED_HEADER","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MALFORMED_HEADER
--- no_error_log
[alert]



=== TEST 32: nonce too short
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', nonce => 'abc1234')
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MALFORMED_HEADER","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MALFORMED_HEADER
--- no_error_log
[alert]



=== TEST 33: nonce too long
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', nonce => 'a' x 65)
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MALFORMED_HEADER","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MALFORMED_HEADER
--- no_error_log
[alert]



=== TEST 34: nonce with the signing delimiter
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', nonce => 'abcd.efgh1234')
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MALFORMED_HEADER","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MALFORMED_HEADER
--- no_error_log
[alert]



=== TEST 35: nonce with a space
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', nonce => 'abcd efgh1234')
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MALFORMED_HEADER","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MALFORMED_HEADER
--- no_error_log
[alert]



=== TEST 36: signature one digit short
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', sign => 'a' x 63)
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MALFORMED_HEADER","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MALFORMED_HEADER
--- no_error_log
[alert]



=== TEST 37: signature one digit long
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', sign => 'a' x 65)
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MALFORMED_HEADER","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MALFORMED_HEADER
--- no_error_log
[alert]



=== TEST 38: signature not hex
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', sign => 'g' x 64)
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MALFORMED_HEADER","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MALFORMED_HEADER
--- no_error_log
[alert]



=== TEST 39: user id with the signing delimiter
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001.5')
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MALFORMED_HEADER","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MALFORMED_HEADER
--- no_error_log
[alert]



=== TEST 40: user id too long
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1' x 65)
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MALFORMED_HEADER","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MALFORMED_HEADER
--- no_error_log
[alert]



=== TEST 41: key header twice
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001') . "X-UBT-API-KEY: " . UbtTest::key('live', 'u1001') . "\n"
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"DUPLICATE_HEADER","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: DUPLICATE_HEADER, header "x-ubt-api-key"
--- no_error_log
[alert]



=== TEST 42: key under both names
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001') . "X-UBT-LIVE-API-KEY: " . UbtTest::key('live', 'u1001') . "\n"
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"DUPLICATE_HEADER","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: DUPLICATE_HEADER
--- no_error_log
[alert]



=== TEST 43: timestamp twice in another case
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001') . "x-ubt-ts: 1\n"
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"DUPLICATE_HEADER","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: DUPLICATE_HEADER
--- no_error_log
[alert]



=== TEST 44: signature twice
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001') . "X-Ubt-Sign: " . ('0' x 64) . "\n"
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"DUPLICATE_HEADER","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: DUPLICATE_HEADER
--- no_error_log
[alert]



=== TEST 45: user id twice
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001') . "X-UBT-USER-ID: 1002\n"
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"DUPLICATE_HEADER","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: DUPLICATE_HEADER
--- no_error_log
[alert]



=== TEST 46: underscore spelling counts as a duplicate
--- config
    underscores_in_headers on;

    location /api/ {
        ubt on;
        proxy_pass http://ubt_backend;
    }
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001') . "X_UBT_NONCE: abcdefgh12345678\n"
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"DUPLICATE_HEADER","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: DUPLICATE_HEADER
--- no_error_log
[alert]



=== TEST 47: key under its live name
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
my $h = UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001'); $h =~ s/^X-UBT-API-KEY/X-UBT-LIVE-API-KEY/m; $h
--- error_code: 200
--- response_body
user=1001
plan=FREE
issued=01JTESTISSUEDID0000000000
env=live
key=
live_key=
ts=
nonce=
sign=
provision=
other=
--- no_error_log
[error]
[alert]



=== TEST 48: signature with another secret
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', sign => UbtTest::sign(UbtTest::now_ms(), '1001', 'abcdefgh', 'another-secret-0123456789'))
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"BAD_SIGNATURE","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: BAD_SIGNATURE, claimed user "1001"
--- no_error_log
[alert]



=== TEST 49: signature for another user id
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
my $ts = UbtTest::now_ms(); UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', ts => $ts, nonce => "nonce-other-user", sign => UbtTest::sign($ts, "1002", "nonce-other-user"))
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"BAD_SIGNATURE","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: BAD_SIGNATURE
--- no_error_log
[alert]



=== TEST 50: signature for another timestamp
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
my $ts = UbtTest::now_ms(); UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', ts => $ts, nonce => "nonce-other-ts", sign => UbtTest::sign($ts - 1, "1001", "nonce-other-ts"))
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"BAD_SIGNATURE","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: BAD_SIGNATURE
--- no_error_log
[alert]



=== TEST 51: signature in upper case
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
my $ts = UbtTest::now_ms(); UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', ts => $ts, nonce => "nonce-upper-case", sign => uc UbtTest::sign($ts, "1001", "nonce-upper-case"))
--- error_code: 200
--- response_body
user=1001
plan=FREE
issued=01JTESTISSUEDID0000000000
env=live
key=
live_key=
ts=
nonce=
sign=
provision=
other=
--- no_error_log
[error]
[alert]



=== TEST 52: timestamp too old
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', ts => UbtTest::now_ms() - 7_200_000)
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"STALE_TIMESTAMP","server_time_ms":\d{13},"request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: STALE_TIMESTAMP
--- no_error_log
[alert]



=== TEST 53: timestamp too far ahead
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', ts => UbtTest::now_ms() + 7_200_000)
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"STALE_TIMESTAMP","server_time_ms":\d{13},"request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: STALE_TIMESTAMP
--- no_error_log
[alert]



=== TEST 54: timestamp in seconds
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', ts => int(UbtTest::now_ms() / 1000))
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"STALE_TIMESTAMP","server_time_ms":\d{13},"request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: STALE_TIMESTAMP
--- no_error_log
[alert]



=== TEST 55: narrower skew
--- config
    location /api/ {
        ubt on;
        ubt_time_skew 30s;
        proxy_pass http://ubt_backend;
    }
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', ts => UbtTest::now_ms() - 60_000)
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"STALE_TIMESTAMP","server_time_ms":\d{13},"request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: STALE_TIMESTAMP
--- no_error_log
[alert]



=== TEST 56: replayed nonce
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request eval
["GET /api/v1/me", "GET /api/v1/me"]
--- more_headers eval
my $h = UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', nonce => 'replayed-nonce-01'); [$h, $h]
--- error_code eval
[200, 401]
--- response_body_like eval
[qr/^user=1001\n/, qr/"reason":"REPLAYED_NONCE"/]
--- no_error_log
[error]
[alert]



=== TEST 57: same nonce for two users
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
UbtTest::seed('1002', UbtTest::key('live', 'u1002'));
--- request eval
["GET /api/v1/me", "GET /api/v1/me"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', nonce => 'shared-nonce-01'),
 UbtTest::headers(key => UbtTest::key('live', 'u1002'), user => '1002', nonce => 'shared-nonce-01')]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^user=1001\n/, qr/^user=1002\n/]
--- no_error_log
[error]
[alert]



=== TEST 58: bad signature spends no nonce
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request eval
["GET /api/v1/me", "GET /api/v1/me"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', nonce => 'unspent-nonce-01', sign => 'f' x 64),
 UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', nonce => 'unspent-nonce-01')]
--- error_code eval
[401, 200]
--- response_body_like eval
[qr/"reason":"BAD_SIGNATURE"/, qr/^user=1001\n/]
--- no_error_log
[error]
[alert]



=== TEST 59: disconnected user
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'), status => 'DISCONNECTED');
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001')
--- error_code: 403
--- response_body_like: ^\{"ok":false,"status":"DISCONNECTED","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: DISCONNECTED, user "1001"
--- no_error_log
[alert]



=== TEST 60: status in another case
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'), status => 'banned');
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001')
--- error_code: 403
--- response_body_like: ^\{"ok":false,"status":"DISCONNECTED","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: DISCONNECTED, user "1001"
--- no_error_log
[alert]



=== TEST 61: no status in the user record
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
UbtTest::redis('HDEL', 'ubt:{u:1001}', 'status');
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001')
--- error_code: 403
--- response_body_like: ^\{"ok":false,"status":"DISCONNECTED","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: DISCONNECTED, user "1001"
--- no_error_log
[alert]



=== TEST 62: banned user
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'), status => 'BANNED');
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001')
--- error_code: 403
--- response_body_like: ^\{"ok":false,"status":"BANNED","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: BANNED, user "1001"
--- no_error_log
[alert]



=== TEST 63: rejection of a HEAD request
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
HEAD /api/v1/me
--- error_code: 401
--- response_body_like: ^$
--- error_log
ubt rejected request: MISSING_KEY
--- no_error_log
[alert]



=== TEST 64: rejection discards the request body
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
POST /api/v1/me
{"payload":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MISSING_KEY","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MISSING_KEY
--- no_error_log
[alert]



=== TEST 65: no secret in the module debug log
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001')
--- error_code: 200
--- response_body_like: ^user=1001\n
--- no_error_log eval
[qr/: (?:\*\d+ )?ubt [^\n]*ubt_live_/, qr/: (?:\*\d+ )?ubt [^\n]*\Q$UbtTest::SigningSecret\E/]



=== TEST 66: location without ubt is untouched
--- config
    location /api/ {
        ubt on;
        proxy_pass http://ubt_backend;
    }

    location = /plain {
        return 200 "plain\n";
    }
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /plain
--- error_code: 200
--- response_body
plain
--- no_error_log
[error]
[alert]



=== TEST 67: internal redirect spends the nonce once
--- config
    location /api/ {
        ubt on;
        proxy_pass http://ubt_backend/missing;
        proxy_intercept_errors on;
        error_page 404 = @fallback;
    }

    location @fallback {
        ubt on;
        proxy_pass http://ubt_backend;
    }
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001')
--- error_code: 200
--- response_body
user=1001
plan=FREE
issued=01JTESTISSUEDID0000000000
env=live
key=
live_key=
ts=
nonce=
sign=
provision=
other=
--- no_error_log
[error]
[alert]



=== TEST 68: signature with control bytes that look like digits
Bytes 0x10 to 0x19 with bit 0x20 set are the digits 0 to 9.  Before the
fix, such a signature passed the format check and was rejected later as
BAD_SIGNATURE.
--- init
UbtTest::flush();
UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001', sign => "\x14" x 64)
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","reason":"MALFORMED_HEADER","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: MALFORMED_HEADER
--- no_error_log
[alert]
