# bin/ubtctl, the operator command, against the test nginx and Redis: the
# output and exit status of every command, its effect as the admin API
# shows it, each kind of failure, and that the provisioning token shows up
# in no command line, no environment of curl and no output.
#
# Each init section runs ubtctl and checks what it printed; the request of
# the block then checks through the admin API or a signed request that
# the change happened, or that nothing changed.

use Test::Nginx::Socket;
use FindBin;
use lib $FindBin::Bin;
use UbtTest;

use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();

our $Ubtctl = "$FindBin::Bin/../bin/ubtctl";
our $Dir = tempdir('ubtctl-test-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# A token of this run's own, so that no other process on the machine can
# show it in ps and fail the checks for a leaked token.
our $Token = do {
    open my $fh, '<:raw', '/dev/urandom' or die "cannot open /dev/urandom: $!\n";
    read($fh, my $bytes, 16) == 16 or die "short read from /dev/urandom\n";
    'ubtctl-test-token-' . unpack('H*', $bytes);
};

our $TokenFile = "$Dir/provision.secret";
UbtTest::write_secret($TokenFile, "$Token\n");
UbtTest::write_secret("$Dir/wrong.secret", "a-wrong-token-0123456789abcdef\n");
UbtTest::write_secret("$Dir/empty.secret", " \n");
UbtTest::write_secret("$Dir/readable.secret", "$Token\n");
chmod 0644, "$Dir/readable.secret";

$ENV{TEST_NGINX_UBTCTL_DIR} = $Dir;

our $AdminHeaders = "X-UBT-PROVISION: $Token\n";

# A curl first in ubtctl's PATH that records its arguments, its
# environment and every process's command line, then runs the real curl.
{
    my ($curl) = grep { -x } map { "$_/curl" } split /:/, $ENV{PATH};
    $curl or die "curl not found in PATH; install curl\n";

    mkdir "$Dir/bin" or die "cannot create $Dir/bin: $!\n";
    open my $fh, '>', "$Dir/bin/curl" or die "cannot write $Dir/bin/curl: $!\n";
    print $fh <<"_EOS_";
#!/bin/sh
printf '%s\\n' "\$@" > "\$UBTCTL_TEST_DIR/curl.argv"
env > "\$UBTCTL_TEST_DIR/curl.env"
ps -eww -o args > "\$UBTCTL_TEST_DIR/ps.out"
exec $curl "\$@"
_EOS_
    close $fh;
    chmod 0755, "$Dir/bin/curl";
}

our $HttpConfig = <<'_EOC_';
    ubt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    ubt_signing_secret_file $TEST_NGINX_UBT_DIR/signing.secret;
    ubt_provision_secret_file $TEST_NGINX_UBTCTL_DIR/provision.secret;

    ubt_plan FREE 30r/m;
    ubt_plan PRO  600r/m;
    ubt_plan MAX  unlimited;

    server {
        listen 127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
        return 200 "user=$http_x_ubt_user_id\n";
    }
_EOC_

our $Config = <<'_EOC_';
    location /ubt/admin/ {
        ubt_admin;
    }

    location /api/ {
        ubt on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_UBT_BACKEND_PORT;
    }
_EOC_


sub slurp {
    my ($path) = @_;

    open my $fh, '<', $path or return '';
    local $/;
    return scalar <$fh>;
}


sub gateway_url {
    return 'http://127.0.0.1:' . UbtTest::server_port() . '/';
}


# Runs ubtctl with the arguments @$args and returns its exit status, its
# standard output and its standard error.  Options: stdin (a string, empty
# by default, so that ubtctl never sees a terminal), env (variables to set,
# or with undef to remove, over the defaults below).

sub ubtctl {
    my ($args, %o) = @_;

    my %env = (
        PATH            => "$Dir/bin:$ENV{PATH}",
        UBT_URL         => gateway_url(),
        UBT_TOKEN_FILE  => $TokenFile,
        # time enough for an nginx under valgrind memcheck
        UBT_TIMEOUT     => 30,
        UBTCTL_TEST_DIR => $Dir,
        %{ $o{env} // {} },
    );

    unlink map { "$Dir/$_" } qw(curl.argv curl.env ps.out);

    open my $fh, '>', "$Dir/stdin" or die "cannot write $Dir/stdin: $!\n";
    print $fh $o{stdin} // '';
    close $fh;

    my $pid = fork() // die "fork failed: $!\n";

    if ($pid == 0) {
        delete @ENV{qw(http_proxy https_proxy HTTP_PROXY HTTPS_PROXY
                       all_proxy ALL_PROXY UBT_URL UBT_TOKEN_FILE
                       UBT_TIMEOUT)};

        for my $name (keys %env) {
            if (defined $env{$name}) {
                $ENV{$name} = $env{$name};
            } else {
                delete $ENV{$name};
            }
        }

        open STDIN, '<', "$Dir/stdin";
        open STDOUT, '>', "$Dir/stdout";
        open STDERR, '>', "$Dir/stderr";
        { exec { $Ubtctl } $Ubtctl, @$args }
        POSIX::_exit(127);
    }

    waitpid($pid, 0);

    return ($? >> 8, slurp("$Dir/stdout"), slurp("$Dir/stderr"));
}


# Runs ubtctl and makes five checks: its exit status, its standard output
# and standard error against patterns, the token in neither, and the token
# in none of the command lines, nor in curl's environment, while curl ran.
# Returns the standard output.

sub run_ok {
    my ($name, $args, $status, $stdout, $stderr, %o) = @_;

    my ($got, $out, $err) = ubtctl($args, %o);

    Test::More::is($got, $status, "$name - exit status");
    Test::More::like($out, $stdout, "$name - standard output");
    Test::More::like($err, $stderr, "$name - standard error");
    Test::More::ok(index("$out$err", $Token) < 0,
                   "$name - no token in the output");

    my $seen = join '', map { slurp("$Dir/$_") } qw(curl.argv curl.env ps.out);

    Test::More::ok(index($seen, $Token) < 0,
                   "$name - no token in ps or in curl's arguments or "
                   . "environment");

    return $out;
}


# Runs ubtctl under script(1), so that its standard input is a terminal,
# and types the token once the prompt shows.  Returns the exit status and
# what the terminal showed.

sub run_on_terminal {
    my (@args) = @_;

    my $command = join ' ', map { "'$_'" } $Ubtctl, @args;
    my $transcript = "$Dir/terminal";

    unlink $transcript;
    pipe(my $reader, my $writer) or die "pipe failed: $!\n";

    my $pid = fork() // die "fork failed: $!\n";

    if ($pid == 0) {
        close $writer;
        $ENV{UBT_URL} = gateway_url();
        delete @ENV{qw(http_proxy https_proxy HTTP_PROXY HTTPS_PROXY
                       all_proxy ALL_PROXY UBT_TOKEN_FILE)};
        open STDIN, '<&', $reader;
        open STDOUT, '>', $transcript;
        open STDERR, '>&', \*STDOUT;
        { exec 'script', '-qec', $command, '/dev/null' }
        POSIX::_exit(127);
    }

    close $reader;

    for (1 .. 200) {
        last if slurp($transcript) =~ /Provisioning token for /;
        Time::HiRes::sleep(0.05);
    }

    syswrite $writer, "$Token\n";
    close $writer;
    waitpid($pid, 0);

    return ($? >> 8, slurp($transcript));
}


# Returns the manual sections that "ubtctl help COMMAND" leaves out, for
# every command, as "command: SECTION" lines.

sub help_sections_missing {
    my @missing;

    for my $command (qw(issue rotate revoke disconnect ban reconnect plan
                        limit show audit))
    {
        my ($status, $out) = ubtctl(['help', $command]);

        push @missing, "$command: exit status $status" if $status != 0;

        for my $section ('NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS',
                         'ENVIRONMENT', 'EXIT STATUS', 'EXAMPLES')
        {
            push @missing, "$command: $section"
                unless $out =~ /^\Q$section\E\n/m;
        }
    }

    return join "\n", @missing;
}


sub closed_port {
    my $probe = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => 0, Listen => 1)
        or die "cannot find a free port on 127.0.0.1: $!\n";
    my $port = $probe->sockport;
    close $probe;
    return $port;
}


repeat_each(1);

# Four checks a block (status, body, two error-log patterns), five for each
# run_ok() in an init section, and one for each other check there.
{
    my ($runs, $checks) = (0, 0);

    for my $block (blocks()) {
        my $init = $block->init // '';
        $runs += () = $init =~ /\brun_ok\(/g;
        $checks += () = $init =~ /^\s*Test::More::(?:ok|is|like|unlike)\(/mg;
    }

    plan tests => repeat_each() * (4 * blocks() + 5 * $runs + $checks);
}

no_long_string();
no_shuffle();
UbtTest::use_defaults($::Config, $::HttpConfig);
run_tests();

__DATA__

=== TEST 1: issue prints the key once
--- init
UbtTest::flush();
my $out = main::run_ok('issue', ['issue', '4201', '--plan', 'pro'], 0,
    qr/\AIssued a live key for user 4201: issued_id [0-9A-Z]{26}, plan PRO\.\n\nAPI key, shown only this once \(the gateway keeps only its digest\):\nubt_live_[0-9A-Za-z]{49}\n\z/,
    qr/\A\z/);
my @keys = $out =~ /(ubt_\w+)/g;
Test::More::is(scalar @keys, 1, 'issue - one key printed');
Test::More::is(UbtTest::status_of('/api/v1/me', UbtTest::headers(key => $keys[0] // '', user => '4201')),
               200, 'issue - printed key accepted');
--- request
GET /ubt/admin/users/4201
--- more_headers eval
$::AdminHeaders
--- error_code: 200
--- response_body_like: ^\{"ok":true,"user_id":"4201","status":"CONNECTED","status_reason":null,"plan":"PRO","limit":null,"issued_id":"[0-9A-Z]{26}","key_env":"live",
--- no_error_log
[error]
[alert]



=== TEST 2: issue with --json
--- init
UbtTest::flush();
main::run_ok('issue --json', ['--json', 'issue', '4202', '--env', 'test'], 0,
    qr/\A\{"ok":true,"api_key":"ubt_test_[0-9A-Za-z]{49}","issued_id":"[0-9A-Z]{26}","user_id":"4202","plan":"FREE","env":"test","request_id":"[0-9a-f]{32}"\}\n\z/,
    qr/\A\z/);
--- request
GET /ubt/admin/users/4202
--- more_headers eval
$::AdminHeaders
--- error_code: 200
--- response_body_like: "plan":"FREE","limit":null,"issued_id":"[0-9A-Z]{26}","key_env":"test",
--- no_error_log
[error]
[alert]



=== TEST 3: rotate with a grace period
--- init
UbtTest::flush();
UbtTest::seed('4203', UbtTest::key('live', 'u4203'));
my $out = main::run_ok('rotate', ['rotate', '4203', '--grace', '60'], 0,
    qr/\AIssued a new live key for user 4203: issued_id [0-9A-Z]{26}, plan FREE\.\nThe previous key keeps working for 60 seconds\.\n\nAPI key, shown only this once \(the gateway keeps only its digest\):\nubt_live_[0-9A-Za-z]{49}\n\z/,
    qr/\A\z/);
my ($key) = $out =~ /(ubt_live_\w+)/;
Test::More::is(UbtTest::status_of('/api/v1/me', UbtTest::headers(key => $key // '', user => '4203')),
               200, 'rotate - new key accepted');
Test::More::is(UbtTest::status_of('/api/v1/me', UbtTest::headers(key => UbtTest::key('live', 'u4203'), user => '4203')),
               200, 'rotate - previous key accepted in its grace period');
--- request
GET /ubt/admin/audit?user_id=4203
--- more_headers eval
$::AdminHeaders
--- error_code: 200
--- response_body_like: ^\{"ok":true,"user_id":"4203","entries":\[\{"id":"[0-9-]+","time":\d{13},"action":"rotate","user_id":"4203","issued_id":"[0-9A-Z]{26}","actor":"127.0.0.1","reason":"grace 60s"\}\],
--- no_error_log
[error]
[alert]



=== TEST 4: rotate without grace period
--- init
UbtTest::flush();
UbtTest::seed('4204', UbtTest::key('live', 'u4204'));
main::run_ok('rotate at once', ['rotate', '4204'], 0,
    qr/\AIssued a new live key for user 4204: issued_id [0-9A-Z]{26}, plan FREE\.\nThe previous key no longer works\.\n\nAPI key/,
    qr/\A\z/);
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u4204'), user => '4204')
--- error_code: 401
--- response_body_like: "reason":"REVOKED_KEY"
--- error_log
ubt issued a live key for user "4204"
--- no_error_log
[alert]



=== TEST 5: rotate of an unknown user
--- init
UbtTest::flush();
main::run_ok('rotate unknown', ['rotate', '4205'], 1, qr/\A\z/,
    qr/\Aubtctl: rotate 4205 failed: HTTP 404, status NOT_FOUND, reason UNKNOWN_USER \(request_id [0-9a-f]{32}\): the gateway has no user 4205; "ubtctl issue" issues a first key\n\z/);
--- request
GET /ubt/admin/users/4205
--- more_headers eval
$::AdminHeaders
--- error_code: 404
--- response_body_like: "reason":"UNKNOWN_USER"
--- no_error_log
[error]
[alert]



=== TEST 6: revoke
--- init
UbtTest::flush();
UbtTest::seed('4206', UbtTest::key('live', 'u4206'));
main::run_ok('revoke', ['revoke', '4206', '--reason', 'key leaked'], 0,
    qr/\ARevoked every key of user 4206\.\n\z/, qr/\A\z/);
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u4206'), user => '4206')
--- error_code: 401
--- response_body_like: "reason":"REVOKED_KEY"
--- error_log
ubt admin revoke for user "4206"
--- no_error_log
[alert]



=== TEST 7: disconnect with a reason
--- init
UbtTest::flush();
UbtTest::seed('4207', UbtTest::key('live', 'u4207'));
main::run_ok('disconnect', ['disconnect', '4207', '--reason', 'abuse report 4411'], 0,
    qr/\ADisconnected user 4207\.\n\z/, qr/\A\z/);
--- request
GET /ubt/admin/users/4207
--- more_headers eval
$::AdminHeaders
--- error_code: 200
--- response_body_like: "status":"DISCONNECTED","status_reason":"abuse report 4411"
--- no_error_log
[error]
[alert]



=== TEST 8: ban with quotes in the reason
--- init
UbtTest::flush();
UbtTest::seed('4208', UbtTest::key('live', 'u4208'));
main::run_ok('ban', ['ban', '4208', '--reason', "said \"no\" \\ \x{c3}\x{bc}"], 0,
    qr/\ABanned user 4208\.\n\z/, qr/\A\z/);
--- request
GET /ubt/admin/users/4208
--- more_headers eval
$::AdminHeaders
--- error_code: 200
--- response_body_like: "status":"BANNED","status_reason":"said \\"no\\" \\\\ \x{c3}\x{bc}"
--- no_error_log
[error]
[alert]



=== TEST 9: reconnect lifts a ban
--- init
UbtTest::flush();
UbtTest::seed('4209', UbtTest::key('live', 'u4209'), status => 'BANNED');
main::run_ok('reconnect', ['reconnect', '4209'], 0,
    qr/\AReconnected user 4209\.\n\z/, qr/\A\z/);
--- request
GET /api/v1/me
--- more_headers eval
UbtTest::headers(key => UbtTest::key('live', 'u4209'), user => '4209')
--- error_code: 200
--- response_body
user=4209
--- no_error_log
[error]
[alert]



=== TEST 10: plan
--- init
UbtTest::flush();
UbtTest::seed('4210', UbtTest::key('live', 'u4210'));
main::run_ok('plan', ['plan', '4210', 'max'], 0,
    qr/\ASet the plan of user 4210 to MAX\.\n\z/, qr/\A\z/);
--- request
GET /ubt/admin/users/4210
--- more_headers eval
$::AdminHeaders
--- error_code: 200
--- response_body_like: "plan":"MAX","limit":null,
--- no_error_log
[error]
[alert]



=== TEST 11: limit set
--- init
UbtTest::flush();
UbtTest::seed('4211', UbtTest::key('live', 'u4211'));
main::run_ok('limit', ['limit', '4211', '100 r/M'], 0,
    qr/\ASet the rate limit of user 4211 to 100 r\/m\.\n\z/, qr/\A\z/);
main::run_ok('limit --json', ['--json', 'limit', '4211', 'unlimited'], 0,
    qr/\A\{"ok":true,"user_id":"4211","action":"limit","limit":"unlimited","request_id":"[0-9a-f]{32}"\}\n\z/,
    qr/\A\z/);
--- request
GET /ubt/admin/users/4211
--- more_headers eval
$::AdminHeaders
--- error_code: 200
--- response_body_like: "plan":"FREE","limit":"unlimited",
--- no_error_log
[error]
[alert]



=== TEST 12: limit clear
--- init
UbtTest::flush();
UbtTest::seed('4212', UbtTest::key('live', 'u4212'));
UbtTest::redis('HSET', 'ubt:{u:4212}', 'limit', '5 r/s');
main::run_ok('limit --clear', ['limit', '4212', '--clear'], 0,
    qr/\ACleared the rate limit of user 4212; its plan's rate applies\.\n\z/,
    qr/\A\z/);
--- request
GET /ubt/admin/users/4212
--- more_headers eval
$::AdminHeaders
--- error_code: 200
--- response_body_like: "plan":"FREE","limit":null,
--- no_error_log
[error]
[alert]



=== TEST 13: show as a table
--- init
UbtTest::flush();
UbtTest::seed('4213', UbtTest::key('live', 'u4213'), plan => 'MAX');
UbtTest::redis('HSET', 'ubt:{u:4213}', 'last_seen', 1796400000000,
               'tm_version', '1.0.11', 'tm_device', "vps\e[2J7");
my @rows = (['user_id', '4213'], ['status', 'CONNECTED'],
            ['status_reason', '-'], ['plan', 'MAX'], ['limit', '-'],
            ['issued_id', '01JTESTISSUEDID0000000000'], ['key_env', 'live'],
            ['created_at', undef], ['issued_at', '-'],
            ['last_seen', '2026-12-04T16:00:00Z'], ['prev_issued_id', '-'],
            ['prev_expires', '-'], ['telemetry.version', '1.0.11'],
            ['telemetry.platform', '-'], ['telemetry.device', 'vps?[2J7'],
            ['telemetry.system', '-'], ['telemetry.commit_hash', '-'],
            ['telemetry.first_name', '-'], ['telemetry.phone_number', '-'],
            ['telemetry.updated_at', '-']);
# created_at is the time of the seed: any time in UTC
my $table = join '', map {
    quotemeta(sprintf '%-22s  ', $_->[0])
    . (defined $_->[1] ? quotemeta $_->[1] : '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ')
    . '\n'
} @rows;
main::run_ok('show', ['show', '4213'], 0, qr/\A$table\z/, qr/\A\z/);
--- request
GET /ubt/admin/users/4213
--- more_headers eval
$::AdminHeaders
--- error_code: 200
--- response_body_like: "last_seen":1796400000000,
--- no_error_log
[error]
[alert]



=== TEST 14: show with --json
--- init
UbtTest::flush();
UbtTest::seed('4214', UbtTest::key('live', 'u4214'));
main::run_ok('show --json', ['show', '4214', '--json'], 0,
    qr/\A\{"ok":true,"user_id":"4214","status":"CONNECTED","status_reason":null,"plan":"FREE","limit":null,"issued_id":"01JTESTISSUEDID0000000000","key_env":"live","created_at":\d{13},"issued_at":null,"last_seen":null,"prev_issued_id":null,"prev_expires":null,"telemetry":\{"version":null,"platform":null,"device":null,"system":null,"commit_hash":null,"first_name":null,"phone_number":null,"updated_at":null\},"request_id":"[0-9a-f]{32}"\}\n\z/,
    qr/\A\z/);
--- request
GET /ubt/admin/users/4214
--- more_headers eval
$::AdminHeaders
--- error_code: 200
--- response_body_like: "status":"CONNECTED"
--- no_error_log
[error]
[alert]



=== TEST 15: audit as a table
--- init
UbtTest::flush();
UbtTest::seed('4215', UbtTest::key('live', 'u4215'));
UbtTest::seed('4216', UbtTest::key('live', 'u4216'));
main::run_ok('audit ban', ['ban', '4215', '--reason', 'spam'], 0, qr/\ABanned/, qr/\A\z/);
main::run_ok('audit plan', ['plan', '4216', 'PRO'], 0, qr/\ASet the plan/, qr/\A\z/);
# columns as wide as their widest cell, two spaces apart
my $head = 'TIME {18}ACTION {2}USER_ID {2}ISSUED_ID {18}ACTOR {6}REASON\n';
my $time = '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ';
main::run_ok('audit user', ['audit', '4215'], 0,
    qr/\A$head$time  ban {5}4215 {5}01JTESTISSUEDID0000000000  127\.0\.0\.1  spam\n\z/,
    qr/\A\z/);
main::run_ok('audit all users', ['audit', '--count', '1'], 0,
    qr/\A$head$time  plan {4}4216 {5}01JTESTISSUEDID0000000000  127\.0\.0\.1  PRO\n\z/,
    qr/\A\z/);
main::run_ok('audit empty', ['audit', '4299'], 0,
    qr/\ANo audit entries for user 4299\.\n\z/, qr/\A\z/);
--- request
GET /ubt/admin/audit?count=5
--- more_headers eval
$::AdminHeaders
--- error_code: 200
--- response_body_like: ^\{"ok":true,"entries":\[\{[^]]*"action":"plan",[^]]*\},\{[^]]*"action":"ban",[^]]*\}\],
--- no_error_log
[error]
[alert]



=== TEST 16: audit with --json
--- init
UbtTest::flush();
UbtTest::seed('4217', UbtTest::key('live', 'u4217'));
main::run_ok('audit --json disconnect', ['disconnect', '4217'], 0, qr/\ADisconnected/, qr/\A\z/);
main::run_ok('audit --json', ['audit', '4217', '--json'], 0,
    qr/\A\{"ok":true,"user_id":"4217","entries":\[\{"id":"\d+-\d+","time":\d{13},"action":"disconnect","user_id":"4217","issued_id":"01JTESTISSUEDID0000000000","actor":"127\.0\.0\.1","reason":"OPERATOR"\}\],"request_id":"[0-9a-f]{32}"\}\n\z/,
    qr/\A\z/);
--- request
GET /ubt/admin/users/4217
--- more_headers eval
$::AdminHeaders
--- error_code: 200
--- response_body_like: "status":"DISCONNECTED","status_reason":"OPERATOR"
--- no_error_log
[error]
[alert]



=== TEST 17: wrong token
--- init
UbtTest::flush();
UbtTest::seed('4218', UbtTest::key('live', 'u4218'));
main::run_ok('wrong token', ['ban', '4218'], 1, qr/\A\z/,
    qr/\Aubtctl: ban 4218 failed: HTTP 401, status UNAUTHORIZED \(request_id [0-9a-f]{32}\): the gateway rejected the provisioning token from token file \S+\/wrong\.secret\n\z/,
    env => { UBT_TOKEN_FILE => "$::Dir/wrong.secret" });
main::run_ok('wrong token --json', ['--json', 'ban', '4218'], 1,
    qr/\A\{"ok":false,"status":"UNAUTHORIZED","request_id":"[0-9a-f]{32}"\}\n\z/,
    qr/\Aubtctl: ban 4218 failed: HTTP 401, status UNAUTHORIZED /,
    env => { UBT_TOKEN_FILE => "$::Dir/wrong.secret" });
--- request
GET /ubt/admin/users/4218
--- more_headers eval
$::AdminHeaders
--- error_code: 200
--- response_body_like: "status":"CONNECTED"
--- error_log
ubt admin call rejected: wrong provisioning token
--- no_error_log
[alert]



=== TEST 18: unknown user
--- init
UbtTest::flush();
main::run_ok('unknown user', ['ban', '4219'], 1, qr/\A\z/,
    qr/\Aubtctl: ban 4219 failed: HTTP 404, status NOT_FOUND, reason UNKNOWN_USER \(request_id [0-9a-f]{32}\): the gateway has no user 4219\n\z/);
main::run_ok('unknown user --json', ['show', '4219', '--json'], 1,
    qr/\A\{"ok":false,"status":"NOT_FOUND","reason":"UNKNOWN_USER","request_id":"[0-9a-f]{32}"\}\n\z/,
    qr/\Aubtctl: show 4219 failed: HTTP 404, status NOT_FOUND, reason UNKNOWN_USER /);
--- request
GET /ubt/admin/users/4219
--- more_headers eval
$::AdminHeaders
--- error_code: 404
--- response_body_like: "reason":"UNKNOWN_USER"
--- error_log
ubt admin ban for unknown user "4219"
--- no_error_log
[alert]



=== TEST 19: invalid plan
--- init
UbtTest::flush();
UbtTest::seed('4220', UbtTest::key('live', 'u4220'));
main::run_ok('invalid plan', ['plan', '4220', 'GOLD'], 1, qr/\A\z/,
    qr/\Aubtctl: plan 4220 failed: HTTP 400, status BAD_REQUEST, reason INVALID_FIELD, field plan \(request_id [0-9a-f]{32}\): the gateway rejected the value of plan\n\z/);
--- request
GET /ubt/admin/users/4220
--- more_headers eval
$::AdminHeaders
--- error_code: 200
--- response_body_like: "plan":"FREE"
--- error_log
ubt admin call rejected: invalid field "plan"
--- no_error_log
[alert]



=== TEST 20: gateway down
--- init
UbtTest::flush();
my $port = main::closed_port();
main::run_ok('gateway down', ['show', '4221'], 3, qr/\A\z/,
    qr/\Aubtctl: cannot reach the gateway at http:\/\/127\.0\.0\.1:$port\/ubt\/admin\/: \(7\) Failed to connect to 127\.0\.0\.1 port $port\b[^\n]*\n\z/,
    env => { UBT_URL => "http://127.0.0.1:$port" });
--- request
GET /ubt/admin/audit
--- more_headers eval
$::AdminHeaders
--- error_code: 200
--- response_body_like: ^\{"ok":true,"entries":\[\],
--- no_error_log
[error]
[alert]



=== TEST 21: URL that is not the admin API
--- init
UbtTest::flush();
main::run_ok('not the admin API', ['show', '4222'], 1, qr/\A\z/,
    qr/\Aubtctl: show 4222 failed: HTTP 404, and the reply is not from the admin API; check the URL http:\/\/127\.0\.0\.1:\d+\/missing\/ and the gateway's allow and deny rules\n\z/,
    env => { UBT_URL => main::gateway_url() . 'missing/' });
--- request
GET /ubt/admin/audit
--- more_headers eval
$::AdminHeaders
--- error_code: 200
--- response_body_like: ^\{"ok":true,"entries":\[\],
--- error_log
/missing/users/4222" failed (2: No such file or directory)
--- no_error_log
[alert]



=== TEST 22: missing token
--- init
UbtTest::flush();
main::run_ok('missing token file', ['ban', '4223'], 2, qr/\A\z/,
    qr/\Aubtctl: token file \S+\/none\.secret not found: pass --token-file FILE or set UBT_TOKEN_FILE \(see "ubtctl --help"\)\n\z/,
    env => { UBT_TOKEN_FILE => "$::Dir/none.secret" });
Test::More::ok(!-e "$::Dir/curl.argv", 'missing token file - curl not run');
main::run_ok('no token', ['ban', '4223'], 2, qr/\A\z/,
    qr/\Aubtctl: missing provisioning token: pass --token-file FILE or set UBT_TOKEN_FILE \(see "ubtctl --help"\)\n\z/,
    env => { UBT_TOKEN_FILE => undef });
main::run_ok('empty token', ['ban', '4223', '--token-file', "$::Dir/empty.secret"], 2, qr/\A\z/,
    qr/\Aubtctl: the provisioning token from token file \S+\/empty\.secret is empty /);
main::run_ok('missing URL', ['ban', '4223'], 2, qr/\A\z/,
    qr/\Aubtctl: missing gateway URL: pass --url URL or set UBT_URL /,
    env => { UBT_URL => undef });
--- request
GET /ubt/admin/audit
--- more_headers eval
$::AdminHeaders
--- error_code: 200
--- response_body_like: ^\{"ok":true,"entries":\[\],
--- no_error_log
[error]
[alert]



=== TEST 23: invalid arguments
--- init
UbtTest::flush();
main::run_ok('no command', [], 2, qr/\A\z/, qr/\Aubtctl: missing command /);
main::run_ok('unknown command', ['frob', '4224'], 2, qr/\A\z/,
    qr/\Aubtctl: unknown command "frob" /);
main::run_ok('unknown option', ['show', '4224', '--token', 'x'], 2, qr/\A\z/,
    qr/\Aubtctl: unknown option --token /);
main::run_ok('invalid user id', ['show', '42/../24'], 2, qr/\A\z/,
    qr/\Aubtctl: invalid user id "42\/\.\.\/24": use 1 to 64 characters of A-Z, a-z, 0-9, _ and - /);
main::run_ok('option of another command', ['ban', '4224', '--plan', 'PRO'], 2,
    qr/\A\z/, qr/\Aubtctl: option --plan does not apply to ban /);
main::run_ok('invalid count', ['audit', '--count', '1001'], 2, qr/\A\z/,
    qr/\Aubtctl: invalid --count "1001": use a whole number from 1 to 1000 /);
main::run_ok('invalid grace', ['issue', '4224', '--grace=1h'], 2, qr/\A\z/,
    qr/\Aubtctl: invalid --grace "1h": use a whole number from 0 to 2592000 /);
main::run_ok('invalid env', ['issue', '4224', '--env', 'prod'], 2, qr/\A\z/,
    qr/\Aubtctl: invalid --env "prod": use live or test /);
main::run_ok('missing rate', ['limit', '4224'], 2, qr/\A\z/,
    qr/\Aubtctl: limit needs USER_ID RATE /);
main::run_ok('extra argument', ['ban', '4224', 'spam'], 2, qr/\A\z/,
    qr/\Aubtctl: unexpected argument "spam" after ban USER_ID /);
main::run_ok('missing option value', ['show', '4224', '--url'], 2, qr/\A\z/,
    qr/\Aubtctl: option --url needs a value /);
main::run_ok('invalid URL', ['show', '4224', '--url', 'ftp://127.0.0.1/'], 2, qr/\A\z/,
    qr/\Aubtctl: invalid URL "ftp:\/\/127\.0\.0\.1\/": it must start with http:\/\/ or https:\/\/ /);
Test::More::ok(!-e "$::Dir/curl.argv", 'invalid arguments - curl not run');
--- request
GET /ubt/admin/audit
--- more_headers eval
$::AdminHeaders
--- error_code: 200
--- response_body_like: ^\{"ok":true,"entries":\[\],
--- no_error_log
ubt admin
[alert]



=== TEST 24: token from standard input and a readable file
--- init
UbtTest::flush();
UbtTest::seed('4225', UbtTest::key('live', 'u4225'));
main::run_ok('token from stdin', ['show', '4225', '-t', '-'], 0,
    qr/\Auser_id +4225\nstatus +CONNECTED\n/, qr/\A\z/,
    stdin => "$::Token\r\n", env => { UBT_TOKEN_FILE => undef });
main::run_ok('token file readable by all', ['disconnect', '4225'], 0,
    qr/\ADisconnected user 4225\.\n\z/,
    qr/\Aubtctl: warning: token file \S+\/readable\.secret is readable by all users; chmod 600 it\n\z/,
    env => { UBT_TOKEN_FILE => "$::Dir/readable.secret" });
--- request
GET /ubt/admin/users/4225
--- more_headers eval
$::AdminHeaders
--- error_code: 200
--- response_body_like: "status":"DISCONNECTED"
--- no_error_log
[error]
[alert]



=== TEST 25: token typed at a prompt
--- init
UbtTest::flush();
UbtTest::seed('4226', UbtTest::key('live', 'u4226'));
my ($status, $screen) = main::run_on_terminal('ban', '4226');
Test::More::is($status, 0, 'prompt - exit status');
Test::More::like($screen, qr/Provisioning token for http:\/\/127\.0\.0\.1:\d+\/ubt\/admin\/: \r?\n(?s:.*)Banned user 4226\./,
                 'prompt - prompt and result shown');
Test::More::ok(index($screen, $::Token) < 0, 'prompt - token not echoed');
--- request
GET /ubt/admin/users/4226
--- more_headers eval
$::AdminHeaders
--- error_code: 200
--- response_body_like: "status":"BANNED"
--- no_error_log
[error]
[alert]



=== TEST 26: token in no command line
--- init
UbtTest::flush();
UbtTest::seed('4227', UbtTest::key('live', 'u4227'));
main::run_ok('command lines', ['reconnect', '4227'], 0, qr/\AReconnected/, qr/\A\z/);
my $argv = main::slurp("$::Dir/curl.argv");
my $ps = main::slurp("$::Dir/ps.out");
Test::More::like($argv, qr/^-H\n\@-\n/m, 'command lines - curl reads the token header from stdin');
Test::More::like($ps, qr/\bubtctl reconnect 4227\n/, 'command lines - ps shows ubtctl');
Test::More::like($ps, qr/\/curl -q -sS .*\/ubt\/admin\/users\/4227\/reconnect\n/, 'command lines - ps shows curl');
Test::More::like(main::slurp("$::Dir/curl.env"), qr/^UBT_TOKEN_FILE=/m, "command lines - curl's environment recorded");
--- request
GET /ubt/admin/users/4227
--- more_headers eval
$::AdminHeaders
--- error_code: 200
--- response_body_like: "status":"CONNECTED"
--- no_error_log
[error]
[alert]



=== TEST 27: manual
--- init
UbtTest::flush();
main::run_ok('--help', ['--help'], 0,
    qr/\ANAME\n.*^SYNOPSIS\n.*^DESCRIPTION\n.*^COMMANDS\n.*^OPTIONS\n.*^ENVIRONMENT\n.*^EXIT STATUS\n.*^EXAMPLES\n/ms,
    qr/\A\z/);
main::run_ok('command --help', ['limit', '--help'], 0,
    qr/\ANAME\n    ubtctl limit - set or clear a user's own rate limit\n/,
    qr/\A\z/);
main::run_ok('help of unknown command', ['help', 'frob'], 2, qr/\A\z/,
    qr/\Aubtctl: unknown command "frob" /);
Test::More::is(main::help_sections_missing(), '', 'help - every command has every section');
--- request
GET /ubt/admin/audit
--- more_headers eval
$::AdminHeaders
--- error_code: 200
--- response_body_like: ^\{"ok":true,"entries":\[\],
--- no_error_log
ubt admin
[alert]
