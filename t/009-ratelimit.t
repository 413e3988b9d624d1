# Plan-based rate limits: GCRA in the check script, 429 replies with retry
# metadata, the limit headers, overrides, plan changes and exactness under
# concurrency through one and through two gateways.

use Test::Nginx::Socket;
use FindBin;
use lib $FindBin::Bin;
use UbtTest;

our $HttpConfig = $UbtTest::HttpConfig . <<'_EOC_';
    ubt_plan FREE 3r/m;
    ubt_plan FAST 2r/s;
    ubt_plan PRO 600r/m burst=5;
    ubt_plan MAX unlimited;
_EOC_

our $Config = <<'_EOC_';
    location /api/ {
        ubt on;
        add_header X-Rate "$ubt_rate_limit/$ubt_rate_remaining/$ubt_rate_reset" always;
        proxy_pass http://ubt_backend;
    }

    location /ubt/admin/ {
        ubt_admin;
    }

    location /second/ {
        proxy_pass http://unix:$TEST_NGINX_UBT_DIR/second.sock:/api/;
    }
_EOC_

repeat_each(1);

# four checks a request (status, body or headers, two error-log patterns),
# plus the extra headers that some blocks check
plan tests => repeat_each() * (4 * blocks() + 4 * 28 + 16);

no_long_string();
no_shuffle();
UbtTest::use_defaults($::Config, $::HttpConfig);
run_tests();

__DATA__
=== TEST 1: window edge of a plan
--- init
UbtTest::flush();
UbtTest::seed('950', UbtTest::key('live', 'u950'));
--- request eval
["GET /api/v1/me",
 "GET /api/v1/me",
 "GET /api/v1/me",
 "GET /api/v1/me"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u950'), user => '950'),
 UbtTest::headers(key => UbtTest::key('live', 'u950'), user => '950'),
 UbtTest::headers(key => UbtTest::key('live', 'u950'), user => '950'),
 UbtTest::headers(key => UbtTest::key('live', 'u950'), user => '950')]
--- error_code eval
[200, 200, 200, 429]
--- response_body_like eval
[qr/^user=950\n/,
 qr/^user=950\n/,
 qr/^user=950\n/,
 qr/^\{"ok":false,"status":"RATE_LIMIT","retry_after":(?:19|20),"retry_after_ms":\d+,"limit":3,"remaining":0,"reset":60,"request_id":"[0-9a-f]{32}"\}$/]
--- no_error_log
[error]
[alert]



=== TEST 2: limit headers of an accepted request
--- init
UbtTest::flush();
UbtTest::seed('951', UbtTest::key('live', 'u951'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u951'), user => '951')
--- error_code: 200
--- response_headers
X-RateLimit-Limit: 3
X-RateLimit-Remaining: 2
X-RateLimit-Reset: 20
X-Rate: 3/2/20
!RateLimit-Policy
--- no_error_log
[error]
[alert]



=== TEST 3: limit headers of a refused request
--- init
UbtTest::flush();
UbtTest::seed('952', UbtTest::key('live', 'u952'));
UbtTest::redis('SET', 'ubt:{u:952}:rl', (UbtTest::now_ms() + 60_000) * 1000 . ' 3 60000 3', 'PX', 60_000);
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u952'), user => '952')
--- error_code: 429
--- response_headers
Retry-After: 20
X-RateLimit-Limit: 3
X-RateLimit-Remaining: 0
X-RateLimit-Reset: 60
Content-Type: application/json
--- error_log
ubt rejected request: RATE_LIMIT, user "952"
--- no_error_log
[alert]



=== TEST 4: refused once, admitted after Retry-After
--- init
UbtTest::flush();
UbtTest::seed('953', UbtTest::key('live', 'u953'), plan => 'FAST');
--- request eval
["GET /api/v1/me",
 "GET /api/v1/me",
 "GET /api/v1/me"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u953'), user => '953'),
 UbtTest::headers(key => UbtTest::key('live', 'u953'), user => '953'),
 UbtTest::headers(key => UbtTest::key('live', 'u953'), user => '953')]
--- error_code eval
[200, 200, 429]
--- response_body_like eval
[qr/^user=953\n/,
 qr/^user=953\n/,
 qr/^\{"ok":false,"status":"RATE_LIMIT","retry_after":1,"retry_after_ms":\d+,"limit":2,"remaining":0,"reset":1,"request_id":"[0-9a-f]{32}"\}$/]
--- no_error_log
[error]
[alert]



=== TEST 5: admitted once Retry-After has passed
--- init
Time::HiRes::sleep(1.1);
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u953'), user => '953')
--- error_code: 200
--- response_body_like: ^user=953\n
--- no_error_log
[error]
[alert]



=== TEST 6: override wins over the plan
--- init
UbtTest::flush();
UbtTest::seed('954', UbtTest::key('live', 'u954'));
UbtTest::redis('HSET', 'ubt:{u:954}', 'limit', '1 r/m');
--- request eval
["GET /api/v1/me",
 "GET /api/v1/me"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u954'), user => '954'),
 UbtTest::headers(key => UbtTest::key('live', 'u954'), user => '954')]
--- error_code eval
[200, 429]
--- response_body_like eval
[qr/^user=954\n/,
 qr/^\{"ok":false,"status":"RATE_LIMIT","retry_after":60,"retry_after_ms":\d+,"limit":1,"remaining":0,"reset":60,"request_id":"[0-9a-f]{32}"\}$/]
--- no_error_log
[error]
[alert]



=== TEST 7: unlimited override
--- init
UbtTest::flush();
UbtTest::seed('955', UbtTest::key('live', 'u955'));
UbtTest::redis('HSET', 'ubt:{u:955}', 'limit', 'unlimited');
--- request eval
["GET /api/v1/me",
 "GET /api/v1/me",
 "GET /api/v1/me",
 "GET /api/v1/me",
 "GET /api/v1/me"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u955'), user => '955'),
 UbtTest::headers(key => UbtTest::key('live', 'u955'), user => '955'),
 UbtTest::headers(key => UbtTest::key('live', 'u955'), user => '955'),
 UbtTest::headers(key => UbtTest::key('live', 'u955'), user => '955'),
 UbtTest::headers(key => UbtTest::key('live', 'u955'), user => '955')]
--- error_code eval
[200, 200, 200, 200, 200]
--- response_body_like eval
[qr/^user=955\n/,
 qr/^user=955\n/,
 qr/^user=955\n/,
 qr/^user=955\n/,
 qr/^user=955\n/]
--- no_error_log
[error]
[alert]



=== TEST 8: unlimited plan has no limit headers
--- init
UbtTest::flush();
UbtTest::seed('956', UbtTest::key('live', 'u956'), plan => 'MAX');
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u956'), user => '956')
--- error_code: 200
--- response_headers
!X-RateLimit-Limit
!X-RateLimit-Remaining
X-Rate: //
--- no_error_log
[error]
[alert]



=== TEST 9: plan change on the next request
--- init
UbtTest::flush();
UbtTest::seed('957', UbtTest::key('live', 'u957'));
--- request eval
["GET /api/v1/me",
 "GET /api/v1/me",
 "GET /api/v1/me",
 "GET /api/v1/me",
 "PUT /ubt/admin/users/957/plan\n{\"plan\": \"PRO\"}",
 "GET /api/v1/me"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u957'), user => '957'),
 UbtTest::headers(key => UbtTest::key('live', 'u957'), user => '957'),
 UbtTest::headers(key => UbtTest::key('live', 'u957'), user => '957'),
 UbtTest::headers(key => UbtTest::key('live', 'u957'), user => '957'),
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 UbtTest::headers(key => UbtTest::key('live', 'u957'), user => '957')]
--- error_code eval
[200, 200, 200, 429, 200, 200]
--- response_body_like eval
[qr/^user=957\nplan=FREE\n/,
 qr/^user=957\nplan=FREE\n/,
 qr/^user=957\nplan=FREE\n/,
 qr/"status":"RATE_LIMIT"/,
 qr/"plan":"PRO"/,
 qr/^user=957\nplan=PRO\n/]
--- no_error_log
[error]
[alert]



=== TEST 10: plan changed back starts fresh
--- init
UbtTest::flush();
UbtTest::seed('966', UbtTest::key('live', 'u966'));
--- request eval
["GET /api/v1/me",
 "PUT /ubt/admin/users/966/plan\n{\"plan\": \"MAX\"}",
 "PUT /ubt/admin/users/966/plan\n{\"plan\": \"FREE\"}",
 "GET /api/v1/me"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u966'), user => '966'),
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 UbtTest::headers(key => UbtTest::key('live', 'u966'), user => '966')]
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
[qr/^user=966\n/,
 qr/"plan":"MAX"/,
 qr/"plan":"FREE"/,
 qr/^user=966\n/]
--- no_error_log
[error]
[alert]



=== TEST 11: fresh state after the plan changed back
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u966'), user => '966')
--- error_code: 200
--- response_headers
X-RateLimit-Limit: 3
X-RateLimit-Remaining: 1
--- no_error_log
[error]
[alert]



=== TEST 12: undefined plan refused by the API
--- init
UbtTest::flush();
UbtTest::seed('958', UbtTest::key('live', 'u958'));
--- request eval
["PUT /ubt/admin/users/958/plan\n{\"plan\": \"GOLD\"}",
 "POST /ubt/admin/keys\n{\"user_id\": 958, \"plan\": \"GOLD\"}"]
--- more_headers eval
["X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"]
--- error_code eval
[400, 400]
--- response_body_like eval
[qr/"reason":"INVALID_FIELD","field":"plan"/,
 qr/"reason":"INVALID_FIELD","field":"plan"/]
--- no_error_log
[error]
[alert]



=== TEST 13: plan dropped from nginx.conf falls back to the default
--- init
UbtTest::flush();
UbtTest::seed('959', UbtTest::key('live', 'u959'), plan => 'GONE');
--- request eval
["GET /api/v1/me",
 "GET /api/v1/me",
 "GET /api/v1/me",
 "GET /api/v1/me"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u959'), user => '959'),
 UbtTest::headers(key => UbtTest::key('live', 'u959'), user => '959'),
 UbtTest::headers(key => UbtTest::key('live', 'u959'), user => '959'),
 UbtTest::headers(key => UbtTest::key('live', 'u959'), user => '959')]
--- error_code eval
[200, 200, 200, 429]
--- response_body_like eval
[qr/^user=959\nplan=GONE\n/,
 qr/^user=959\nplan=GONE\n/,
 qr/^user=959\nplan=GONE\n/,
 qr/"limit":3,/]
--- no_error_log
[error]
[alert]



=== TEST 14: plan exhausted before a reload
--- init
UbtTest::flush();
UbtTest::seed('960', UbtTest::key('live', 'u960'));
--- request eval
["GET /api/v1/me",
 "GET /api/v1/me",
 "GET /api/v1/me",
 "GET /api/v1/me"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u960'), user => '960'),
 UbtTest::headers(key => UbtTest::key('live', 'u960'), user => '960'),
 UbtTest::headers(key => UbtTest::key('live', 'u960'), user => '960'),
 UbtTest::headers(key => UbtTest::key('live', 'u960'), user => '960')]
--- error_code eval
[200, 200, 200, 429]
--- response_body_like eval
[qr/^user=960\n/,
 qr/^user=960\n/,
 qr/^user=960\n/,
 qr/"status":"RATE_LIMIT"/]
--- no_error_log
[error]
[alert]



=== TEST 15: plan changed by a reload
--- http_config eval
$UbtTest::HttpConfig . "ubt_plan FREE 10r/m;\n"
--- init
my $ttl = UbtTest::redis('PTTL', 'ubt:{u:960}:rl');
$ttl > 0 && $ttl <= 60_000 or die "rate state of user 960 has TTL $ttl\n";
my $nonces = UbtTest::redis('KEYS', 'ubt:{u:960}:n:*');
for (@$nonces) { UbtTest::redis('PTTL', $_) > 0 or die "nonce $_ has no TTL\n" }
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u960'), user => '960')
--- error_code: 200
--- response_headers
X-RateLimit-Limit: 10
X-RateLimit-Remaining: 9
--- no_error_log
[error]
[alert]



=== TEST 16: plan exhausted on the second gateway
--- init
UbtTest::flush();
UbtTest::second_gateway("    ubt_plan FREE 3r/m;\n    ubt_plan PRO 600r/m burst=5;\n");
UbtTest::flush();
UbtTest::seed('965', UbtTest::key('live', 'u965'));
--- request eval
["GET /second/v1/me",
 "GET /second/v1/me",
 "GET /second/v1/me",
 "GET /second/v1/me"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u965'), user => '965'),
 UbtTest::headers(key => UbtTest::key('live', 'u965'), user => '965'),
 UbtTest::headers(key => UbtTest::key('live', 'u965'), user => '965'),
 UbtTest::headers(key => UbtTest::key('live', 'u965'), user => '965')]
--- error_code eval
[200, 200, 200, 429]
--- response_body_like eval
[qr/^user=965\n/,
 qr/^user=965\n/,
 qr/^user=965\n/,
 qr/"limit":3,/]
--- no_error_log
[error]
[alert]



=== TEST 17: plan changed by nginx -s reload
--- init
UbtTest::reload_second_gateway("    ubt_plan FREE 10r/m;\n    ubt_plan PRO 600r/m burst=5;\n");
--- request
GET /second/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u965'), user => '965')
--- error_code: 200
--- response_headers
X-RateLimit-Limit: 10
X-RateLimit-Remaining: 9
--- no_error_log
[error]
[alert]



=== TEST 18: IETF fields instead of the legacy ones
--- config
    location /api/ {
        ubt on;
        ubt_rate_limit_headers ietf;
        proxy_pass http://ubt_backend;
    }
--- init
UbtTest::flush();
UbtTest::seed('961', UbtTest::key('live', 'u961'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u961'), user => '961')
--- error_code: 200
--- response_headers
RateLimit-Policy: "ubt";q=3;w=60
RateLimit: "ubt";r=2;t=20
!X-RateLimit-Limit
--- no_error_log
[error]
[alert]



=== TEST 19: no limit headers when turned off
--- config
    location /api/ {
        ubt on;
        ubt_rate_limit_headers off;
        proxy_pass http://ubt_backend;
    }
--- init
UbtTest::flush();
UbtTest::seed('962', UbtTest::key('live', 'u962'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u962'), user => '962')
--- error_code: 200
--- response_headers
!X-RateLimit-Limit
!RateLimit
--- no_error_log
[error]
[alert]



=== TEST 20: exact under concurrency through one gateway
Not under valgrind: PRO admits one more request every 100 ms, and memcheck stretches the burst past that.
--- skip_valgrind
--- init
UbtTest::flush();
UbtTest::seed('963', UbtTest::key('live', 'u963'), plan => 'PRO');
my @codes = UbtTest::burst(UbtTest::server_port(),
    [map { ['/api/v1/me', UbtTest::headers(key => UbtTest::key('live', 'u963'), user => '963')] } 1 .. 20]);
my $ok = grep { $_ == 200 } @codes;
my $limited = grep { $_ == 429 } @codes;
$ok == 5 && $limited == 15 or die "20 concurrent requests: $ok admitted, $limited limited, not 5 and 15\n";
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u963'), user => '963')
--- error_code: 429
--- response_body_like: "status":"RATE_LIMIT"
--- no_error_log
[alert]
[crit]



=== TEST 21: exact under concurrency through two gateways
Not under valgrind: PRO admits one more request every 100 ms, and memcheck stretches the burst past that.
--- skip_valgrind
--- init
UbtTest::second_gateway("    ubt_plan FREE 3r/m;\n    ubt_plan PRO 600r/m burst=5;\n");
UbtTest::flush();
UbtTest::seed('964', UbtTest::key('live', 'u964'), plan => 'PRO');
my @codes = UbtTest::burst(UbtTest::server_port(),
    [map { [$_ % 2 ? '/api/v1/me' : '/second/v1/me',
            UbtTest::headers(key => UbtTest::key('live', 'u964'), user => '964')] } 1 .. 20]);
my $ok = grep { $_ == 200 } @codes;
my $limited = grep { $_ == 429 } @codes;
$ok == 5 && $limited == 15 or die "20 concurrent requests over two gateways: $ok admitted, $limited limited, not 5 and 15\n";
--- request
GET /second/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u964'), user => '964')
--- error_code: 429
--- response_body_like: "status":"RATE_LIMIT"
--- no_error_log
[alert]
[crit]
