package UbtTest;

# Helpers shared by the ubt test suites: secrets in a temporary directory,
# an independent implementation of the key format and the request
# signature, and a minimal Redis client for seeding and inspecting state.
#
# When TEST_NGINX_REDIS_CLUSTER_NODES holds a seed list (util/run-tests
# --cluster), the gateways use "ubt_redis_cluster" with it, and redis(),
# flush(), seed() and revoke() work on that Redis Cluster: each command
# follows MOVED and ASK redirections to the node that serves its key.
#
# The suites load it with "use lib $FindBin::Bin; use UbtTest;" so that it
# works the same under the real Test::Nginx and under the bundled runner.
# Test::Base evaluates "eval" sections in its own package, so blocks call
# these subs by their full names: UbtTest::headers(...), $UbtTest::HttpConfig.

use strict;
use warnings;

use Compress::Zlib ();
use Digest::SHA qw(sha256 sha256_hex hmac_sha256_hex);
use File::Basename ();
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();

our $SigningSecret = 'test-signing-secret-6d1f0c2a9b7e4d35';
our $ProvisionSecret = 'test-provision-token-83c5e0f14a2b9d67';
our $HttpConfig;
our $GatewayHttpConfig;

# the location most suites test: signed requests proxied to the echo server
our $GatewayConfig = <<'_EOC_';
    location /api/ {
        ubt on;
        proxy_pass http://ubt_backend;
    }
_EOC_

our $ProvisionConfig = <<'_EOC_';
    location = /issue {
        ubt_provision;
    }
_EOC_

my $Base62 = join '', '0' .. '9', 'A' .. 'Z', 'a' .. 'z';


BEGIN {
    $ENV{TEST_NGINX_REDIS_PORT} ||= 6379;
}

{
    my $dir = tempdir('ubt-test-XXXXXX', TMPDIR => 1, CLEANUP => 1);

    write_secret("$dir/signing.secret", "$SigningSecret\n");
    write_secret("$dir/provision.secret", "$ProvisionSecret\n");
    write_secret("$dir/short.secret", "too-short\n");
    write_secret("$dir/readable.secret", "readable-by-everyone-0123456789\n");
    chmod 0644, "$dir/readable.secret";

    $ENV{TEST_NGINX_UBT_DIR} = $dir;

    # the echo upstream listens on TCP: a killed nginx would leave a unix
    # socket file behind that the next one cannot bind
    my $probe = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => 0, Listen => 1)
        or die "cannot find a free port on 127.0.0.1: $!\n";
    $ENV{TEST_NGINX_UBT_BACKEND_PORT} ||= $probe->sockport;
    close $probe;

    my $backend = "127.0.0.1:$ENV{TEST_NGINX_UBT_BACKEND_PORT}";

    my $redis = cluster_mode()
        ? "ubt_redis_cluster $ENV{TEST_NGINX_REDIS_CLUSTER_NODES};"
        : "ubt_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};";

    $GatewayHttpConfig = <<"_EOC_";
    $redis
    ubt_signing_secret_file $dir/signing.secret;
    ubt_provision_secret_file $dir/provision.secret;

    upstream ubt_backend {
        server $backend;
    }
_EOC_

    # the upstream echoes what the gateway forwarded, one header a line
    $HttpConfig = $GatewayHttpConfig . <<"_EOC_";

    server {
        listen $backend;
        underscores_in_headers on;

        location = /missing {
            return 404;
        }

        location / {
            default_type text/plain;
            return 200 "user=\$http_x_ubt_user_id
plan=\$http_x_ubt_plan
issued=\$http_x_ubt_issued_id
env=\$http_x_ubt_key_env
key=\$http_x_ubt_api_key
live_key=\$http_x_ubt_live_api_key
ts=\$http_x_ubt_ts
nonce=\$http_x_ubt_nonce
sign=\$http_x_ubt_sign
provision=\$http_x_ubt_provision
other=\$http_x_ubt_version
";
        }
    }
_EOC_
}


# Gives every block without its own http_config and config the shared ones,
# or the http_config given.  Call it before run_tests().

sub use_defaults {
    my ($config, $http_config) = @_;

    $http_config //= $HttpConfig;

    main::add_block_preprocessor(sub {
        my ($block) = @_;

        $block->set_value('http_config', $http_config)
            unless defined $block->http_config;
        $block->set_value('config', $config)
            unless defined $block->config;
    });
}


# Starts, once per test file, a second nginx gateway on the same Redis,
# listening on a unix socket; the main one reaches it through a location
# that proxies to that socket.  $extra_http goes into its http block.  It
# is stopped by its PID when the file ends.
#
# When the current block runs its nginx under valgrind memcheck
# (TEST_NGINX_USE_VALGRIND set and no --- skip_valgrind), so does the
# second gateway: in the foreground, as a child of the test script, with
# a memcheck log for its master and one for each worker.  Those logs are
# checked once it has stopped, and an error or a definite leak adds one
# failed test.  A running second gateway is reused, unless it runs under
# valgrind and the current block skips valgrind, or the other way round:
# then it is stopped and started again with $extra_http.

my $SecondPid;
my $SecondValgrind;
my $BlockValgrind = $ENV{TEST_NGINX_USE_VALGRIND} ? 1 : 0;
my $MainPid = $$;

main::add_block_preprocessor(sub {
    my ($block) = @_;

    $BlockValgrind = $ENV{TEST_NGINX_USE_VALGRIND}
                     && !defined $block->skip_valgrind ? 1 : 0;
});

# Seconds that the second gateway gets to write its pid file, and to exit
# after QUIT.  Under memcheck nginx runs 20 to 30 times slower (Valgrind
# Quick Start Guide), and the leak check at exit takes seconds more.
my $SecondTimeout = $ENV{TEST_NGINX_USE_VALGRIND}
    ? $ENV{TEST_NGINX_VALGRIND_TIMEOUT} || 30 : 5;

sub second_gateway {
    my ($extra_http) = @_;

    my $dir = $ENV{TEST_NGINX_UBT_DIR};

    if ($SecondPid) {
        return "$dir/second.sock" if $SecondValgrind == $BlockValgrind;
        _stop_second_gateway('QUIT');
    }

    my $modules = join '', map { "load_module $_;\n" }
                           split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // '';
    my $user = $> == 0 ? "user root;\n" : '';

    $SecondValgrind = $BlockValgrind;
    my $daemon = $SecondValgrind ? 'off' : 'on';

    mkdir "$dir/second";
    mkdir "$dir/second/logs";
    unlink "$dir/second/nginx.pid", glob "$dir/second/logs/valgrind.*.log";

    open my $fh, '>', "$dir/second/nginx.conf"
        or die "cannot write $dir/second/nginx.conf: $!\n";
    print $fh <<"_EOC_";
${modules}${user}daemon $daemon;
master_process on;
worker_processes 1;
pid $dir/second/nginx.pid;
error_log $dir/second/logs/error.log debug;

events {
    worker_connections 64;
}

http {
    access_log off;
    client_body_temp_path $dir/second/body;
    proxy_temp_path $dir/second/proxy;
$GatewayHttpConfig
@{[ $extra_http // '' ]}
    server {
        listen unix:$dir/second.sock;

        location /api/ {
            ubt on;
            add_header X-Gateway second always;
            proxy_pass http://ubt_backend;
        }
    }
}
_EOC_
    close $fh;

    my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
    my @cmd = ($bin, '-p', "$dir/second/", '-c', "$dir/second/nginx.conf");

    if ($SecondValgrind) {
        $SecondPid = _spawn_under_valgrind(@cmd);

    } else {
        system(@cmd) == 0
            or die "the second gateway failed to start, see "
                   . "$dir/second/logs/error.log\n";
    }

    my $pid;

    for (1 .. $SecondTimeout * 10) {
        $pid = _read_pid("$dir/second/nginx.pid");
        last if $pid && (!$SecondPid || $pid == $SecondPid);

        if ($SecondPid && waitpid($SecondPid, POSIX::WNOHANG()) == $SecondPid)
        {
            undef $SecondPid;
            die "the second gateway exited at start, see "
                . "$dir/second/logs/error.log and $dir/second/logs/stderr\n";
        }

        undef $pid;
        Time::HiRes::sleep(0.1);
    }

    unless ($pid) {
        _stop_second_gateway('KILL') if $SecondPid;
        die "the second gateway wrote no pid file within ${SecondTimeout}s\n";
    }

    $SecondPid = $pid;

    return "$dir/second.sock";
}


# Runs @cmd in the background under valgrind memcheck, with the options
# and suppressions of the test nginx, and returns its PID.

sub _spawn_under_valgrind {
    my (@cmd) = @_;

    my $dir = $ENV{TEST_NGINX_UBT_DIR};

    my @valgrind = _valgrind_module()->can('command')->(
        log_file     => "$dir/second/logs/valgrind.%p.log",
        suppressions => $ENV{TEST_NGINX_VALGRIND_SUPPRESSIONS},
    );

    my $pid = fork() // die "fork failed: $!\n";

    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', "$dir/second/logs/stderr";
        { exec { $valgrind[0] } @valgrind, @cmd }
        print STDERR "cannot run $valgrind[0]: $!\n";
        POSIX::_exit(127);
    }

    return $pid;
}


# Loads the memcheck log parser of the bundled runner from t/lib, which is
# on @INC only when that runner is used.

sub _valgrind_module {
    local @INC = (File::Basename::dirname(__FILE__) . '/lib', @INC);
    require Test::Nginx::Bundled::Valgrind;
    return 'Test::Nginx::Bundled::Valgrind';
}


sub _read_pid {
    my ($path) = @_;

    open my $fh, '<', $path or return undef;
    my $pid = <$fh>;
    close $fh;

    return defined $pid && $pid =~ /^(\d+)$/ ? $1 : undef;
}


# Sends $signal to the second gateway and waits until it has exited, or
# kills it when it has not exited in time.  Under valgrind its memcheck
# logs are then checked.

sub _stop_second_gateway {
    my ($signal) = @_;

    my $pid = $SecondPid or return;
    undef $SecondPid;

    # A daemonized master leads its own process group, so a worker whose
    # master has crashed stops too instead of holding the test's stderr
    # open.  Under valgrind the master is a child of this script, in its
    # group.
    kill $signal, $SecondValgrind ? $pid : -$pid;

    my $exited = _wait_exit($pid, $SecondTimeout);

    if (!$exited) {
        kill 'KILL', $pid;
        _wait_exit($pid, 5);
    }

    return unless $SecondValgrind;

    _check_second_valgrind($exited ? () : "the second gateway did not exit "
                           . "within ${SecondTimeout}s of SIG$signal and "
                           . "was killed\n");
}


sub _wait_exit {
    my ($pid, $seconds) = @_;

    for (1 .. $seconds * 20) {
        if ($SecondValgrind) {
            # a child of this script, which must reap it
            return 1 if waitpid($pid, POSIX::WNOHANG()) == $pid;

        } else {
            return 1 unless kill 0, $pid;
            # a killed child of init may stay a zombie for a while
            return 1 if (_state($pid) // '') eq 'Z';
        }

        Time::HiRes::sleep(0.05);
    }

    return 0;
}


# Checks every memcheck log of the second gateway: its master's and those
# of all the workers it started.  A problem adds one failed test.

sub _check_second_valgrind {
    my (@problems) = @_;

    my $dir = $ENV{TEST_NGINX_UBT_DIR};
    my @logs = glob "$dir/second/logs/valgrind.*.log";

    push @problems, "valgrind wrote no log in $dir/second/logs\n"
        unless @logs;

    for my $log (@logs) {
        my $text = do { local (@ARGV, $/) = $log; <> };
        my @found = _valgrind_module()->can('problems')->($text);
        push @problems, "from $log:\n" . join("\n", @found) if @found;
    }

    return unless @problems;

    Test::More::fail("$0 second gateway - valgrind memcheck finds no "
                     . "errors");
    Test::More::diag(join "\n", @problems);
}


# Stops the second gateway with QUIT, as "nginx -s quit" does, and waits
# until it has exited.

sub quit_second_gateway {
    _stop_second_gateway('QUIT');
}


# Sends HUP to the second gateway, as "nginx -s reload" does.

sub hup_second_gateway {
    die "the second gateway is not running\n" unless $SecondPid;
    kill 'HUP', $SecondPid or die "cannot signal the second gateway: $!\n";
}


# Rewrites the second gateway's configuration with $extra_http in its http
# block and reloads it with HUP, as an operator would after an edit.  It
# returns once the workers of the old configuration have exited, so that
# the next request reaches a worker with the new one.

sub reload_second_gateway {
    my ($extra_http) = @_;

    my $dir = $ENV{TEST_NGINX_UBT_DIR};

    die "the second gateway is not running\n" unless $SecondPid;

    my $conf = do { local (@ARGV, $/) = "$dir/second/nginx.conf"; <> };
    $conf =~ s/(\n\s*ubt_plan [^\n]*)+//g;
    $conf =~ s/(\n    server \{\n        listen unix:)/\n$extra_http$1/;

    open my $fh, '>', "$dir/second/nginx.conf"
        or die "cannot write $dir/second/nginx.conf: $!\n";
    print $fh $conf;
    close $fh;

    my @old = _children($SecondPid);
    @old or die "the second gateway has no worker process\n";

    kill 'HUP', $SecondPid or die "cannot signal the second gateway: $!\n";

    for (1 .. $SecondTimeout * 20) {
        my %now = map { $_ => 1 } _children($SecondPid);
        return if %now && !grep { $now{$_} } @old;
        Time::HiRes::sleep(0.05);
    }

    die "the old workers of the second gateway still run "
        . "${SecondTimeout}s after the reload\n";
}


# Returns the PIDs of the live child processes of $pid.

sub _children {
    my ($pid) = @_;

    my @children;

    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        my ($child, $state, $parent) = $line =~ /^(\d+) \(.*\) (\S) (\d+)/
            or next;
        push @children, $child if $parent == $pid && $state ne 'Z';
    }

    return @children;
}


END {
    local $?;
    _stop_second_gateway('QUIT') if $$ == $MainPid;
}


# Sends the requests [uri, headers] of @$requests at the same moment, each
# on its own connection to 127.0.0.1:$port, and returns the status codes.
# The children connect first and send only when all are connected.

sub burst {
    my ($port, $requests) = @_;

    my (@pids, @readers);
    pipe(my $go_reader, my $go_writer) or die "pipe failed: $!\n";

    for my $request (@$requests) {
        my ($uri, $h) = @$request;

        pipe(my $reader, my $writer) or die "pipe failed: $!\n";

        my $pid = fork() // die "fork failed: $!\n";

        if ($pid == 0) {
            close $reader;
            close $go_writer;

            my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                             PeerPort => $port,
                                             Proto => 'tcp')
                or POSIX::_exit(1);

            # blocks until the parent closes its end: the starting signal
            my $ignored = <$go_reader>;

            (my $lines = $h) =~ s/\n/\r\n/g;
            print $sock "GET $uri HTTP/1.1\r\nHost: localhost\r\n"
                        . "Connection: close\r\n$lines\r\n";

            my $status = <$sock> // '';
            my ($code) = $status =~ m{^HTTP/1\.[01] (\d{3})};
            print $writer(($code // 0) . "\n");
            close $writer;

            POSIX::_exit(0);
        }

        close $writer;
        push @pids, $pid;
        push @readers, $reader;
    }

    close $go_reader;
    Time::HiRes::sleep(0.2);
    close $go_writer;

    my @codes = map { my $c = readline($_) // "0\n"; chomp $c; $c } @readers;

    waitpid($_, 0) for @pids;

    return @codes;
}


sub server_port {
    my $port = $ENV{TEST_NGINX_CLIENT_PORT} || $ENV{TEST_NGINX_SERVER_PORT}
               || $ENV{TEST_NGINX_PORT} || 1984;
    $port =~ s/.*://;
    return $port;
}


# A Redis of the test's own, which a test may stop, kill and start again.
# It keeps an append-only file, so its data outlives a restart.

my %Private;

sub private_redis_port {
    unless ($Private{port}) {
        my $probe = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                          LocalPort => 0, Listen => 1)
            or die "cannot find a free port on 127.0.0.1: $!\n";
        $Private{port} = $probe->sockport;
        close $probe;
    }

    return $Private{port};
}


# Extra arguments go after the default ones, so that they override them.
# It returns once Redis answers, even if only that it is loading its data.

sub private_redis_start {
    my (@extra) = @_;

    my $dir = "$ENV{TEST_NGINX_UBT_DIR}/private-redis";
    my $port = private_redis_port();

    mkdir $dir;

    system('redis-server', '--port', $port, '--bind', '127.0.0.1',
           '--save', '', '--appendonly', 'yes', '--appendfsync', 'always',
           '--dir', $dir, '--daemonize', 'yes',
           '--pidfile', "$dir/redis.pid", '--logfile', "$dir/redis.log",
           @extra) == 0
        or die "redis-server on port $port failed to start\n";

    for (1 .. 100) {
        my $pong = eval { private_redis('PING') };
        if ((defined $pong && $pong eq 'PONG') || private_redis_loading()) {
            open my $fh, '<', "$dir/redis.pid" or die "no redis pid file\n";
            chomp($Private{pid} = <$fh>);
            return;
        }
        Time::HiRes::sleep(0.05);
    }

    die "redis-server on port $port did not answer\n";
}


sub private_redis_stop {
    my ($signal) = @_;

    my $pid = delete $Private{pid} or return;

    kill $signal // 'TERM', $pid;

    for (1 .. 100) {
        last unless kill 0, $pid;
        # a killed child of init may stay a zombie for a while
        last if (eval { _state($pid) } // '') eq 'Z';
        Time::HiRes::sleep(0.05);
    }

    # the port must be closed before the test goes on
    for (1 .. 100) {
        last unless IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                          PeerPort => $Private{port});
        Time::HiRes::sleep(0.05);
    }
}


# Whether the private Redis answers that it is loading its dataset.

sub private_redis_loading {
    return !defined eval { private_redis('PING') }
        && $@ =~ /^redis error: LOADING/;
}


sub _state {
    my ($pid) = @_;

    open my $fh, '<', "/proc/$pid/stat" or return undef;
    my $stat = <$fh>;
    return $stat =~ /\) (\S)/ ? $1 : undef;
}


sub private_redis {
    return redis_at(private_redis_port(), @_);
}


# Sends one request to the test nginx on a new connection and returns its
# status code, or 0 when no reply came.  $port defaults to the test
# server's port.

sub status_of {
    my ($uri, $headers, $port) = @_;

    my ($status) = response_of(request_start($uri, $headers, $port));

    return $status;
}


# Sends one GET request over HTTP/1.1 to 127.0.0.1:$port (default: the
# test server's port) on a new connection and returns the socket, or
# undef, without waiting for the reply.

sub request_start {
    my ($uri, $headers, $port) = @_;

    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $port // server_port(),
                                     Proto => 'tcp', Timeout => 3)
        or return undef;

    (my $lines = $headers // '') =~ s/\n/\r\n/g;
    print $sock "GET $uri HTTP/1.1\r\nHost: localhost\r\n"
                . "Connection: close\r\n$lines\r\n";

    return $sock;
}


# Sends one request with $method and $body (default: none) over HTTP/1.1
# to 127.0.0.1:$port (default: the test server's port) on a new connection
# and returns its status code (0 when no reply came) and its body.

sub send_request {
    my ($method, $uri, $headers, $body, $port) = @_;

    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $port // server_port(),
                                     Proto => 'tcp', Timeout => 3)
        or return (0, '');

    $body //= '';
    (my $lines = $headers // '') =~ s/\n/\r\n/g;
    print $sock "$method $uri HTTP/1.1\r\nHost: localhost\r\n"
                . "Connection: close\r\nContent-Length: " . length($body)
                . "\r\n$lines\r\n$body";

    return response_of($sock);
}


# Reads the reply on a socket from request_start() and returns its status
# code (0 when no reply came) and its body.

sub response_of {
    my ($sock) = @_;

    return (0, '') unless $sock;

    local $/;
    my $reply = <$sock> // '';
    close $sock;

    my ($head, $body) = split /\r\n\r\n/, $reply, 2;

    return ($head =~ m{^HTTP/1\.[01] (\d{3})} ? $1 : 0, $body // '');
}


END {
    private_redis_stop() if $Private{pid};
}


sub write_secret {
    my ($path, $content) = @_;

    open my $fh, '>', $path or die "cannot write $path: $!\n";
    print $fh $content;
    close $fh;
    chmod 0600, $path;
}


sub secret {
    my ($name) = @_;

    return $name eq 'provision' ? $ProvisionSecret : $SigningSecret;
}


sub now_ms {
    return int(Time::HiRes::time() * 1000);
}


# Makes a well-formed runtime key whose random part is derived from $seed,
# so that the same call at plan time and at seed time gives the same key.

sub key {
    my ($env, $seed) = @_;

    my $key = "ubt_${env}_";
    my $bytes = '';
    my $i = 0;

    while (length($bytes) < 43) {
        $bytes .= sha256("$seed/" . $i++);
    }

    for my $byte (unpack 'C43', $bytes) {
        $key .= substr($Base62, $byte % 62, 1);
    }

    my $crc = Compress::Zlib::crc32($key);
    my $sum = '';

    for (1 .. 6) {
        $sum = substr($Base62, $crc % 62, 1) . $sum;
        $crc = int($crc / 62);
    }

    return $key . $sum;
}


sub sign {
    my ($ts, $user_id, $nonce, $secret) = @_;

    return hmac_sha256_hex("$ts.$user_id.$nonce", $secret // $SigningSecret);
}


# Returns the credential headers of one signed request, one per line.
# Options: key, user (the signed user id), header_user (the X-UBT-USER-ID
# sent, default the signed one, undef to leave it out), ts, nonce, sign.

sub headers {
    my (%o) = @_;

    my $ts = $o{ts} // now_ms();
    my $nonce = $o{nonce} // sprintf('n%015x', int(rand(2**48)));
    my $user = $o{user};
    my $sign = $o{sign} // sign($ts, $user, $nonce);

    my $header_user = exists $o{header_user} ? $o{header_user} : $user;

    my $h = "X-UBT-API-KEY: $o{key}\n";
    $h .= "X-UBT-USER-ID: $header_user\n" if defined $header_user;
    $h .= "X-UBT-TS: $ts\nX-UBT-NONCE: $nonce\nX-UBT-SIGN: $sign\n";

    return $h;
}


# Sends one command to the test Redis and returns its reply: a scalar, an
# array reference, or undef for nil.  An error reply dies.  In cluster mode
# the command goes to the node that serves its key.

sub redis {
    my (@args) = @_;

    return cluster_mode() ? cluster_redis(@args)
                          : redis_at($ENV{TEST_NGINX_REDIS_PORT}, @args);
}


# Sends one command to the Redis on 127.0.0.1:$port, with no redirection.
# With $asking it sends ASKING first, on the same connection.

sub redis_at {
    my ($port, @args) = @_;

    return _redis_on($port, 0, @args);
}


sub _redis_on {
    my ($port, $asking, @args) = @_;

    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $port,
                                     Proto => 'tcp', Timeout => 3)
        or die "cannot connect to redis on 127.0.0.1:$port: $!\n";

    my $cmd = '';

    for my $command ($asking ? ['ASKING'] : (), \@args) {
        $cmd .= '*' . scalar(@$command) . "\r\n";
        $cmd .= '$' . length($_) . "\r\n$_\r\n" for @$command;
    }

    print $sock $cmd;

    my $reply = eval {
        read_reply($sock) if $asking;
        read_reply($sock);
    };
    my $error = $@;
    close $sock;

    die $error if $error;

    return $reply;
}


sub cluster_mode {
    return ($ENV{TEST_NGINX_REDIS_CLUSTER_NODES} // '') =~ /\S/;
}


# The ports of the seed list, in its order.

sub cluster_seed_ports {
    return map { /^127\.0\.0\.1:(\d+)$/
                     ? $1
                     : die "seed \"$_\" in TEST_NGINX_REDIS_CLUSTER_NODES "
                           . "is not 127.0.0.1:PORT\n" }
           split ' ', $ENV{TEST_NGINX_REDIS_CLUSTER_NODES};
}


# Sends one command to the cluster: first to a seed node that accepts the
# connection, then wherever MOVED or ASK points.  TRYAGAIN and CLUSTERDOWN,
# which a migration or a failover causes for a moment, are retried every
# 0.1 s for up to 10 s.

sub cluster_redis {
    my (@args) = @_;

    my @seeds = cluster_seed_ports();
    my ($port, $asking);
    my $deadline = Time::HiRes::time() + 10;

    for (1 .. 200) {
        my @targets = defined $port ? ($port) : @seeds;
        my ($reply, $error);

        for my $target (@targets) {
            $reply = eval { _redis_on($target, $asking, @args) };
            $error = $@;
            last unless $error =~ /^cannot connect/;
        }

        return $reply unless $error;

        if ($error =~ /^redis error: (MOVED|ASK) \d+ 127\.0\.0\.1:(\d+)/) {
            ($asking, $port) = ($1 eq 'ASK', $2);
            next;
        }

        die $error unless $error =~ /^redis error: (?:TRYAGAIN|CLUSTERDOWN)/
                          && Time::HiRes::time() < $deadline;

        ($asking, $port) = (0, undef);
        Time::HiRes::sleep(0.1);
    }

    die "redis command $args[0] still redirected after 200 tries\n";
}


# The ports of the live masters of the cluster, in ascending order, from
# CLUSTER NODES of the first seed node that answers.

sub cluster_masters {
    my $nodes;

    for my $port (cluster_seed_ports()) {
        $nodes = eval { redis_at($port, 'CLUSTER', 'NODES') } and last;
    }

    defined $nodes or die "no node of the cluster answers CLUSTER NODES\n";

    my @masters;

    for my $line (split /\n/, $nodes) {
        my (undef, $address, $flags) = split ' ', $line;
        next unless $flags =~ /master/ && $flags !~ /fail/;
        push @masters, $1 if $address =~ /:(\d+)@/;
    }

    return sort { $a <=> $b } @masters;
}


# The hash slot of $key, computed here as the Redis Cluster specification
# defines it: CRC16-CCITT (XMODEM) of the key, or of the text between the
# first "{" and the next "}" when that text is not empty, modulo 16384.

sub keyslot {
    my ($key) = @_;

    if ($key =~ /\{([^}]+)\}/ && index($key, '{') == $-[0]) {
        $key = $1;
    }

    my $crc = 0;

    for my $byte (unpack 'C*', $key) {
        $crc ^= $byte << 8;
        for (1 .. 8) {
            $crc = $crc & 0x8000 ? (($crc << 1) ^ 0x1021) & 0xffff
                                 : ($crc << 1) & 0xffff;
        }
    }

    return $crc % 16384;
}


# The hash slot of $key, from CLUSTER KEYSLOT.

sub cluster_keyslot {
    my ($key) = @_;

    for my $port (cluster_seed_ports()) {
        my $slot = eval { redis_at($port, 'CLUSTER', 'KEYSLOT', $key) };
        return $slot if defined $slot;
    }

    die "no node of the cluster answers CLUSTER KEYSLOT\n";
}


# Sends one command to every live master and returns their replies, in
# the order of cluster_masters().

sub redis_each_master {
    my (@args) = @_;

    return map { redis_at($_, @args) } cluster_masters();
}


# Runs util/redis-cluster COMMAND with the run's cluster directory and
# @args, and returns what it printed, without the final newline.  A failed
# command dies with its message; each of them bounds its own waits.

sub cluster_command {
    my ($command, @args) = @_;

    my $dir = $ENV{TEST_NGINX_REDIS_CLUSTER_DIR}
        or die "TEST_NGINX_REDIS_CLUSTER_DIR is not set; run the suite "
               . "with util/run-tests --cluster\n";
    my $script = File::Basename::dirname(__FILE__)
                 . '/../util/redis-cluster';

    my $out = qx{'$script' '$command' '$dir' @{[ map { "'$_'" } @args ]}};
    $? == 0 or die "util/redis-cluster $command @args failed (exit "
                   . ($? >> 8) . ")\n";
    chomp $out;

    return $out;
}


sub read_reply {
    my ($sock) = @_;

    my $line = <$sock>;
    die "redis closed the connection\n" unless defined $line;
    $line =~ s/\r\n$//;

    my ($type, $rest) = (substr($line, 0, 1), substr($line, 1));

    return $rest if $type eq '+' || $type eq ':';
    die "redis error: $rest\n" if $type eq '-';

    if ($type eq '$') {
        return undef if $rest < 0;
        my $data = '';
        read($sock, $data, $rest + 2) == $rest + 2
            or die "short read from redis\n";
        return substr($data, 0, $rest);
    }

    if ($type eq '*') {
        return undef if $rest < 0;
        return [map { read_reply($sock) } 1 .. $rest];
    }

    die "unexpected redis reply \"$line\"\n";
}


sub flush {
    if (cluster_mode()) {
        redis_each_master('FLUSHALL');
        return;
    }

    redis('FLUSHDB');
}


# Stores a key for a user the way the provisioning endpoint does.

sub seed {
    my ($user, $key, %o) = @_;

    my $digest = sha256_hex($key);
    my $env = $key =~ /^ubt_test_/ ? 'test' : 'live';

    redis('SET', "ubt:kd:$digest", $user);
    redis('HSET', "ubt:{u:$user}",
              'digest', $digest,
              'status', $o{status} // 'CONNECTED',
              'plan', $o{plan} // 'FREE',
              'issued_id', $o{issued_id} // '01JTESTISSUEDID0000000000',
              'env', $env,
              'created_at', now_ms());
}


# Records $key as an earlier, revoked key of $user.

sub revoke {
    my ($user, $key) = @_;

    redis('SET', 'ubt:kd:' . sha256_hex($key), $user);
    redis('ZADD', "ubt:{u:$user}:revoked", now_ms(), sha256_hex($key));
}


1;
