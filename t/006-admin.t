# The admin API: revocation, disconnects, bans, plans, limits, user records
# and the audit trail, each taking effect on the very next request.

use Test::Nginx::Socket;
use FindBin;
use lib $FindBin::Bin;
use UbtTest;

our $Config = <<'_EOC_';
    location /ubt/admin/ {
        ubt_admin;
    }

    location /api/ {
        ubt on;
        proxy_pass http://ubt_backend;
    }
_EOC_

repeat_each(1);

# four checks a request (status, body, two error-log patterns), plus the
# Allow header of one block
plan tests => repeat_each() * (4 * blocks() + 4 * 21 + 1);

no_long_string();
no_shuffle();
UbtTest::use_defaults($::Config);
run_tests();

__DATA__
=== TEST 1: key issued through the admin API
--- init
UbtTest::flush();
--- request eval
"POST /ubt/admin/keys\n{\"user_id\": 700}"
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"
--- error_code: 200
--- response_body_like: ^\{"ok":true,"api_key":"ubt_live_[0-9A-Za-z]{49}","issued_id":"[0-9A-Z]{26}","user_id":"700","plan":"FREE","env":"live","request_id":"[0-9a-f]{32}"\}$
--- no_error_log
[error]
[alert]



=== TEST 2: rotation with a grace period
--- init
UbtTest::flush();
UbtTest::seed('701', UbtTest::key('live', 'u701'));
--- request eval
["POST /ubt/admin/keys\n{\"user_id\": 701, \"grace_seconds\": 60}",
 "GET /api/v1/me"]
--- more_headers eval
["X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 UbtTest::headers(key => UbtTest::key('live', 'u701'), user => '701')]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/"user_id":"701"/,
 qr/^user=701\nplan=FREE\nissued=01JTESTISSUEDID0000000000\n/]
--- no_error_log
[error]
[alert]



=== TEST 3: rotation with a short grace period
--- init
UbtTest::flush();
UbtTest::seed('704', UbtTest::key('live', 'u704'));
--- request eval
["POST /ubt/admin/keys\n{\"user_id\": 704, \"grace_seconds\": 1}",
 "GET /api/v1/me"]
--- more_headers eval
["X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 UbtTest::headers(key => UbtTest::key('live', 'u704'), user => '704')]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/"user_id":"704"/,
 qr/^user=704\n/]
--- no_error_log
[error]
[alert]



=== TEST 4: short grace period over
--- init
Time::HiRes::sleep(1.2);
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u704'), user => '704')
--- error_code: 401
--- response_body_like: "reason":"REVOKED_KEY"
--- error_log
ubt rejected request: REVOKED_KEY
--- no_error_log
[alert]



=== TEST 5: grace period not yet over
--- init
UbtTest::flush();
UbtTest::seed('702', UbtTest::key('live', 'u702'), issued_id => '01JNEWKEY0000000000000000');
UbtTest::redis('HSET', 'ubt:{u:702}', 'digest', Digest::SHA::sha256_hex(UbtTest::key('live', 'new702')),
              'prev_digest', Digest::SHA::sha256_hex(UbtTest::key('live', 'u702')),
              'prev_issued_id', '01JOLDKEY0000000000000000', 'prev_expires', UbtTest::now_ms() + 60_000);
--- request eval
"GET /api/v1/me"
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u702'), user => '702')
--- error_code: 200
--- response_body_like: ^user=702\nplan=FREE\nissued=01JOLDKEY0000000000000000\n
--- no_error_log
[error]
[alert]



=== TEST 6: grace period over
--- init
UbtTest::flush();
UbtTest::seed('703', UbtTest::key('live', 'u703'));
UbtTest::redis('HSET', 'ubt:{u:703}', 'digest', Digest::SHA::sha256_hex(UbtTest::key('live', 'new703')),
              'prev_digest', Digest::SHA::sha256_hex(UbtTest::key('live', 'u703')),
              'prev_issued_id', '01JOLDKEY0000000000000000', 'prev_expires', UbtTest::now_ms() - 1);
UbtTest::revoke('703', UbtTest::key('live', 'u703'));
--- request eval
["GET /api/v1/me",
 "GET /ubt/admin/users/703"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u703'), user => '703'),
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"]
--- error_code eval
[401, 200]
--- response_body_like eval
[qr/"reason":"REVOKED_KEY"/,
 qr/"prev_issued_id":null,"prev_expires":null/]
--- no_error_log
[error]
[alert]



=== TEST 7: revoke takes effect on the next request
--- init
UbtTest::flush();
UbtTest::seed('710', UbtTest::key('live', 'u710'));
--- request eval
["POST /ubt/admin/users/710/revoke",
 "GET /api/v1/me"]
--- more_headers eval
["X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 UbtTest::headers(key => UbtTest::key('live', 'u710'), user => '710')]
--- error_code eval
[200, 401]
--- response_body_like eval
[qr/^\{"ok":true,"user_id":"710","action":"revoke","request_id":"[0-9a-f]{32}"\}$/,
 qr/"reason":"REVOKED_KEY"/]
--- no_error_log
[error]
[alert]



=== TEST 8: disconnect takes effect on the next request
--- init
UbtTest::flush();
UbtTest::seed('711', UbtTest::key('live', 'u711'));
--- request eval
["POST /ubt/admin/users/711/disconnect",
 "GET /api/v1/me"]
--- more_headers eval
["X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 UbtTest::headers(key => UbtTest::key('live', 'u711'), user => '711')]
--- error_code eval
[200, 403]
--- response_body_like eval
[qr/^\{"ok":true,"user_id":"711","action":"disconnect","request_id":"[0-9a-f]{32}"\}$/,
 qr/^\{"ok":false,"status":"DISCONNECTED","request_id":"[0-9a-f]{32}"\}$/]
--- no_error_log
[error]
[alert]



=== TEST 9: ban takes effect on the next request
--- init
UbtTest::flush();
UbtTest::seed('712', UbtTest::key('live', 'u712'));
--- request eval
["POST /ubt/admin/users/712/ban",
 "GET /api/v1/me"]
--- more_headers eval
["X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 UbtTest::headers(key => UbtTest::key('live', 'u712'), user => '712')]
--- error_code eval
[200, 403]
--- response_body_like eval
[qr/^\{"ok":true,"user_id":"712","action":"ban","request_id":"[0-9a-f]{32}"\}$/,
 qr/^\{"ok":false,"status":"BANNED","request_id":"[0-9a-f]{32}"\}$/]
--- no_error_log
[error]
[alert]



=== TEST 10: reconnect lifts a ban
--- init
UbtTest::flush();
UbtTest::seed('713', UbtTest::key('live', 'u713'), status => 'BANNED');
--- request eval
["POST /ubt/admin/users/713/reconnect",
 "GET /api/v1/me"]
--- more_headers eval
["X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 UbtTest::headers(key => UbtTest::key('live', 'u713'), user => '713')]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/"action":"reconnect"/,
 qr/^user=713\n/]
--- no_error_log
[error]
[alert]



=== TEST 11: new key keeps a ban
--- init
UbtTest::flush();
UbtTest::seed('714', UbtTest::key('live', 'u714'), status => 'BANNED');
--- request eval
["POST /ubt/admin/keys\n{\"user_id\": 714}",
 "GET /ubt/admin/users/714"]
--- more_headers eval
["X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/"user_id":"714"/,
 qr/"status":"BANNED","status_reason":null/]
--- no_error_log
[error]
[alert]



=== TEST 12: ban with a reason, then the audit trail
--- init
UbtTest::flush();
UbtTest::seed('715', UbtTest::key('live', 'u715'));
--- request eval
["POST /ubt/admin/users/715/ban\n{\"reason\": \"spam reports\"}",
 "GET /ubt/admin/audit?user_id=715&count=5"]
--- more_headers eval
["X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/"action":"ban"/,
 qr/^\{"ok":true,"user_id":"715","entries":\[\{"id":"\d+-\d+","time":\d{13},"action":"ban","user_id":"715","issued_id":"01JTESTISSUEDID0000000000","actor":"127.0.0.1","reason":"spam reports"\}\],"request_id":"[0-9a-f]{32}"\}$/]
--- no_error_log
[error]
[alert]



=== TEST 13: audit trail of all users
--- init
UbtTest::flush();
UbtTest::seed('716', UbtTest::key('live', 'u716'));
UbtTest::seed('717', UbtTest::key('live', 'u717'));
--- request eval
["POST /ubt/admin/users/716/disconnect",
 "POST /ubt/admin/users/717/ban",
 "GET /ubt/admin/audit?count=2"]
--- more_headers eval
["X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/"action":"disconnect"/,
 qr/"action":"ban"/,
 qr/^\{"ok":true,"entries":\[\{"id":"[^"]+","time":\d+,"action":"ban","user_id":"717",[^}]+\},\{"id":"[^"]+","time":\d+,"action":"disconnect","user_id":"716","issued_id":"01JTESTISSUEDID0000000000","actor":"127.0.0.1","reason":"OPERATOR"\}\],"request_id":"[0-9a-f]{32}"\}$/]
--- no_error_log
[error]
[alert]



=== TEST 14: issuance in the audit trail
--- init
UbtTest::flush();
--- request eval
["POST /ubt/admin/keys\n{\"user_id\": 718}",
 "POST /ubt/admin/keys\n{\"user_id\": 718, \"grace_seconds\": 30}",
 "GET /ubt/admin/audit?user_id=718"]
--- more_headers eval
["X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/"user_id":"718"/,
 qr/"user_id":"718"/,
 qr/"entries":\[\{[^}]*"action":"rotate","user_id":"718",[^}]*"reason":"grace 30s"\},\{[^}]*"action":"issue","user_id":"718",[^}]*"reason":""\}\]/]
--- no_error_log
[error]
[alert]



=== TEST 15: leaked key in the audit trail
--- init
UbtTest::flush();
UbtTest::seed('719', UbtTest::key('live', 'u719'));
UbtTest::seed('720', UbtTest::key('live', 'u720'));
--- request eval
["GET /api/v1/me",
 "GET /ubt/admin/audit?user_id=719",
 "GET /ubt/admin/users/719"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u719'), user => '720'),
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"]
--- error_code eval
[403, 200, 200]
--- response_body_like eval
[qr/"reason":"IDENTITY_MISMATCH"/,
 qr/"entries":\[\{[^}]*"action":"auto_disconnect","user_id":"719","issued_id":"01JTESTISSUEDID0000000000","actor":"127.0.0.1","reason":"IDENTITY_MISMATCH: claimed user 720"\}\]/,
 qr/"status":"DISCONNECTED","status_reason":"IDENTITY_MISMATCH"/]
--- no_error_log
[error]
[alert]



=== TEST 16: plan change
--- init
UbtTest::flush();
UbtTest::seed('721', UbtTest::key('live', 'u721'));
--- request eval
["PUT /ubt/admin/users/721/plan\n{\"plan\": \"pro\"}",
 "GET /api/v1/me"]
--- more_headers eval
["X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 UbtTest::headers(key => UbtTest::key('live', 'u721'), user => '721')]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"ok":true,"user_id":"721","action":"plan","plan":"PRO","request_id":"[0-9a-f]{32}"\}$/,
 qr/^user=721\nplan=PRO\n/]
--- no_error_log
[error]
[alert]



=== TEST 17: limit override and its removal
--- init
UbtTest::flush();
UbtTest::seed('722', UbtTest::key('live', 'u722'));
--- request eval
["PUT /ubt/admin/users/722/limit\n{\"limit\": \"100 R/m\"}",
 "GET /ubt/admin/users/722",
 "PUT /ubt/admin/users/722/limit\n{\"limit\": \"Unlimited\"}",
 "GET /ubt/admin/users/722",
 "DELETE /ubt/admin/users/722/limit",
 "GET /ubt/admin/users/722"]
--- more_headers eval
["X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"]
--- error_code eval
[200, 200, 200, 200, 200, 200]
--- response_body_like eval
[qr/"limit":"100 r\/m"/,
 qr/"limit":"100 r\/m"/,
 qr/"limit":"unlimited"/,
 qr/"limit":"unlimited"/,
 qr/"action":"limit_clear"/,
 qr/"limit":null/]
--- no_error_log
[error]
[alert]



=== TEST 18: user record
--- init
UbtTest::flush();
UbtTest::seed('723', UbtTest::key('live', 'u723'), plan => 'MAX');
UbtTest::redis('HSET', 'ubt:{u:723}', 'last_seen', 1796400000000, 'tm_version', '1.0.11', 'tm_phone_number', '+15***234');
--- request eval
"GET /ubt/admin/users/723"
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"
--- error_code: 200
--- response_body_like: ^(?!.*digest)\{"ok":true,"user_id":"723","status":"CONNECTED","status_reason":null,"plan":"MAX","limit":null,"issued_id":"01JTESTISSUEDID0000000000","key_env":"live","created_at":\d{13},"issued_at":null,"last_seen":1796400000000,"prev_issued_id":null,"prev_expires":null,"telemetry":\{"version":"1.0.11","platform":null,"device":null,"system":null,"commit_hash":null,"first_name":null,"phone_number":"\+15\*\*\*234","updated_at":null\},"request_id":"[0-9a-f]{32}"\}$
--- no_error_log
[error]
[alert]



=== TEST 19: invalid limit
--- init
UbtTest::flush();
UbtTest::seed('724', UbtTest::key('live', 'u724'));
--- request eval
"PUT /ubt/admin/users/724/limit\n{\"limit\": \"100 per minute\"}"
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"INVALID_FIELD","field":"limit","request_id":"[0-9a-f]{32}"\}$
--- error_log
invalid field "limit"
--- no_error_log
[alert]



=== TEST 20: zero rate
--- init
UbtTest::flush();
UbtTest::seed('724', UbtTest::key('live', 'u724'));
--- request eval
"PUT /ubt/admin/users/724/limit\n{\"limit\": \"0r/s\"}"
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"
--- error_code: 400
--- response_body_like: "field":"limit"
--- error_log
invalid field "limit"
--- no_error_log
[alert]



=== TEST 21: rate of a week
--- init
UbtTest::flush();
UbtTest::seed('724', UbtTest::key('live', 'u724'));
--- request eval
"PUT /ubt/admin/users/724/limit\n{\"limit\": \"5r/w\"}"
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"
--- error_code: 400
--- response_body_like: "field":"limit"
--- error_log
invalid field "limit"
--- no_error_log
[alert]



=== TEST 22: no plan
--- init
UbtTest::flush();
UbtTest::seed('724', UbtTest::key('live', 'u724'));
--- request eval
"PUT /ubt/admin/users/724/plan\n{}"
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"
--- error_code: 400
--- response_body_like: "reason":"MISSING_FIELD","field":"plan"
--- error_log
missing field "plan"
--- no_error_log
[alert]



=== TEST 23: invalid plan
--- init
UbtTest::flush();
UbtTest::seed('724', UbtTest::key('live', 'u724'));
--- request eval
"PUT /ubt/admin/users/724/plan\n{\"plan\": \"P R O\"}"
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"
--- error_code: 400
--- response_body_like: "field":"plan"
--- error_log
invalid field "plan"
--- no_error_log
[alert]



=== TEST 24: reason with a control character
--- init
UbtTest::flush();
UbtTest::seed('724', UbtTest::key('live', 'u724'));
--- request eval
"POST /ubt/admin/users/724/ban\n{\"reason\": \"a\\u0001b\"}"
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"
--- error_code: 400
--- response_body_like: "field":"reason"
--- error_log
invalid field "reason"
--- no_error_log
[alert]



=== TEST 25: malformed JSON
--- init
UbtTest::flush();
UbtTest::seed('724', UbtTest::key('live', 'u724'));
--- request eval
"POST /ubt/admin/users/724/ban\n{\"reason\""
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"
--- error_code: 400
--- response_body_like: "reason":"MALFORMED_JSON"
--- error_log
ubt admin body is not a JSON object
--- no_error_log
[alert]



=== TEST 26: unknown user
--- init
UbtTest::flush();
UbtTest::seed('724', UbtTest::key('live', 'u724'));
--- request eval
"POST /ubt/admin/users/999/ban"
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"
--- error_code: 404
--- response_body_like: ^\{"ok":false,"status":"NOT_FOUND","reason":"UNKNOWN_USER","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt admin ban for unknown user "999"
--- no_error_log
[alert]



=== TEST 27: record of an unknown user
--- init
UbtTest::flush();
UbtTest::seed('724', UbtTest::key('live', 'u724'));
--- request eval
"GET /ubt/admin/users/999"
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"
--- error_code: 404
--- response_body_like: "reason":"UNKNOWN_USER"
--- error_log
ubt admin read of unknown user "999"
--- no_error_log
[alert]



=== TEST 28: unknown endpoint
--- init
UbtTest::flush();
UbtTest::seed('724', UbtTest::key('live', 'u724'));
--- request eval
"POST /ubt/admin/users/724/delete"
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"
--- error_code: 404
--- response_body_like: "reason":"UNKNOWN_ENDPOINT"
--- error_log
ubt admin call to an unknown endpoint
--- no_error_log
[alert]



=== TEST 29: unknown top endpoint
--- init
UbtTest::flush();
UbtTest::seed('724', UbtTest::key('live', 'u724'));
--- request eval
"GET /ubt/admin/stats"
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"
--- error_code: 404
--- response_body_like: "reason":"UNKNOWN_ENDPOINT"
--- error_log
ubt admin call to an unknown endpoint
--- no_error_log
[alert]



=== TEST 30: invalid user id in the path
--- init
UbtTest::flush();
UbtTest::seed('724', UbtTest::key('live', 'u724'));
--- request eval
"POST /ubt/admin/users/7.5/ban"
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"
--- error_code: 400
--- response_body_like: "reason":"INVALID_FIELD","field":"user_id"
--- error_log
ubt admin call with an invalid user id
--- no_error_log
[alert]



=== TEST 31: invalid audit count
--- init
UbtTest::flush();
UbtTest::seed('724', UbtTest::key('live', 'u724'));
--- request eval
"GET /ubt/admin/audit?count=0"
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"
--- error_code: 400
--- response_body_like: "field":"count"
--- error_log
invalid field "count"
--- no_error_log
[alert]



=== TEST 32: audit count too large
--- init
UbtTest::flush();
UbtTest::seed('724', UbtTest::key('live', 'u724'));
--- request eval
"GET /ubt/admin/audit?count=1001"
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"
--- error_code: 400
--- response_body_like: "field":"count"
--- error_log
invalid field "count"
--- no_error_log
[alert]



=== TEST 33: body over the limit
--- init
UbtTest::flush();
UbtTest::seed('724', UbtTest::key('live', 'u724'));
--- request eval
"POST /ubt/admin/users/724/ban\n{\"reason\": \"" . ("x" x 9000) . "\"}"
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"
--- error_code: 413
--- response_body_like: "status":"PAYLOAD_TOO_LARGE"
--- error_log
exceeds ubt_max_body_size
--- no_error_log
[alert]



=== TEST 34: ban needs POST
--- init
UbtTest::flush();
UbtTest::seed('725', UbtTest::key('live', 'u725'));
--- request eval
"GET /ubt/admin/users/725/ban"
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"
--- error_code: 405
--- response_body_like: "status":"METHOD_NOT_ALLOWED"
--- response_headers
Allow: POST
--- error_log
ubt rejected method "GET", allowed: POST
--- no_error_log
[alert]



=== TEST 35: no token
--- init
UbtTest::flush();
UbtTest::seed('726', UbtTest::key('live', 'u726'));
--- request eval
"POST /ubt/admin/users/726/ban"
--- more_headers eval
""
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","request_id":"[0-9a-f]{32}"\}$
--- error_log
no X-UBT-PROVISION header
--- no_error_log
[alert]



=== TEST 36: runtime key as the token
--- init
UbtTest::flush();
UbtTest::seed('727', UbtTest::key('live', 'u727'));
--- request eval
"POST /ubt/admin/users/727/ban"
--- more_headers eval
"X-UBT-PROVISION: " . UbtTest::key("live", "u727") . "\n"
--- error_code: 401
--- response_body_like: "status":"UNAUTHORIZED"
--- error_log
ubt admin call rejected: wrong provisioning token
--- no_error_log
[alert]
