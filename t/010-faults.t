# Redis faults on a Redis of the test's own: down when nginx starts, a
# read-only replica, killed and restarted under load, loading its dataset,
# and paused with requests waiting.  Each init runs the fault and dies, failing the block, when the
# gateway misbehaves.

use Test::Nginx::Socket;
use FindBin;
use lib $FindBin::Bin;
use UbtTest;

$ENV{TEST_NGINX_UBT_FAULT_PORT} = UbtTest::private_redis_port();

our $HttpConfig = <<'_EOC_';
    ubt_redis 127.0.0.1:$TEST_NGINX_UBT_FAULT_PORT;
    ubt_redis_timeout 300ms;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;

    server {
        listen 127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
        return 200 "reached $http_x_ubt_user_id\n";
    }
_EOC_

our $Config = <<'_EOC_';
    location /api/ {
        ubt on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
    }

    location = /health {
        ubt_health;
    }
_EOC_

repeat_each(1);

# four checks a block (status, body, two error-log patterns), and the
# restored connection of the first
plan tests => repeat_each() * (4 * blocks() + 1);

no_long_string();
no_shuffle();
UbtTest::use_defaults($::Config, $::HttpConfig);
run_tests();

__DATA__

=== TEST 1: redis down when nginx starts
--- init
UbtTest::status_of('/health') == 503
    or die "health with redis down is not 503\n";

UbtTest::private_redis_start();

# the gateway must find Redis again by itself within a second
my $start = Time::HiRes::time();
my $code = 0;

while (Time::HiRes::time() - $start < 1.0) {
    $code = UbtTest::status_of('/health');
    last if $code == 200;
    Time::HiRes::sleep(0.02);
}

$code == 200 or die "no recovery within 1 s of redis starting: $code\n";
--- request
GET /health
--- error_code: 200
--- response_body_like: ^\{"ok":true,
--- error_log
connect to redis failed
redis connection restored
--- no_error_log
[alert]



=== TEST 2: read-only replica
--- init
{
    local $ENV{TEST_NGINX_REDIS_PORT} = UbtTest::private_redis_port();
    UbtTest::flush();
    UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
}

# a replica of a master that is down keeps its data but refuses writes
UbtTest::private_redis('REPLICAOF', '127.0.0.1', '1');
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001')
--- error_code: 503
--- response_body_like: ^\{"ok":false,"status":"UNAVAILABLE",
--- error_log
redis replied with error "READONLY
--- no_error_log
[alert]



=== TEST 3: redis killed and restarted under load
--- init
UbtTest::private_redis('REPLICAOF', 'NO', 'ONE');

{
    local $ENV{TEST_NGINX_REDIS_PORT} = UbtTest::private_redis_port();
    UbtTest::flush();
    UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
}

my @codes;

for my $i (1 .. 60) {
    UbtTest::private_redis_stop('KILL') if $i == 15;
    UbtTest::private_redis_start() if $i == 30;

    push @codes, UbtTest::status_of('/api/v1/me',
        UbtTest::headers(key => UbtTest::key('live', 'u1001'),
                         user => '1001'));

    Time::HiRes::sleep(0.02);
}

my @wrong = grep { $_ != 200 && $_ != 503 } @codes;
my @gap = grep { $_ == 503 } @codes;
my @last = grep { $_ == 200 } @codes[50 .. 59];

@wrong == 0 or die "statuses other than 200 and 503: @wrong\n";
@gap > 0 or die "no 503 while redis was down: @codes\n";
@last == 10 or die "no recovery after the restart: @codes[50 .. 59]\n";
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001')
--- error_code: 200
--- response_body
reached 1001
--- no_error_log
[alert]
[crit]



=== TEST 4: redis loading its dataset
--- init
UbtTest::private_redis('REPLICAOF', 'NO', 'ONE');

{
    local $ENV{TEST_NGINX_REDIS_PORT} = UbtTest::private_redis_port();
    UbtTest::flush();
    UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
}

# enough keys, loaded slowly enough, to keep Redis loading for a second
UbtTest::private_redis('EVAL', "for i = 1, 5000 do "
                       . "redis.call('SET', 'fill:' .. i, 'x') end", '0');
UbtTest::private_redis('SAVE');
UbtTest::private_redis_stop();
UbtTest::private_redis_start('--appendonly', 'no', '--key-load-delay', '200',
                             '--loading-process-events-interval-bytes',
                             '1024');

my $headers = sub {
    UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001');
};

UbtTest::private_redis_loading() or die "redis is not loading\n";
my $code = UbtTest::status_of('/api/v1/me', $headers->());
UbtTest::private_redis_loading() or die "redis loaded too fast\n";
$code == 503 or die "status while redis loads: $code, not 503\n";

for (1 .. 300) {
    last unless UbtTest::private_redis_loading();
    Time::HiRes::sleep(0.05);
}

# the gateway must be back within a second of Redis having loaded
my $start = Time::HiRes::time();

while (Time::HiRes::time() - $start < 1.0) {
    $code = UbtTest::status_of('/api/v1/me', $headers->());
    last if $code == 200;
    Time::HiRes::sleep(0.02);
}

$code == 200 or die "no recovery within 1 s of redis loading: $code\n";
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001')
--- error_code: 200
--- response_body
reached 1001
--- error_log
LOADING Redis is loading the dataset in memory
--- no_error_log
[alert]



=== TEST 5: redis paused with a request waiting
--- http_config
    ubt_redis 127.0.0.1:$TEST_NGINX_UBT_FAULT_PORT;
    ubt_redis_timeout 500ms;
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

    location = /plain {
        return 200 "plain\n";
    }
--- init
{
    local $ENV{TEST_NGINX_REDIS_PORT} = UbtTest::private_redis_port();
    UbtTest::flush();
    UbtTest::seed('1001', UbtTest::key('live', 'u1001'));
    UbtTest::seed('1002', UbtTest::key('live', 'u1002'));
}

UbtTest::status_of('/plain') == 200 or die "nginx is not serving\n";

my $start = Time::HiRes::time();
UbtTest::private_redis('CLIENT', 'PAUSE', 1000, 'ALL');

my $first = UbtTest::request_start('/api/v1/me',
    UbtTest::headers(key => UbtTest::key('live', 'u1001'), user => '1001'));
Time::HiRes::sleep(0.1);

# the worker waits for Redis without blocking: a location without the
# module answers at once, from the same single worker
my $t = Time::HiRes::time();
my $plain = UbtTest::status_of('/plain');
my $ms = int((Time::HiRes::time() - $t) * 1000);
$plain == 200 && $ms < 250
    or die "plain location took $ms ms with status $plain\n";

my ($code) = UbtTest::response_of($first);
$code == 503 or die "status after the timeout: $code, not 503\n";

# the late reply to the first request comes when the pause ends, before
# the reply to this one: it must not be taken for it
Time::HiRes::sleep(0.7 - (Time::HiRes::time() - $start));
my ($status, $body) = UbtTest::response_of(UbtTest::request_start(
    '/api/v1/me',
    UbtTest::headers(key => UbtTest::key('live', 'u1002'), user => '1002')));
$status == 200 && $body eq "reached 1002\n"
    or die "request queued behind the late reply: $status $body\n";
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u1002'), user => '1002')
--- error_code: 200
--- response_body
reached 1002
--- error_log
redis command timed out after 500 ms
--- no_error_log
[alert]
