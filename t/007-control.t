# The endpoints the userbot_auth client calls besides its API requests:
# check-update and log-update, and the telemetry it reports.

use Test::Nginx::Socket;
use FindBin;
use lib $FindBin::Bin;
use UbtTest;

our $Config = <<'_EOC_';
    location = /api/v1/create/check-update {
        ubt on;
        ubt_check_update;
    }

    location = /api/v1/create/log-update {
        ubt on;
        ubt_log_update;
    }

    location /api/ {
        ubt on;
        proxy_pass http://ubt_backend;
    }

    location /ubt/admin/ {
        ubt_admin;
    }
_EOC_

repeat_each(1);

# four checks a request (status, body, two error-log patterns)
plan tests => repeat_each() * (4 * blocks() + 4 * 9);

no_long_string();
no_shuffle();
UbtTest::use_defaults($::Config);
run_tests();

__DATA__
=== TEST 1: check-update of a connected user
--- init
UbtTest::flush();
UbtTest::seed('800', UbtTest::key('live', 'u800'), plan => 'PRO');
--- request eval
"POST /api/v1/create/check-update"
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u800'), user => '800')
--- error_code: 200
--- response_body_like: ^\{"ok":true,"status":"CONNECTED","user_id":"800","plan":"PRO","issued_id":"01JTESTISSUEDID0000000000","request_id":"[0-9a-f]{32}"\}$
--- no_error_log
[error]
[alert]



=== TEST 2: check-update without the user id header
--- init
UbtTest::flush();
UbtTest::seed('801', UbtTest::key('live', 'u801'));
--- request eval
"POST /api/v1/create/check-update"
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u801'), user => '801', header_user => undef)
--- error_code: 200
--- response_body_like: ^\{"ok":true,"status":"CONNECTED","user_id":"801",
--- no_error_log
[error]
[alert]



=== TEST 3: check-update of a disconnected user
--- init
UbtTest::flush();
UbtTest::seed('802', UbtTest::key('live', 'u802'), status => 'DISCONNECTED');
--- request eval
"POST /api/v1/create/check-update"
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u802'), user => '802')
--- error_code: 403
--- response_body_like: ^\{"ok":false,"status":"DISCONNECTED","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: DISCONNECTED
--- no_error_log
[alert]



=== TEST 4: check-update of a banned user
--- init
UbtTest::flush();
UbtTest::seed('803', UbtTest::key('live', 'u803'), status => 'BANNED');
--- request eval
"POST /api/v1/create/check-update"
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u803'), user => '803')
--- error_code: 403
--- response_body_like: ^\{"ok":false,"status":"BANNED","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected request: BANNED
--- no_error_log
[alert]



=== TEST 5: check-update unsigned
--- init
UbtTest::flush();
UbtTest::seed('804', UbtTest::key('live', 'u804'));
--- request eval
"POST /api/v1/create/check-update"
--- more_headers eval
""
--- error_code: 401
--- response_body_like: "reason":"MISSING_KEY"
--- error_log
ubt rejected request: MISSING_KEY
--- no_error_log
[alert]



=== TEST 6: log-update stores telemetry
--- init
UbtTest::flush();
UbtTest::seed('805', UbtTest::key('live', 'u805'));
--- request eval
["POST /api/v1/create/log-update\n{\"version\": \"1.0.11\", \"device\": \"Pixel 8\", \"system\": \"Android 14\", \"platform\": \"android\", \"commit_hash\": \"a1b2c3d\", \"first_name\": \"Ann\", \"phone_number\": \"+1 (555) 123-4234\", \"extra\": 1}",
 "GET /ubt/admin/users/805"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u805'), user => '805'),
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"ok":true,"request_id":"[0-9a-f]{32}"\}$/,
 qr/"telemetry":\{"version":"1.0.11","platform":"android","device":"Pixel 8","system":"Android 14","commit_hash":"a1b2c3d","first_name":"Ann","phone_number":"\+15\*\*\*234","updated_at":\d{13}\}/]
--- no_error_log
[error]
[alert]



=== TEST 7: phone number without a plus
--- init
UbtTest::flush();
UbtTest::seed('806', UbtTest::key('live', 'u806'));
--- request eval
["POST /api/v1/create/log-update\n{\"phone_number\": \"79161234567\"}",
 "GET /ubt/admin/users/806"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u806'), user => '806'),
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/"ok":true/,
 qr/"phone_number":"79\*\*\*567"/]
--- no_error_log
[error]
[alert]



=== TEST 8: phone number with letters
--- init
UbtTest::flush();
UbtTest::seed('807', UbtTest::key('live', 'u807'));
--- request eval
"POST /api/v1/create/log-update\n{\"phone_number\": \"call me\"}"
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u807'), user => '807')
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"INVALID_FIELD","field":"phone_number","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt log-update rejected: invalid field "phone_number"
--- no_error_log
[alert]



=== TEST 9: phone number too short
--- init
UbtTest::flush();
UbtTest::seed('807', UbtTest::key('live', 'u807'));
--- request eval
"POST /api/v1/create/log-update\n{\"phone_number\": \"12345\"}"
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u807'), user => '807')
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"INVALID_FIELD","field":"phone_number","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt log-update rejected: invalid field "phone_number"
--- no_error_log
[alert]



=== TEST 10: version with a control character
--- init
UbtTest::flush();
UbtTest::seed('807', UbtTest::key('live', 'u807'));
--- request eval
"POST /api/v1/create/log-update\n{\"version\": \"1.0\\u0007\"}"
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u807'), user => '807')
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"INVALID_FIELD","field":"version","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt log-update rejected: invalid field "version"
--- no_error_log
[alert]



=== TEST 11: device name too long
--- init
UbtTest::flush();
UbtTest::seed('807', UbtTest::key('live', 'u807'));
--- request eval
"POST /api/v1/create/log-update\n{\"device\": \"ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd\"}"
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u807'), user => '807')
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"INVALID_FIELD","field":"device","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt log-update rejected: invalid field "device"
--- no_error_log
[alert]



=== TEST 12: numeric version
--- init
UbtTest::flush();
UbtTest::seed('807', UbtTest::key('live', 'u807'));
--- request eval
"POST /api/v1/create/log-update\n{\"version\": 2}"
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u807'), user => '807')
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"INVALID_FIELD","field":"version","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt log-update rejected: invalid field "version"
--- no_error_log
[alert]



=== TEST 13: log-update with malformed JSON
--- init
UbtTest::flush();
UbtTest::seed('808', UbtTest::key('live', 'u808'));
--- request eval
"POST /api/v1/create/log-update\n{\"version\""
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u808'), user => '808')
--- error_code: 400
--- response_body_like: "reason":"MALFORMED_JSON"
--- error_log
ubt log-update body is not a JSON object
--- no_error_log
[alert]



=== TEST 14: log-update needs POST
--- init
UbtTest::flush();
UbtTest::seed('809', UbtTest::key('live', 'u809'));
--- request eval
"GET /api/v1/create/log-update"
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u809'), user => '809')
--- error_code: 405
--- response_body_like: "status":"METHOD_NOT_ALLOWED"
--- error_log
ubt rejected method "GET", allowed: POST
--- no_error_log
[alert]



=== TEST 15: telemetry headers recorded
--- init
UbtTest::flush();
UbtTest::seed('810', UbtTest::key('live', 'u810'));
--- request eval
["GET /api/v1/me",
 "GET /ubt/admin/users/810"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u810'), user => '810') . "X-UBT-Version: 2.0.1\nX-UBT-Platform: linux\nX-UBT-Device: vps-7\nX-UBT-System: Debian 12\n",
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^user=810\n/,
 qr/"last_seen":\d{13},.*"telemetry":\{"version":"2.0.1","platform":"linux","device":"vps-7","system":"Debian 12",/]
--- no_error_log
[error]
[alert]



=== TEST 16: telemetry header too long
--- init
UbtTest::flush();
UbtTest::seed('811', UbtTest::key('live', 'u811'));
--- request eval
"GET /api/v1/me"
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u811'), user => '811') . "X-UBT-Device: " . ("d" x 129) . "\n"
--- error_code: 401
--- response_body_like: "reason":"MALFORMED_HEADER"
--- error_log
ubt rejected request: MALFORMED_HEADER
--- no_error_log
[alert]



=== TEST 17: telemetry header with a tab
--- init
UbtTest::flush();
UbtTest::seed('812', UbtTest::key('live', 'u812'));
--- request eval
"GET /api/v1/me"
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u812'), user => '812') . "X-UBT-Device: a\tb\n"
--- error_code: 401
--- response_body_like: "reason":"MALFORMED_HEADER"
--- error_log
ubt rejected request: MALFORMED_HEADER, header "x-ubt-device"
--- no_error_log
[alert]



=== TEST 18: telemetry header twice
--- init
UbtTest::flush();
UbtTest::seed('813', UbtTest::key('live', 'u813'));
--- request eval
"GET /api/v1/me"
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u813'), user => '813') . "X-UBT-Version: 1\nX-UBT-Version: 2\n"
--- error_code: 401
--- response_body_like: "reason":"DUPLICATE_HEADER"
--- error_log
ubt rejected request: DUPLICATE_HEADER, header "x-ubt-version"
--- no_error_log
[alert]



=== TEST 19: last seen of a new key
--- init
UbtTest::flush();
UbtTest::seed('814', UbtTest::key('live', 'u814'));
--- request eval
["GET /ubt/admin/users/814",
 "GET /api/v1/me",
 "GET /ubt/admin/users/814"]
--- more_headers eval
["X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 UbtTest::headers(key => UbtTest::key('live', 'u814'), user => '814'),
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/"last_seen":null/,
 qr/^user=814\n/,
 qr/"last_seen":\d{13}/]
--- no_error_log
[error]
[alert]



=== TEST 20: telemetry within the interval kept
--- init
UbtTest::flush();
UbtTest::seed('815', UbtTest::key('live', 'u815'));
--- request eval
["GET /api/v1/me",
 "GET /api/v1/me",
 "GET /ubt/admin/users/815"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u815'), user => '815') . "X-UBT-Version: 2.0.1\n",
 UbtTest::headers(key => UbtTest::key('live', 'u815'), user => '815') . "X-UBT-Version: 2.0.2\n",
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/^user=815\n/,
 qr/^user=815\n/,
 qr/"telemetry":\{"version":"2.0.1",/]
--- no_error_log
[error]
[alert]



=== TEST 21: telemetry of every request with interval 0
--- config
    location /api/ {
        ubt on;
        ubt_last_seen_interval 0;
        proxy_pass http://ubt_backend;
    }

    location /ubt/admin/ {
        ubt_admin;
    }
--- init
UbtTest::flush();
UbtTest::seed('816', UbtTest::key('live', 'u816'));
--- request eval
["GET /api/v1/me",
 "GET /api/v1/me",
 "GET /ubt/admin/users/816"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u816'), user => '816') . "X-UBT-Version: 2.0.1\n",
 UbtTest::headers(key => UbtTest::key('live', 'u816'), user => '816') . "X-UBT-Version: 2.0.2\n",
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/^user=816\n/,
 qr/^user=816\n/,
 qr/"telemetry":\{"version":"2.0.2",/]
--- no_error_log
[error]
[alert]
