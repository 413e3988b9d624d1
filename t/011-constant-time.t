# Every comparison with a secret: the request signature against the HMAC
# made with the signing secret, and the provisioning token against the
# digest of the configured one, on the provisioning and admin endpoints.
# Each is tried equal, and unequal in its first and in its last byte.
#
# Under "make test" these blocks check the outcomes.  "make
# test-constant-time" runs them again on a module built with
# NGX_HTTP_UBT_CT_CHECK, which marks the secrets as undefined for
# valgrind's memcheck, and with nginx under memcheck: a branch or a
# memory address that depends on a secret byte is then reported, and the
# run fails.  Only the final outcome of each comparison is exempt.

use Test::Nginx::Socket;
use FindBin;
use lib $FindBin::Bin;
use UbtTest;

our $Config = <<'_EOC_';
    location /api/ {
        ubt on;
        proxy_pass http://ubt_backend;
    }

    location = /issue {
        ubt_provision;
    }

    location /ubt/admin/ {
        ubt_admin;
    }
_EOC_

# Changes the character at $at (0 or -1) of $text to another one of the
# same alphabet, so that only the comparison can tell the two apart.
sub flip {
    my ($text, $at) = @_;

    my $c = substr $text, $at, 1;
    substr($text, $at, 1) = $c eq 'a' ? 'b' : 'a';

    return $text;
}

repeat_each(1);

# four checks a request (status, body, two error-log patterns)
plan tests => repeat_each() * (4 * blocks());

no_long_string();
no_shuffle();
UbtTest::use_defaults($::Config);
run_tests();

__DATA__
=== TEST 1: signature equal
--- init
UbtTest::flush();
UbtTest::seed('1101', UbtTest::key('live', 'u1101'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1101'), user => '1101')
--- error_code: 200
--- response_body_like: ^user=1101\n
--- no_error_log
[error]
[alert]



=== TEST 2: signature unequal in its first byte
--- init
UbtTest::flush();
UbtTest::seed('1101', UbtTest::key('live', 'u1101'));
--- request
GET /api/v1/me
--- more_headers eval
my $ts = UbtTest::now_ms();
UbtTest::headers(key => UbtTest::key('live', 'u1101'), user => '1101',
                 ts => $ts, nonce => 'ctnonce0001',
                 sign => main::flip(UbtTest::sign($ts, '1101', 'ctnonce0001'), 0))
--- error_code: 401
--- response_body_like: "reason":"BAD_SIGNATURE"
--- no_error_log
[error]
[alert]



=== TEST 3: signature unequal in its last byte
--- init
UbtTest::flush();
UbtTest::seed('1101', UbtTest::key('live', 'u1101'));
--- request
GET /api/v1/me
--- more_headers eval
my $ts = UbtTest::now_ms();
UbtTest::headers(key => UbtTest::key('live', 'u1101'), user => '1101',
                 ts => $ts, nonce => 'ctnonce0002',
                 sign => main::flip(UbtTest::sign($ts, '1101', 'ctnonce0002'), -1))
--- error_code: 401
--- response_body_like: "reason":"BAD_SIGNATURE"
--- no_error_log
[error]
[alert]



=== TEST 4: provisioning token equal
--- init
UbtTest::flush();
--- request
POST /issue
{"user_id": 1102}
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\nContent-Type: application/json\n"
--- error_code: 200
--- response_body_like: ^\{"ok":true,"api_key":"ubt_live_
--- no_error_log
[error]
[alert]



=== TEST 5: provisioning token unequal in its first byte
--- request
POST /issue
{"user_id": 1102}
--- more_headers eval
"X-UBT-PROVISION: " . main::flip($UbtTest::ProvisionSecret, 0) . "\n"
--- error_code: 401
--- response_body_like: "status":"UNAUTHORIZED"
--- error_log
ubt provisioning rejected: wrong provisioning token
--- no_error_log
[alert]



=== TEST 6: provisioning token unequal in its last byte
--- request
POST /issue
{"user_id": 1102}
--- more_headers eval
"X-UBT-PROVISION: " . main::flip($UbtTest::ProvisionSecret, -1) . "\n"
--- error_code: 401
--- response_body_like: "status":"UNAUTHORIZED"
--- error_log
ubt provisioning rejected: wrong provisioning token
--- no_error_log
[alert]



=== TEST 7: provisioning token one byte longer
--- request
POST /issue
{"user_id": 1102}
--- more_headers eval
"X-UBT-PROVISION: ${UbtTest::ProvisionSecret}0\n"
--- error_code: 401
--- response_body_like: "status":"UNAUTHORIZED"
--- error_log
ubt provisioning rejected: wrong provisioning token
--- no_error_log
[alert]



=== TEST 8: admin token equal
--- init
UbtTest::flush();
UbtTest::seed('1103', UbtTest::key('live', 'u1103'));
--- request
POST /ubt/admin/users/1103/disconnect
--- more_headers eval
"X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"
--- error_code: 200
--- response_body_like: ^\{"ok":true,
--- no_error_log
[error]
[alert]



=== TEST 9: admin token unequal in its first byte
--- request
POST /ubt/admin/users/1103/reconnect
--- more_headers eval
"X-UBT-PROVISION: " . main::flip($UbtTest::ProvisionSecret, 0) . "\n"
--- error_code: 401
--- response_body_like: "status":"UNAUTHORIZED"
--- error_log
ubt admin call rejected: wrong provisioning token
--- no_error_log
[alert]



=== TEST 10: admin token unequal in its last byte
--- request
POST /ubt/admin/users/1103/reconnect
--- more_headers eval
"X-UBT-PROVISION: " . main::flip($UbtTest::ProvisionSecret, -1) . "\n"
--- error_code: 401
--- response_body_like: "status":"UNAUTHORIZED"
--- error_log
ubt admin call rejected: wrong provisioning token
--- no_error_log
[alert]
