# Two gateways on one Redis: a change made through one takes effect on the
# very next request through the other, whatever the other has cached.

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

    # the second gateway, a separate nginx on the same Redis
    location /second/ {
        proxy_pass http://unix:$TEST_NGINX_UBT_DIR/second.sock:/api/;
    }
_EOC_

repeat_each(1);

# four checks a request (status, body, two error-log patterns)
plan tests => repeat_each() * (4 * blocks() + 4 * 11);

no_long_string();
no_shuffle();
UbtTest::use_defaults($::Config);
run_tests();

__DATA__
=== TEST 1: ban and reconnect seen by the other gateway
--- init
UbtTest::second_gateway();
UbtTest::flush();
UbtTest::seed('900', UbtTest::key('live', 'u900'));
--- request eval
["GET /second/v1/me",
 "POST /ubt/admin/users/900/ban",
 "GET /second/v1/me",
 "POST /ubt/admin/users/900/reconnect",
 "GET /second/v1/me"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u900'), user => '900'),
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 UbtTest::headers(key => UbtTest::key('live', 'u900'), user => '900'),
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 UbtTest::headers(key => UbtTest::key('live', 'u900'), user => '900')]
--- error_code eval
[200, 200, 403, 200, 200]
--- response_body_like eval
[qr/^user=900\n/,
 qr/"action":"ban"/,
 qr/"status":"BANNED"/,
 qr/"action":"reconnect"/,
 qr/^user=900\n/]
--- no_error_log
[error]
[alert]



=== TEST 2: revocation seen despite the key cache
--- init
UbtTest::second_gateway();
UbtTest::flush();
UbtTest::seed('901', UbtTest::key('live', 'u901'));
--- request eval
["GET /second/v1/me",
 "POST /ubt/admin/users/901/revoke",
 "GET /second/v1/me"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u901'), user => '901', header_user => undef),
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 UbtTest::headers(key => UbtTest::key('live', 'u901'), user => '901', header_user => undef)]
--- error_code eval
[200, 200, 401]
--- response_body_like eval
[qr/^user=901\n/,
 qr/"action":"revoke"/,
 qr/"reason":"REVOKED_KEY"/]
--- no_error_log
[error]
[alert]



=== TEST 3: disconnect seen by the other gateway
--- init
UbtTest::second_gateway();
UbtTest::flush();
UbtTest::seed('902', UbtTest::key('live', 'u902'));
--- request eval
["GET /second/v1/me",
 "POST /ubt/admin/users/902/disconnect",
 "GET /second/v1/me"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u902'), user => '902', header_user => undef),
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 UbtTest::headers(key => UbtTest::key('live', 'u902'), user => '902', header_user => undef)]
--- error_code eval
[200, 200, 403]
--- response_body_like eval
[qr/^user=902\n/,
 qr/"action":"disconnect"/,
 qr/"status":"DISCONNECTED"/]
--- no_error_log
[error]
[alert]



=== TEST 4: rotation seen by the other gateway
--- init
UbtTest::second_gateway();
UbtTest::flush();
UbtTest::seed('903', UbtTest::key('live', 'u903'));
--- request eval
["GET /second/v1/me",
 "POST /ubt/admin/keys\n{\"user_id\": 903}",
 "GET /second/v1/me"]
--- more_headers eval
[UbtTest::headers(key => UbtTest::key('live', 'u903'), user => '903'),
 "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
 UbtTest::headers(key => UbtTest::key('live', 'u903'), user => '903')]
--- error_code eval
[200, 200, 401]
--- response_body_like eval
[qr/^user=903\n/,
 qr/"user_id":"903"/,
 qr/"reason":"REVOKED_KEY"/]
--- no_error_log
[error]
[alert]



=== TEST 5: nonce spent on one gateway
--- init
UbtTest::second_gateway();
UbtTest::flush();
UbtTest::seed('904', UbtTest::key('live', 'u904'));
--- request eval
["GET /api/v1/me",
 "GET /second/v1/me"]
--- more_headers eval
my $h = UbtTest::headers(key => UbtTest::key('live', 'u904'), user => '904', nonce => 'shared-nonce-904'); [$h, $h]
--- error_code eval
[200, 401]
--- response_body_like eval
[qr/^user=904\n/,
 qr/"reason":"REPLAYED_NONCE"/]
--- no_error_log
[error]
[alert]



=== TEST 6: ten reloads under steady load
--- init
UbtTest::second_gateway();
UbtTest::flush();
UbtTest::seed('905', UbtTest::key('live', 'u905'));

my @codes;

for my $reload (1 .. 10) {
    for (1 .. 5) {
        push @codes, UbtTest::status_of('/second/v1/me',
            UbtTest::headers(key => UbtTest::key('live', 'u905'),
                             user => '905'));
    }

    UbtTest::hup_second_gateway();
    Time::HiRes::sleep(0.2);
}

my @failed = grep { $_ != 200 } @codes;
@failed == 0 or die "requests failed during reloads: @failed\n";

# once the old workers are gone, each gateway has one Redis connection:
# the main nginx's single process and the second gateway's one worker
my $clients;

for (1 .. 50) {
    my $list = UbtTest::redis('CLIENT', 'LIST');
    $clients = grep { !/cmd=client/ } split /\n/, $list;
    last if $clients == 2;
    Time::HiRes::sleep(0.1);
}

$clients == 2 or die "$clients redis connections after the reloads, not 2\n";
--- request
GET /second/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u905'), user => '905')
--- error_code: 200
--- response_body_like: ^user=905\n
--- no_error_log
[error]
[alert]



=== TEST 7: graceful shutdown with requests in flight
--- init
UbtTest::second_gateway();
UbtTest::flush();
UbtTest::seed('906', UbtTest::key('live', 'u906'));

# requests wait for a paused Redis while the second gateway is told to
# quit: each must still get a reply, 200 or 503, and none may be cut off
UbtTest::redis('CLIENT', 'PAUSE', 800, 'ALL');

pipe(my $reader, my $writer) or die "pipe failed: $!\n";
my $pid = fork() // die "fork failed: $!\n";

if ($pid == 0) {
    close $reader;
    my @codes = UbtTest::burst(UbtTest::server_port(),
        [map { ['/second/v1/me',
                UbtTest::headers(key => UbtTest::key('live', 'u906'),
                                 user => '906')] } 1 .. 5]);
    print $writer "@codes\n";
    close $writer;
    POSIX::_exit(0);
}

close $writer;
Time::HiRes::sleep(0.4);
UbtTest::quit_second_gateway();

my $line = <$reader> // '';
waitpid($pid, 0);
chomp $line;

my @codes = split ' ', $line;
my @wrong = grep { $_ != 200 && $_ != 503 } @codes;

@codes == 5 or die "replies to in-flight requests: '$line'\n";
@wrong == 0 or die "in-flight requests got @wrong during a graceful quit\n";
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u906'), user => '906')
--- error_code: 200
--- response_body_like: ^user=906\n
--- no_error_log
[alert]
[crit]
