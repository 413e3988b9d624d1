# Redis Cluster: users spread over three masters, nonces and rate limits
# exact across two gateways, changes seen at once, and no wrong reply while
# a master fails over, dies or hands its slots to another.  It needs the
# cluster that util/run-tests --cluster (make test-cluster) starts, and is
# skipped without it.
#
# The blocks run in order and share the cluster: a failover or a kill
# changes which ports are masters for the blocks after it, so every block
# asks the cluster where its users are instead of assuming a layout.

use Test::Nginx::Socket;
use FindBin;
use lib "$FindBin::Bin/..";
use UbtTest;

BEGIN {
    unless (UbtTest::cluster_mode()) {
        Test::More::plan(skip_all => 'no Redis Cluster: run it with '
                                     . 'util/run-tests --cluster');
    }
}

our $Plans = <<'_EOC_';
    ubt_plan FREE 60r/m;
    ubt_plan PRO 600r/m burst=5;
    ubt_plan MAX unlimited;
_EOC_

our $HttpConfig = $UbtTest::HttpConfig . $Plans;

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

    # the second gateway, a separate nginx on the same cluster
    location /second/ {
        proxy_pass http://unix:$TEST_NGINX_UBT_DIR/second.sock:/api/;
    }
_EOC_

our $ProvisionHeaders = "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n"
                        . "X-UBT-SCOPE: PROVISION\n"
                        . "Content-Type: application/json\n";

# One user id for each third of the slot range, which "redis-cli --cluster
# create" gives to the three masters in turn, so that the blocks before
# the first failover reach every master.
our @SpreadUsers = map { spread_user($_) } 0 .. 2;

sub spread_user {
    my ($third) = @_;

    for my $id (7000 .. 7999) {
        return $id if int(UbtTest::keyslot("ubt:{u:$id}") * 3 / 16384)
                      == $third;
    }

    die "no user id from 7000 to 7999 in third $third of the slots\n";
}


repeat_each(1);

# Four checks for each of the 26 requests (status, body, two error-log
# patterns) and two for each of the 4 nginx that must not start, plus the
# checks that the inits make: TEST 1: 6, TEST 3: 3, TEST 5: 5, TEST 6: 7,
# TEST 7: 6, TEST 8: 5, TEST 9: 7.
plan tests => repeat_each() * (4 * 26 + 2 * 4 + 6 + 3 + 5 + 7 + 6 + 5 + 7);

no_long_string();
no_shuffle();
UbtTest::use_defaults($::Config, $::HttpConfig);
run_tests();


# Issues a key for $user through the provisioning endpoint and returns it.

sub issue_key {
    my ($user, $plan) = @_;

    my $body = qq({"user_id": $user)
               . (defined $plan ? qq(, "plan": "$plan"}) : '}');
    my ($status, $reply) = UbtTest::send_request('POST', '/issue',
                                                 $::ProvisionHeaders, $body);

    $status == 200 && $reply =~ /"api_key":"(ubt_live_[0-9A-Za-z]{49})"/
        or die "issuing a key for user $user failed: $status $reply\n";

    return $1;
}


# Sends one signed request for $user with $key through the main gateway,
# or through the second one with $second, and returns the status code and
# the reason of a rejection ("UNAVAILABLE" for a 503).

sub probe {
    my ($key, $user, $second, %o) = @_;

    my $uri = $second ? '/second/v1/me' : '/api/v1/me';
    my ($status, $body) = UbtTest::send_request('GET', $uri,
        UbtTest::headers(key => $key, user => $user, %o));

    my ($reason) = $body =~ /"reason":"([A-Z_]+)"/;
    ($reason) = $body =~ /"status":"([A-Z_]+)"/ unless defined $reason;

    return ($status, $reason // '');
}


# Runs $action in this process while a child sends probes one after
# another, until $action has returned and $after more seconds have passed
# (at most $limit seconds in all).  Each probe is [name, key, user, second,
# options], and they take turns.  Returns the results as [name, start time
# relative to the end of $action, status, reason, seconds until the reply]
# and what $action returned.

sub load_during {
    my ($action, $probes, $after, $limit) = @_;

    pipe(my $reader, my $writer) or die "pipe failed: $!\n";
    pipe(my $done_reader, my $done_writer) or die "pipe failed: $!\n";

    my $pid = fork() // die "fork failed: $!\n";

    if ($pid == 0) {
        close $reader;
        close $done_writer;

        my $start = Time::HiRes::time();
        my $done_at;
        my $i = 0;
        my $selector = '';
        vec($selector, fileno($done_reader), 1) = 1;

        eval { while (Time::HiRes::time() - $start < $limit) {
            if (!defined $done_at
                && select(my $ready = $selector, undef, undef, 0) > 0)
            {
                my $line = <$done_reader>;
                $done_at = $line =~ /^(\d+\.?\d*)/ ? $1 : Time::HiRes::time();
            }

            last if defined $done_at
                    && Time::HiRes::time() - $done_at > $after;

            my ($name, $key, $user, $second, $options) =
                @{ $probes->[$i++ % @$probes] };
            my $sent = Time::HiRes::time();
            my ($status, $reason) = probe($key, $user, $second,
                                          %{ $options // {} });

            print $writer join(' ', $name, $sent, $status, $reason || '-',
                               Time::HiRes::time() - $sent), "\n";
        } };
        print STDERR "the probes stopped: $@" if $@;

        close $writer;
        POSIX::_exit(0);
    }

    close $writer;
    close $done_reader;

    # the probes run for a moment before the change
    Time::HiRes::sleep(0.5);

    my $result = eval { $action->() };
    my $error = $@;
    my $end = Time::HiRes::time();

    print $done_writer "$end\n";
    close $done_writer;

    my @results;

    while (my $line = <$reader>) {
        chomp $line;
        my ($name, $sent, $status, $reason, $took) = split ' ', $line;
        push @results, [$name, $sent - $end, $status, $reason, $took];
    }

    waitpid($pid, 0);
    die $error if $error;

    return (\@results, $result);
}


# Formats results of load_during() for a failure message.

sub show {
    return join ', ', map { sprintf '%s@%+.2fs=%s/%s in %.2fs', @$_ } @_;
}


# The checks that every failure block makes on the results of
# load_during(): what "fresh" probes may return, that no probe with a spent
# nonce or a revoked key is ever admitted, how long 503 lasted at most, and
# that requests succeed again once the cluster is ok.  Five checks.

sub check_failure_results {
    my ($name, $results, $max_unavailable) = @_;

    my @fresh = grep { $_->[0] =~ /^fresh/ } @$results;
    my @wrong = grep { $_->[2] != 200
                       && !($_->[2] == 503 && $_->[3] eq 'UNAVAILABLE') }
                @fresh;
    Test::More::is(show(@wrong), '',
                   "$name - fresh requests get 200 or 503 UNAVAILABLE");

    my @admitted = grep { $_->[0] =~ /^(?:replay|revoked)/
                          && $_->[2] == 200 } @$results;
    Test::More::is(show(@admitted), '',
                   "$name - no replayed nonce or revoked key admitted");

    my @rejected = grep { $_->[0] =~ /^(?:replay|revoked)/ } @$results;
    my @odd = grep { !($_->[2] == 503 && $_->[3] eq 'UNAVAILABLE')
                     && !($_->[2] == 401
                          && $_->[3] eq ($_->[0] =~ /^replay/
                                         ? 'REPLAYED_NONCE'
                                         : 'REVOKED_KEY')) } @rejected;
    Test::More::is(show(@odd), '',
                   "$name - spent nonces and revoked keys get 401 or 503");

    my @unavailable = grep { $_->[2] == 503 } @$results;
    my $span = @unavailable
        ? $unavailable[-1][1] - $unavailable[0][1] : 0;
    Test::More::cmp_ok($span, '<=', $max_unavailable,
                       "$name - 503 for at most ${max_unavailable}s");

    my @late = grep { $_->[1] > 1.0 } @fresh;
    my @late_failed = grep { $_->[2] != 200 } @late;
    Test::More::ok(@late >= 3 && !@late_failed,
                   "$name - requests succeed again 1s after the change")
        or Test::More::diag(@late . " late fresh requests, failed: "
                            . show(@late_failed));
}


# Prepares $user for the failure blocks: a rotated key (the first is
# revoked), a spent nonce, and probes of each kind through both gateways,
# with one more for a user on another master.  Returns the master of $user
# and the probes.

sub failure_setup {
    my ($user) = @_;

    my $master = master_of($user);
    my $other = (grep { master_of($_) != $master } $user + 1 .. $user + 99)[0]
        // die "no user id after $user on another master than $master\n";

    return ($master, failure_probes($user, $other));
}


sub failure_probes {
    my ($user, $other) = @_;

    # the second key revokes the first
    my $revoked = issue_key($user, 'MAX');
    my $key = issue_key($user, 'MAX');
    my $other_key = issue_key($other, 'MAX');

    my $ts = UbtTest::now_ms();
    my $nonce = "spent-nonce-$user-$ts";
    my ($status) = probe($key, $user, 0, ts => $ts, nonce => $nonce);
    $status == 200 or die "the first use of a nonce got $status\n";

    return [
        ['fresh', $key, $user, 0],
        ['replay', $key, $user, 1, { ts => $ts, nonce => $nonce }],
        ['fresh-second', $key, $user, 1],
        ['revoked', $revoked, $user, 0, { header_user => undef }],
        ['fresh-nouser', $key, $user, 1, { header_user => undef }],
        ['replay-main', $key, $user, 0, { ts => $ts, nonce => $nonce }],
        ['other', $other_key, $other, 0],
    ];
}


# The master that serves $user's records.

sub master_of {
    my ($user) = @_;

    return UbtTest::cluster_command('owner',
                                    UbtTest::keyslot("ubt:{u:$user}"));
}

__DATA__

=== TEST 1: users spread over every master
--- init
UbtTest::second_gateway($::Plans);
UbtTest::flush();

my %keys = map { $_ => main::issue_key($_) } 3000 .. 3029;

my @masters = UbtTest::cluster_masters();
Test::More::is(scalar @masters, 3, 'TEST 1 - three masters');

for my $port (@masters) {
    # a key that another master serves gets MOVED, so count by slot
    my @held = grep { UbtTest::redis_at($port, 'CLUSTER', 'COUNTKEYSINSLOT',
                                        UbtTest::keyslot("ubt:{u:$_}")) }
               keys %keys;
    Test::More::ok(@held >= 1, "TEST 1 - master $port holds user records")
        or Test::More::diag("master $port holds none of 3000 to 3029");
}

my @slot_mismatch = grep { UbtTest::keyslot("ubt:{u:$_}")
                           != UbtTest::cluster_keyslot("ubt:{u:$_}") }
                    keys %keys;
Test::More::is("@slot_mismatch", '',
               'TEST 1 - keyslot() agrees with CLUSTER KEYSLOT');

my @failed;

for my $user (sort keys %keys) {
    my ($main) = main::probe($keys{$user}, $user, 0);
    my ($second) = main::probe($keys{$user}, $user, 1, header_user => undef);
    push @failed, "$user:$main/$second" if $main != 200 || $second != 200;
}

Test::More::is("@failed", '', 'TEST 1 - signed requests of every user pass');

# the user of the request below
UbtTest::seed('3100', UbtTest::key('live', 'u3100'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u3100'), user => '3100')
--- error_code: 200
--- response_body_like: ^user=3100\n
--- no_error_log
[error]
[alert]



=== TEST 2: nonce spent on the other gateway, on every master
--- init
UbtTest::second_gateway($::Plans);
UbtTest::flush();
UbtTest::seed($_, UbtTest::key('live', "u$_")) for @::SpreadUsers;
--- request eval
[map { ("GET /api/v1/me", "GET /second/v1/me") } @::SpreadUsers]
--- more_headers eval
[map { my $h = UbtTest::headers(key => UbtTest::key('live', "u$_"), user => $_, nonce => "shared-nonce-$_"); ($h, $h) } @::SpreadUsers]
--- error_code eval
[map { (200, 401) } @::SpreadUsers]
--- response_body_like eval
[map { (qr/^user=$_\n/, qr/"reason":"REPLAYED_NONCE"/) } @::SpreadUsers]
--- no_error_log
[error]
[alert]



=== TEST 3: rate limit exact through two gateways, on every master
--- init
UbtTest::second_gateway($::Plans);
UbtTest::flush();

for my $user (@::SpreadUsers) {
    UbtTest::seed($user, UbtTest::key('live', "u$user"), plan => 'PRO');

    my @codes = UbtTest::burst(UbtTest::server_port(),
        [map { [$_ % 2 ? '/api/v1/me' : '/second/v1/me',
                UbtTest::headers(key => UbtTest::key('live', "u$user"),
                                 user => $user)] } 1 .. 20]);
    my $ok = grep { $_ == 200 } @codes;
    my $limited = grep { $_ == 429 } @codes;

    Test::More::is("$ok admitted, $limited limited", '5 admitted, 15 limited',
                   "TEST 3 - 20 concurrent requests of user $user");
}
--- request
GET /second/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', "u$::SpreadUsers[2]"), user => $::SpreadUsers[2])
--- error_code: 429
--- response_body_like: "status":"RATE_LIMIT"
--- no_error_log
[alert]
[crit]



=== TEST 4: revocation seen at once by both gateways
--- init
UbtTest::second_gateway($::Plans);
UbtTest::flush();
UbtTest::seed($_, UbtTest::key('live', "u$_")) for @::SpreadUsers;
--- request eval
[map { ("GET /second/v1/me",
        "POST /ubt/admin/users/$_/revoke",
        "GET /second/v1/me",
        "GET /api/v1/me") } @::SpreadUsers]
--- more_headers eval
[map { ("X-UBT-PROVISION: $UbtTest::ProvisionSecret\n",
        UbtTest::headers(key => UbtTest::key('live', "u$_"), user => $_, header_user => undef),
        UbtTest::headers(key => UbtTest::key('live', "u$_"), user => $_))[1, 0, 1, 2] } @::SpreadUsers]
--- error_code eval
[map { (200, 200, 401, 401) } @::SpreadUsers]
--- response_body_like eval
[map { (qr/^user=$_\n/,
        qr/"action":"revoke"/,
        qr/"reason":"REVOKED_KEY"/,
        qr/"reason":"REVOKED_KEY"/) } @::SpreadUsers]
--- no_error_log
[error]
[alert]



=== TEST 5: ban of a user with a current key seen by both gateways
--- init
UbtTest::second_gateway($::Plans);
UbtTest::flush();
UbtTest::seed($::SpreadUsers[2], UbtTest::key('live', "u$::SpreadUsers[2]"));

# the second gateway admits the user, then the main one bans it through
# the admin API, and both refuse the very next request
my ($before) = main::probe(UbtTest::key('live', "u$::SpreadUsers[2]"),
                           $::SpreadUsers[2], 1);
Test::More::is($before, 200, 'TEST 5 - admitted before the ban');

my ($ban) = UbtTest::send_request('POST',
    "/ubt/admin/users/$::SpreadUsers[2]/ban",
    "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n");
Test::More::is($ban, 200, 'TEST 5 - ban through the admin API');

my @after = map { join '/', main::probe(UbtTest::key('live', "u$::SpreadUsers[2]"),
                                        $::SpreadUsers[2], $_) } 1, 0;
Test::More::is("@after", '403/BANNED 403/BANNED',
               'TEST 5 - banned on the second and the main gateway');

my ($reconnect) = UbtTest::send_request('POST',
    "/ubt/admin/users/$::SpreadUsers[2]/reconnect",
    "X-UBT-PROVISION: $UbtTest::ProvisionSecret\n");
Test::More::is($reconnect, 200, 'TEST 5 - reconnect through the admin API');

my ($again) = main::probe(UbtTest::key('live', "u$::SpreadUsers[2]"),
                          $::SpreadUsers[2], 1);
Test::More::is($again, 200, 'TEST 5 - admitted on the second gateway again');
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', "u$::SpreadUsers[2]"), user => $::SpreadUsers[2])
--- error_code: 200
--- response_body_like eval
qr/^user=$::SpreadUsers[2]\n/
--- no_error_log
[error]
[alert]



=== TEST 6: manual failover under load
CLUSTER FAILOVER on a replica: the old master pauses its clients until the
replica has every write, so nothing is lost, and the gateways follow the
MOVED replies to the new master.
--- init
UbtTest::second_gateway($::Plans);
UbtTest::flush();

my $user = 3200;
my ($master, $probes) = main::failure_setup($user);


my ($results, $new) = main::load_during(
    sub { UbtTest::cluster_command('failover', $master) }, $probes, 2, 20);

main::check_failure_results('TEST 6', $results, 2);
Test::More::is(main::master_of($user), $new,
               "TEST 6 - user $user now on the promoted replica");

my @other_failed = grep { $_->[0] eq 'other' && $_->[2] != 200 } @$results;
Test::More::is(main::show(@other_failed), '',
               'TEST 6 - users of the other masters unaffected');

# the user of the request below
UbtTest::seed('3250', UbtTest::key('live', 'u3250'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u3250'), user => '3250')
--- error_code: 200
--- response_body_like: ^user=3250\n
--- no_error_log eval
[qr/\[alert\]/, qr/worker process \d+ exited on signal/]



=== TEST 7: killed master under load
SIGKILL of a master once its replica has every write: the cluster marks it
as failing after the node timeout (1 s) and promotes the replica, and the
gateways answer 503 meanwhile, never a wrong 200.
--- init
UbtTest::second_gateway($::Plans);
UbtTest::flush();

my $user = 3300;
my ($master, $probes) = main::failure_setup($user);


my ($results, $new) = main::load_during(
    sub { UbtTest::cluster_command('kill-master', $master) }, $probes, 2, 40);

main::check_failure_results('TEST 7', $results, 8);
Test::More::is(main::master_of($user), $new,
               "TEST 7 - user $user now on the promoted replica");

# the killed node comes back as a replica, for the blocks after this one
UbtTest::cluster_command('restart', $master);

# the user of the request below
UbtTest::seed('3350', UbtTest::key('live', 'u3350'));
--- request
GET /second/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u3350'), user => '3350')
--- error_code: 200
--- response_body_like: ^user=3350\n
--- no_error_log eval
[qr/\[alert\]/, qr/worker process \d+ exited on signal/]



=== TEST 8: slots migrated under load
The slot of a user's records moves to another master by hand, held open
for 200 ms after its keys have moved, so that requests meet ASK and
TRYAGAIN; then the slot of its key digest moves; then redis-cli --cluster
reshard moves the first 100 slots of a master.  No request may fail.
--- init
UbtTest::second_gateway($::Plans);
UbtTest::flush();

my $user = 3400;
my ($master, $probes) = main::failure_setup($user);
my ($target) = grep { $_ != $master } UbtTest::cluster_masters();

my $digest_slot = UbtTest::keyslot('ubt:kd:' . Digest::SHA::sha256_hex($probes->[0][1]));

my ($results) = main::load_during(sub {
    UbtTest::cluster_command('migrate-slot', UbtTest::keyslot("ubt:{u:$user}"),
                             $target, 200);
    my $owner = UbtTest::cluster_command('owner', $digest_slot);
    my ($to) = grep { $_ != $owner } UbtTest::cluster_masters();
    UbtTest::cluster_command('migrate-slot', $digest_slot, $to, 200);
}, $probes, 1, 20);

my @fresh_failed = grep { $_->[0] =~ /^(?:fresh|other)/ && $_->[2] != 200 }
                   @$results;
Test::More::is(main::show(@fresh_failed), '',
               'TEST 8 - no request failed during the hand migration');

my @wrong = grep { $_->[0] =~ /^(?:replay|revoked)/ && $_->[2] != 401 }
            @$results;
Test::More::is(main::show(@wrong), '',
               'TEST 8 - spent nonces and revoked keys rejected with 401');

Test::More::is(main::master_of($user), $target,
               "TEST 8 - user $user now on master $target");


# a user in the first 100 slots of a master: redis-cli --cluster reshard
# moves the slots of its source in ascending order
my $from = main::master_of($user);
my @owned = sort { $a <=> $b }
            map { $_->[0] .. $_->[1] }
            grep { $_->[2][1] == $from }
            @{ UbtTest::redis_at($from, 'CLUSTER', 'SLOTS') };
my %first = map { $_ => 1 } @owned[0 .. 99];
my $moved = (grep { $first{UbtTest::keyslot("ubt:{u:$_}")} } 3500 .. 9999)[0]
    // die "no user id from 3500 to 9999 in the first 100 slots of $from\n";
my $moved_probes = main::failure_probes($moved, $user);
my ($to) = grep { $_ != $from } UbtTest::cluster_masters();

($results) = main::load_during(sub {
    UbtTest::cluster_command('reshard', $from, $to, 100);
}, $moved_probes, 1, 60);

@fresh_failed = grep { $_->[0] =~ /^(?:fresh|other)/ && $_->[2] != 200 }
                @$results;
Test::More::is(main::show(@fresh_failed), '',
               'TEST 8 - no request failed during the reshard');
Test::More::is(main::master_of($moved), $to,
               "TEST 8 - user $moved moved by the reshard");

# the user of the request below
UbtTest::seed('3450', UbtTest::key('live', 'u3450'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u3450'), user => '3450')
--- error_code: 200
--- response_body_like: ^user=3450\n
--- no_error_log eval
[qr/\[alert\]/, qr/worker process \d+ exited on signal/]



=== TEST 9: slot held open past ubt_redis_timeout
While a slot stays in migration, every script on it gets TRYAGAIN: the
gateway retries until ubt_redis_timeout (500 ms) and then answers 503
UNAVAILABLE, and admits requests again once the slot has moved.
--- init
UbtTest::second_gateway($::Plans);
UbtTest::flush();

my $user = 3600;
my ($master, $probes) = main::failure_setup($user);
my ($target) = grep { $_ != $master } UbtTest::cluster_masters();


my ($results) = main::load_during(sub {
    UbtTest::cluster_command('migrate-slot', UbtTest::keyslot("ubt:{u:$user}"),
                             $target, 2000);
}, $probes, 2, 20);

main::check_failure_results('TEST 9', $results, 3);

my @unavailable = grep { $_->[2] == 503 } @$results;
Test::More::ok(scalar @unavailable,
               'TEST 9 - 503 UNAVAILABLE while the slot is held open');

# 500 ms of retries and a second for everything else
my @slow = grep { $_->[4] > 1.5 } @$results;
Test::More::is(main::show(@slow), '',
               'TEST 9 - every reply within 1.5 s');

# the user of the request below
UbtTest::seed('3650', UbtTest::key('live', 'u3650'));
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u3650'), user => '3650')
--- error_code: 200
--- response_body_like: ^user=3650\n
--- no_error_log eval
[qr/\[alert\]/, qr/worker process \d+ exited on signal/]



=== TEST 10: ubt_redis_cluster with ubt_redis
--- http_config eval
$::HttpConfig . "    ubt_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};\n"
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log eval
qr/\[emerg\].*(?:"ubt_redis".*"ubt_redis_cluster"|"ubt_redis_cluster".*"ubt_redis")/



=== TEST 11: database parameter with ubt_redis_cluster
--- http_config
    ubt_redis_cluster 127.0.0.1:7000 db=1;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log eval
qr/\[emerg\].*"db=1"/



=== TEST 12: host name as a seed node, resolved at startup
--- http_config eval
my $first = (split ' ', $ENV{TEST_NGINX_REDIS_CLUSTER_NODES})[0];
$first =~ s/^127\.0\.0\.1:/localhost:/;
"    ubt_redis_cluster $first;\n"
--- config
    location = /t {
        ubt_health;
    }
--- request
GET /t
--- error_code: 200
--- response_body_like: ^\{"ok":true,"request_id":"[0-9a-f]{32}"\}$
--- no_error_log
[error]
[alert]



=== TEST 13: seed node with a malformed port
--- http_config
    ubt_redis_cluster 127.0.0.1:7000 127.0.0.1:7x01;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log eval
qr/\[emerg\].*"127\.0\.0\.1:7x01"/



=== TEST 14: seed node with an invalid port
--- http_config
    ubt_redis_cluster 127.0.0.1:7000 127.0.0.1:70000;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
--- config
    location /t {
        ubt on;
    }
--- request
GET /t
--- must_die
--- error_log eval
qr/\[emerg\].*"127\.0\.0\.1:70000"/
