# The provisioning endpoint: who may call it, what it accepts, what it
# returns, and what it stores.

use Test::Nginx::Socket;
use FindBin;
use lib $FindBin::Bin;
use UbtTest;

repeat_each(1);

# four checks a request (status, body, two error-log patterns), plus the
# extra response headers of three blocks and the second requests of two
plan tests => repeat_each() * (4 * blocks() + 2 + 1 + 1 + 4 + 4);

no_long_string();
no_shuffle();
UbtTest::use_defaults($UbtTest::ProvisionConfig);
run_tests();

__DATA__
=== TEST 1: key for a numeric user id
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": 555}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 200
--- response_headers
Cache-Control: no-store
Content-Type: application/json
--- response_body_like: ^\{"ok":true,"api_key":"ubt_live_[0-9A-Za-z]{49}","issued_id":"[0-9A-HJKMNP-TV-Z]{26}","user_id":"555","plan":"FREE","env":"live","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt issued a live key for user "555", issued id "
--- no_error_log
[alert]



=== TEST 2: no key or token in the module debug log
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": 556}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 200
--- response_body_like: "api_key":"ubt_live_
--- no_error_log eval
[qr/: (?:\*\d+ )?ubt [^\n]*ubt_live_/, qr/: (?:\*\d+ )?ubt [^\n]*\Q$UbtTest::ProvisionSecret\E/]



=== TEST 3: test key for a string user id with a plan
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": "bot_7-a", "plan": "pro", "env": "test"}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 200
--- response_body_like: ^\{"ok":true,"api_key":"ubt_test_[0-9A-Za-z]{49}","issued_id":"[0-9A-HJKMNP-TV-Z]{26}","user_id":"bot_7-a","plan":"PRO","env":"test","request_id":"[0-9a-f]{32}"\}$
--- no_error_log
[error]
[alert]



=== TEST 4: default plan from the configuration
--- config
    location = /issue {
        ubt_default_plan max;
        ubt_provision;
    }
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": 556}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 200
--- response_body_like: ^\{"ok":true,"api_key":"ubt_live_[0-9A-Za-z]{49}","issued_id":"[0-9A-HJKMNP-TV-Z]{26}","user_id":"556","plan":"MAX","env":"live","request_id":"[0-9a-f]{32}"\}$
--- no_error_log
[error]
[alert]



=== TEST 5: new key keeps the plan of the user
--- init
UbtTest::flush();
UbtTest::seed('557', UbtTest::key('live', 'u557'), plan => 'PRO');
--- request
POST /issue
{"user_id": 557}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 200
--- response_body_like: ^\{"ok":true,"api_key":"ubt_live_[0-9A-Za-z]{49}","issued_id":"[0-9A-HJKMNP-TV-Z]{26}","user_id":"557","plan":"PRO","env":"live","request_id":"[0-9a-f]{32}"\}$
--- no_error_log
[error]
[alert]



=== TEST 6: largest user id
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": 9223372036854775807}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 200
--- response_body_like: ^\{"ok":true,"api_key":"ubt_live_[0-9A-Za-z]{49}","issued_id":"[0-9A-HJKMNP-TV-Z]{26}","user_id":"9223372036854775807","plan":"FREE","env":"live","request_id":"[0-9a-f]{32}"\}$
--- no_error_log
[error]
[alert]



=== TEST 7: no token
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": 555}
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt provisioning rejected: no X-UBT-PROVISION header
--- no_error_log
[alert]



=== TEST 8: wrong token
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": 555}
--- more_headers
X-UBT-PROVISION: test-provision-token-83c5e0f14a2b9d66
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt provisioning rejected: wrong provisioning token
--- no_error_log
[alert]



=== TEST 9: runtime key as the token
--- init
UbtTest::flush();
UbtTest::seed('555', UbtTest::key('live', 'u555'));
--- request
POST /issue
{"user_id": 555}
--- more_headers eval
"X-UBT-PROVISION: " . UbtTest::key("live", "u555") . "\n"
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt provisioning rejected: wrong provisioning token
--- no_error_log
[alert]



=== TEST 10: signing secret as the token
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": 555}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::SigningSecret\n"
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt provisioning rejected: wrong provisioning token
--- no_error_log
[alert]



=== TEST 11: token twice
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": 555}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-PROVISION: $UbtTest::ProvisionSecret\n"
--- error_code: 401
--- response_body_like: ^\{"ok":false,"status":"UNAUTHORIZED","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt provisioning rejected: duplicate X-UBT-PROVISION header
--- no_error_log
[alert]



=== TEST 12: wrong scope
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": 555}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: RUNTIME\n"
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"INVALID_FIELD","field":"X-UBT-SCOPE","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt provisioning rejected: X-UBT-SCOPE is not "PROVISION"
--- no_error_log
[alert]



=== TEST 13: scope twice
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": 555}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nX-UBT-SCOPE: PROVISION\n"
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"INVALID_FIELD","field":"X-UBT-SCOPE","request_id":"[0-9a-f]{32}"\}$
--- error_log
X-UBT-SCOPE is not "PROVISION" or was sent twice
--- no_error_log
[alert]



=== TEST 14: variables describe the issued key
--- config
    location = /issue {
        add_header X-Seen "$ubt_user_id/$ubt_plan/$ubt_key_env/$ubt_status" always;
        ubt_provision;
    }
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": 559, "plan": "MAX", "env": "test"}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 200
--- response_headers
X-Seen: 559/MAX/test/OK
--- response_body_like: ^\{"ok":true,"api_key":"ubt_test_[0-9A-Za-z]{49}","issued_id":"[0-9A-HJKMNP-TV-Z]{26}","user_id":"559","plan":"MAX","env":"test","request_id":"[0-9a-f]{32}"\}$
--- no_error_log
[error]
[alert]



=== TEST 15: scope in lower case
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": 555}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: provision\n"
--- error_code: 200
--- response_body_like: ^\{"ok":true,"api_key":"ubt_live_[0-9A-Za-z]{49}","issued_id":"[0-9A-HJKMNP-TV-Z]{26}","user_id":"555","plan":"FREE","env":"live","request_id":"[0-9a-f]{32}"\}$
--- no_error_log
[error]
[alert]



=== TEST 16: GET not allowed
--- init
UbtTest::flush();
--- request
GET /issue
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 405
--- response_headers
Allow: POST
--- response_body_like: ^\{"ok":false,"status":"METHOD_NOT_ALLOWED","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt rejected method "GET", allowed: POST
--- no_error_log
[alert]



=== TEST 17: malformed JSON
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": 555
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"MALFORMED_JSON","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt provisioning body is not a JSON object
--- no_error_log
[alert]



=== TEST 18: JSON array
--- init
UbtTest::flush();
--- request
POST /issue
[555]
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"MALFORMED_JSON","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt provisioning body is not a JSON object: not an object
--- no_error_log
[alert]



=== TEST 19: empty body
--- init
UbtTest::flush();
--- request
POST /issue

--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"MALFORMED_JSON","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt provisioning body is empty
--- no_error_log
[alert]



=== TEST 20: duplicate member
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": 555, "user_id": 556}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"MALFORMED_JSON","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt provisioning body is not a JSON object
--- no_error_log
[alert]



=== TEST 21: no user id
--- init
UbtTest::flush();
--- request
POST /issue
{"plan": "PRO"}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"MISSING_FIELD","field":"user_id","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt provisioning rejected: missing field "user_id"
--- no_error_log
[alert]



=== TEST 22: negative user id
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": -5}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"INVALID_FIELD","field":"user_id","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt provisioning rejected: invalid field "user_id"
--- no_error_log
[alert]



=== TEST 23: fractional user id
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": 1.5}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"INVALID_FIELD","field":"user_id","request_id":"[0-9a-f]{32}"\}$
--- error_log
invalid field "user_id"
--- no_error_log
[alert]



=== TEST 24: user id with the signing delimiter
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": "12.5"}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"INVALID_FIELD","field":"user_id","request_id":"[0-9a-f]{32}"\}$
--- error_log
invalid field "user_id"
--- no_error_log
[alert]



=== TEST 25: user id too long
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": "77777777777777777777777777777777777777777777777777777777777777777"}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"INVALID_FIELD","field":"user_id","request_id":"[0-9a-f]{32}"\}$
--- error_log
invalid field "user_id"
--- no_error_log
[alert]



=== TEST 26: empty user id
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": ""}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"INVALID_FIELD","field":"user_id","request_id":"[0-9a-f]{32}"\}$
--- error_log
invalid field "user_id"
--- no_error_log
[alert]



=== TEST 27: boolean user id
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": true}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"INVALID_FIELD","field":"user_id","request_id":"[0-9a-f]{32}"\}$
--- error_log
invalid field "user_id"
--- no_error_log
[alert]



=== TEST 28: user id beyond 64 bits
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": 92233720368547758070}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"MALFORMED_JSON","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt provisioning body is not a JSON object
--- no_error_log
[alert]



=== TEST 29: unknown environment
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": 555, "env": "prod"}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"INVALID_FIELD","field":"env","request_id":"[0-9a-f]{32}"\}$
--- error_log
invalid field "env"
--- no_error_log
[alert]



=== TEST 30: numeric plan
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": 555, "plan": 5}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"INVALID_FIELD","field":"plan","request_id":"[0-9a-f]{32}"\}$
--- error_log
invalid field "plan"
--- no_error_log
[alert]



=== TEST 31: plan with a space
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": 555, "plan": "PRO PLAN"}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"INVALID_FIELD","field":"plan","request_id":"[0-9a-f]{32}"\}$
--- error_log
invalid field "plan"
--- no_error_log
[alert]



=== TEST 32: NUL byte after the object
--- init
UbtTest::flush();
--- request eval
"POST /issue\n{\"user_id\": 555}\0{}"
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"MALFORMED_JSON","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt provisioning body is not a JSON object: it has a NUL byte
--- no_error_log
[alert]



=== TEST 33: deeply nested user id
--- init
UbtTest::flush();
--- request eval
"POST /issue\n{\"user_id\": " . ("[" x 1000) . ("]" x 1000) . "}"
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"INVALID_FIELD","field":"user_id","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt provisioning rejected: invalid field "user_id"
--- no_error_log
[alert]



=== TEST 34: nesting deeper than the parser allows
--- init
UbtTest::flush();
--- request eval
"POST /issue\n{\"user_id\": " . ("[" x 3000) . ("]" x 3000) . "}"
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 400
--- response_body_like: ^\{"ok":false,"status":"BAD_REQUEST","reason":"MALFORMED_JSON","request_id":"[0-9a-f]{32}"\}$
--- error_log
maximum parsing depth reached
--- no_error_log
[alert]



=== TEST 35: body over the limit
--- init
UbtTest::flush();
--- request eval
"POST /issue\n{\"user_id\": 555, \"pad\": \"" . ("x" x 9000) . "\"}"
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 413
--- response_body_like: ^\{"ok":false,"status":"PAYLOAD_TOO_LARGE","request_id":"[0-9a-f]{32}"\}$
--- error_log
exceeds ubt_max_body_size 8192
--- no_error_log
[alert]



=== TEST 36: body over a configured limit
--- config
    location = /issue {
        ubt_max_body_size 16;
        ubt_provision;
    }
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": 555, "plan": "PRO"}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 413
--- response_body_like: ^\{"ok":false,"status":"PAYLOAD_TOO_LARGE","request_id":"[0-9a-f]{32}"\}$
--- error_log
exceeds ubt_max_body_size 16
--- no_error_log
[alert]



=== TEST 37: chunked body over the limit
--- config
    location = /issue {
        ubt_max_body_size 16;
        ubt_provision;
    }
--- init
UbtTest::flush();
--- raw_request eval
"POST /issue HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-UBT-PROVISION: $UbtTest::ProvisionSecret\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n{\"user_id\": 555, \"plan\": \"PRO\"}\r\n0\r\n\r\n"
--- error_code: 413
--- response_body_like: ^\{"ok":false,"status":"PAYLOAD_TOO_LARGE","request_id":"[0-9a-f]{32}"\}$
--- error_log
ubt provisioning body exceeds ubt_max_body_size 16
--- no_error_log
[alert]



=== TEST 38: body buffered to a file
--- config
    location = /issue {
        client_body_buffer_size 1k;
        ubt_provision;
    }
--- init
UbtTest::flush();
--- request eval
"POST /issue\n{\"user_id\": 558, \"pad\": \"" . ("x" x 4000) . "\"}"
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 200
--- response_body_like: ^\{"ok":true,"api_key":"ubt_live_[0-9A-Za-z]{49}","issued_id":"[0-9A-HJKMNP-TV-Z]{26}","user_id":"558","plan":"FREE","env":"live","request_id":"[0-9a-f]{32}"\}$
--- error_log
a client request body is buffered to a temporary file
--- no_error_log
[alert]



=== TEST 39: rotation revokes the previous key
--- config
    location = /issue {
        ubt_provision;
    }

    location /api/ {
        ubt on;
        proxy_pass http://ubt_backend;
    }
--- init
UbtTest::flush();
UbtTest::seed('600', UbtTest::key('live', 'u600'));
--- request eval
["POST /issue\n{\"user_id\": 600}", "GET /api/v1/me"]
--- more_headers eval
["X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 UbtTest::headers(key => UbtTest::key('live', 'u600'), user => '600')]
--- error_code eval
[200, 401]
--- response_body_like eval
[qr/"user_id":"600"/, qr/"reason":"REVOKED_KEY"/]
--- no_error_log
[error]
[alert]



=== TEST 40: new key for disconnected and banned users
--- init
UbtTest::flush();
UbtTest::seed('601', UbtTest::key('live', 'u601'), status => 'DISCONNECTED');
UbtTest::seed('602', UbtTest::key('live', 'u602'), status => 'BANNED');
--- request eval
["POST /issue\n{\"user_id\": 601}", "POST /issue\n{\"user_id\": 602}"]
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/"user_id":"601"/, qr/"user_id":"602"/]
--- no_error_log
[error]
[alert]



=== TEST 41: state left by the new keys
--- init
my $s601 = UbtTest::redis('HGET', 'ubt:{u:601}', 'status');
my $s602 = UbtTest::redis('HGET', 'ubt:{u:602}', 'status');
$s601 eq 'CONNECTED' or die "user 601 is $s601, expected CONNECTED\n";
$s602 eq 'BANNED' or die "user 602 is $s602, expected BANNED\n";
UbtTest::redis('ZCARD', 'ubt:{u:601}:revoked') == 1
    or die "user 601 has no revoked key\n";
for my $k (@{ UbtTest::redis('KEYS', '*') }) {
    die "a key name holds a runtime key: $k\n" if $k =~ /ubt_(live|test)_/;
    my $t = UbtTest::redis('TYPE', $k);
    my $v = $t eq 'hash' ? join(' ', @{ UbtTest::redis('HGETALL', $k) })
          : $t eq 'zset' ? join(' ', @{ UbtTest::redis('ZRANGE', $k, 0, -1) })
          : $t eq 'stream'
            ? join(' ', map { @{ $_->[1] } } @{ UbtTest::redis('XRANGE', $k, '-', '+') })
          : UbtTest::redis('GET', $k);
    die "$k holds a runtime key\n" if $v =~ /ubt_(live|test)_/;
}
--- request
POST /issue
{"user_id": 603}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nX-UBT-SCOPE: PROVISION\nContent-Type: application/json\n"
--- error_code: 200
--- response_body_like: ^\{"ok":true,"api_key":"ubt_live_[0-9A-Za-z]{49}","issued_id":"[0-9A-HJKMNP-TV-Z]{26}","user_id":"603","plan":"FREE","env":"live","request_id":"[0-9a-f]{32}"\}$
--- no_error_log
[error]
[alert]
