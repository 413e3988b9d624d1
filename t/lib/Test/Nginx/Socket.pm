package Test::Nginx::Socket;

# Bundled fallback for Test::Nginx::Socket (openresty/test-nginx), which
# Debian does not package.  It reads the same Test::Base data format and
# runs the common sections with the same test counts, so a .t file and its
# plan work unchanged under either module.  The POD at the end lists what
# is supported and how many tests each section adds.

use strict;
use warnings;

use Test::Base -base;

use File::Spec ();
use IO::Socket::INET ();
use List::Util qw(shuffle);
use Scalar::Util qw(looks_like_number);
use Time::HiRes qw(sleep);

use Test::Nginx::Bundled::HTTP ();
use Test::Nginx::Bundled::Server ();
use Test::Nginx::Bundled::Valgrind ();

our $VERSION = '0.1';

our @EXPORT = qw(
    run_tests repeat_each no_long_string no_shuffle log_level
    master_on master_off master_process_enabled workers worker_connections
    env_to_nginx no_root_location add_block_preprocessor
    add_cleanup_handler add_test_cleanup_handler config_preamble
    check_accum_error_log timeout server_addr server_name server_port
    server_port_for_client server_root html_dir bail_out is_str
);

# Settings, changed by the exported functions before run_tests().
our $RepeatEach        = 1;
our $NoLongString      = 0;
our $NoShuffle         = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $LogLevel          = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcess     = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $Workers           = 1;
our $WorkerConnections = 64;
our @EnvToNginx;
our $NoRootLocation    = 0;
our $ConfigPreamble    = '';
our $CheckAccumErrLog  = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG} || 0;
our $Timeout           = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $SleepTime         = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $Verbose           = $ENV{TEST_NGINX_VERBOSE} || 0;
our $ServerAddr        = '127.0.0.1';
our $ServerName        = 'localhost';
our $WorkerUser        = $ENV{TEST_NGINX_WORKER_USER};
our $LoadModules       = $ENV{TEST_NGINX_LOAD_MODULES};
our $NginxBinary       = $ENV{TEST_NGINX_BINARY} || find_nginx_binary();
our $ServRoot          = $ENV{TEST_NGINX_SERVROOT}
                         || File::Spec->rel2abs('t/servroot');
our $UseValgrind       = $ENV{TEST_NGINX_USE_VALGRIND} || 0;
our $UseHttp2          = $ENV{TEST_NGINX_USE_HTTP2} || 0;
our $ValgrindSuppressions = $ENV{TEST_NGINX_VALGRIND_SUPPRESSIONS};

our $UseAsan           = $ENV{TEST_NGINX_USE_ASAN} || 0;
our $AsanReportDir     = $ENV{TEST_NGINX_ASAN_REPORT_DIR};

# Seconds that an nginx under valgrind gets to write its pid file after
# start, and to exit after each stop signal.  The Valgrind Quick Start
# Guide expects memcheck to run programs 20 to 30 times slower, and the
# leak check at exit takes seconds.
our $ValgrindTimeout   = $ENV{TEST_NGINX_VALGRIND_TIMEOUT} || 30;

# TEST_NGINX_SERVER_PORT may be "ADDRESS:PORT" to listen on that address.
our ($ListenAddr, $ServerPort) = split_listen(
    $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984);
our $ClientPort = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;

our (@BlockPreprocessors, @CleanupHandlers, @TestCleanupHandlers);

$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

# Run state.
my $MainPid = $$;
my $Server;
my $ErrorLogOffset = 0; # error.log bytes already seen by earlier checks
my $BlockLogStart = 0;  # error.log offset at the start of the current block
my $ShutdownBlock;      # block whose shutdown_error_log is checked at stop
my %RandPorts;          # TEST_NGINX_RAND_PORT_* values of the current block
my @ValgrindBlocks;     # names of the blocks run on the nginx under valgrind
my @AsanBlocks;         # names of the blocks run since the last report check
my %AsanSeen;           # sanitizer report files already checked
my %WarnedSections;
my %Http2Blocks;        # block name => whether it runs over HTTP/2
my $NginxVersion;
my $NginxBuildInfo;     # `nginx -V` output

# Sections this module reads; a block with any other section gets a
# warning because a misspelled section name would silently check nothing.
my %KnownSections = map { $_ => 1 } qw(
    config http_config main_config post_main_config server_name
    request raw_request pipelined_requests more_headers
    raw_request_middle_delay shutdown timeout abort ignore_response wait
    error_code error_code_like response_body response_body_eval
    response_body_like response_body_unlike response_body_filters
    response_headers response_headers_like raw_response_headers_like
    raw_response_headers_unlike error_log no_error_log grep_error_log
    grep_error_log_out access_log no_access_log shutdown_error_log
    no_shutdown_error_log error_log_file log_level user_files init
    post_setup_server_root must_die suppress_stderr skip_eval skip_nginx
    skip_valgrind http2 no_http2 todo ONLY SKIP LAST
);

## Exported settings.

sub repeat_each {
    $RepeatEach = shift if @_;
    return $RepeatEach;
}

sub no_long_string ()          { $NoLongString = 1 }
sub no_shuffle ()              { $NoShuffle = 1 }
sub no_root_location ()        { $NoRootLocation = 1 }
sub check_accum_error_log ()   { $CheckAccumErrLog = 1 }
sub master_on ()               { $MasterProcess = 'on' }
sub master_off ()              { $MasterProcess = 'off' }
sub config_preamble ($)        { $ConfigPreamble = shift }
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($)    { unshift @CleanupHandlers, shift }
sub add_test_cleanup_handler ($) { unshift @TestCleanupHandlers, shift }
sub server_root ()             { $ServRoot }
sub html_dir ()                { "$ServRoot/html" }

sub master_process_enabled {
    $MasterProcess = $_[0] ? 'on' : 'off' if @_;
    return $MasterProcess;
}

sub log_level {
    $LogLevel = shift if @_;
    return $LogLevel;
}

sub workers {
    $Workers = shift if @_;
    return $Workers;
}

sub worker_connections {
    $WorkerConnections = shift if @_;
    return $WorkerConnections;
}

sub timeout {
    $Timeout = shift if @_;
    return $Timeout;
}

sub server_addr {
    $ServerAddr = shift if @_;
    return $ServerAddr;
}

sub server_name {
    $ServerName = shift if @_;
    return $ServerName;
}

sub server_port {
    ($ListenAddr, $ServerPort) = split_listen(shift) if @_;
    return $ServerPort;
}

sub server_port_for_client {
    $ClientPort = shift if @_;
    return $ClientPort;
}

# Pass environment variables to nginx through "env" directives.
sub env_to_nginx {
    croak("env_to_nginx: no variable names given") unless @_;

    for my $name (@_) {
        if ($name !~ /^[A-Za-z_]/ || $name =~ /\n/) {
            croak("env_to_nginx: invalid variable \"$name\"");
        }
        push @EnvToNginx, $name;
    }
}

# Compare strings, or match when $expected is a qr// pattern.
sub is_str {
    my ($got, $expected, $description) = @_;

    if (ref $expected eq 'Regexp') {
        return Test::More::like($got, $expected, $description);
    }

    return compare_strings($got, $expected, $description);
}

sub bail_out {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

## Main loop.

sub run_tests () {
    if (!defined $ENV{TEST_NGINX_SERVER_PORT}) {
        $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort;
    }

    $Server = Test::Nginx::Bundled::Server->new(
        root            => $ServRoot,
        binary          => $NginxBinary,
        timeout         => $Timeout,
        wrapped_timeout => $ValgrindTimeout,
        verbose         => $Verbose,
    );

    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $NoShuffle;

    for my $block (@blocks) {
        for my $preprocessor (@BlockPreprocessors) {
            $preprocessor->($block);
        }

        $block->set_value(name => "$0 " . $block->name);
        warn_unknown_sections($block);
        run_block($block);

        for my $handler (@TestCleanupHandlers) {
            $handler->($block);
        }
    }

    cleanup();
}

sub run_block {
    my ($block) = @_;

    my $name = $block->name;
    my $failures_before = failure_count();
    %RandPorts = ();

    if (my ($count, $reason) = skip_condition($block)) {
        for (1 .. $RepeatEach) {
            SKIP: { Test::More::skip("$name - $reason", $count) }
        }
        return;
    }

    push @AsanBlocks, $name if $UseAsan;

    my $config = $block->config;
    if (defined $config) {
        $config = expand_env($config, $name, 'config');
        my $valgrind = use_valgrind($block);
        stop_nginx();

        # Checks of the previous nginx made at its stop belong to the
        # blocks that ran on it.
        $failures_before = failure_count();
        prepare_server_root($block, $config, $valgrind);

        if (defined $block->must_die) {
            run_must_die($block);
            return;
        }

        return unless start_nginx($block, $valgrind);
        $ErrorLogOffset = 0;

    } elsif ($Server->running_pid) {
        # A block without --- config reuses the running nginx, as in
        # test-nginx.  Only the lines it adds to error.log count, while
        # test-nginx rereads the whole log here.
        $ErrorLogOffset = $Server->error_log_size;
        push @ValgrindBlocks, $name if @ValgrindBlocks;

    } else {
        bail_out("$name - no --- config section and no running nginx from "
                 . "an earlier block to reuse");
    }

    $BlockLogStart = $ErrorLogOffset;

    if (defined $block->shutdown_error_log
        || defined $block->no_shutdown_error_log)
    {
        $ShutdownBlock = $block;
    }

    if (defined $block->init) {
        eval_in_main($block->init);
        bail_out("$name - --- init failed: $@") if $@;
    }

    my ($todo_count, $todo_reason) = todo_condition($block);

    for my $repeat_idx (0 .. $RepeatEach - 1) {
        if ($repeat_idx > 0) {
            $Server->write_user_files(user_files($block));
        }

        if (defined $todo_count) {
            TODO: { Test::More::todo_skip("$name - $todo_reason", $todo_count) }
            next;
        }

        run_requests($block, $repeat_idx);
    }

    if (failure_count() > $failures_before) {
        show_block_error_log($block);
    }
}

# Send the requests of one repeat and run the response and log checks.
# Each response gets its own error log checks, as in test-nginx, so
# error_log patterns are counted once per request.
sub run_requests {
    my ($block, $repeat_idx) = @_;

    my $name = $block->name;
    my $exchanges = eval { build_exchanges($block) };
    if (!$exchanges) {
        Test::More::fail("$name - invalid request sections");
        Test::More::diag($@);
        return;
    }

    my $timeout = parse_time($block->timeout);
    $timeout = $Timeout unless defined $timeout;

    my $total = 0;
    $total += $_->{responses} for @$exchanges;
    my $need_array = $total > 1;

    my $req_idx = 0;
    for my $exchange (@$exchanges) {
        my $result;
        if (use_http2($block)) {
            $result = Test::Nginx::Bundled::HTTP::h2_exchange(
                host      => $ServerAddr,
                port      => $ClientPort,
                request   => $exchange->{packets}[0],
                body_file => html_dir() . "/h2.data.bin",
                timeout   => $timeout,
            );

        } else {
            $result = Test::Nginx::Bundled::HTTP::exchange(
                host         => $ServerAddr,
                port         => $ClientPort,
                packets      => $exchange->{packets},
                packet_delay => scalar $block->raw_request_middle_delay,
                shutdown     => shutdown_how($block),
                timeout      => $timeout,
            );
        }

        if ($result->{error}) {
            Test::More::diag("$name - $result->{error}");
        }

        if (defined $result->{http2} && !$result->{http2}
            && length $result->{raw})
        {
            Test::More::fail("$name - reply came over HTTP/2 (request "
                             . "$req_idx, repeat $repeat_idx)");
        }

        if ($result->{timed_out} && !defined $block->abort) {
            Test::More::fail("$name - client socket timed out after "
                             . "${timeout}s (request $req_idx, repeat "
                             . "$repeat_idx)");
        }

        my $raw = $result->{raw};
        for (1 .. $exchange->{responses}) {
            if (!defined $block->ignore_response) {
                my $parsed = Test::Nginx::Bundled::HTTP::parse_response(
                    $raw, $exchange->{is_head});
                $raw = $parsed->{rest};

                my $ctx = {
                    block      => $block,
                    name       => $name,
                    response   => $parsed->{response},
                    raw_headers => $parsed->{raw_headers},
                    req_idx    => $req_idx,
                    repeat_idx => $repeat_idx,
                    need_array => $need_array,
                    suffix     => "(request $req_idx, repeat $repeat_idx)",
                };

                my $failures_before = failure_count();
                check_response($ctx);

                if (failure_count() > $failures_before) {
                    show_response($ctx, $parsed, $result);
                }
            }

            if ($req_idx < $total - 1) {
                check_logs($block, $repeat_idx);
            }
            $req_idx++;
        }
    }

    check_logs($block, $repeat_idx);
}

sub check_response {
    my ($ctx) = @_;

    check_status($ctx);
    check_raw_headers($ctx);
    check_headers($ctx);
    filter_body($ctx);
    check_body($ctx);
}

sub check_logs {
    my ($block, $repeat_idx) = @_;

    if ($block->wait) {
        sleep parse_time($block->wait);
    }

    # Log-phase lines are written after the response is sent.
    sleep $SleepTime * 3;
    check_error_log($block, $repeat_idx, read_new_error_log());

    if (!defined $block->ignore_response) {
        check_access_log($block, $repeat_idx);
    }
}

## Requests.

# Turn the request sections of a block into a list of connections to
# make: { packets => [bytes...], responses => N, is_head => bool }.
# Dies with a message on an invalid section.
sub build_exchanges {
    my ($block) = @_;

    my $name = $block->name;
    my $more_headers = $block->more_headers;
    $more_headers = '' unless defined $more_headers;

    if (defined $block->raw_request) {
        my $raw = $block->raw_request;
        my @packets = ref $raw eq 'ARRAY' ? @$raw : ($raw);
        return [{
            packets   => \@packets,
            responses => 1,
            is_head   => join('', @packets) =~ /^\s*HEAD\s/ ? 1 : 0,
        }];
    }

    if (defined $block->pipelined_requests) {
        my $requests = $block->pipelined_requests;
        if (ref $requests ne 'ARRAY') {
            die "--- pipelined_requests must be a Perl array "
                . "(use --- pipelined_requests eval)\n";
        }

        my $bytes = '';
        for my $i (0 .. $#$requests) {
            my $text = expand_env($requests->[$i], $name,
                                  'pipelined_requests');
            $bytes .= Test::Nginx::Bundled::HTTP::build_request(
                request      => $text,
                more_headers => indexed_headers($more_headers, $i),
                server_name  => $ServerName,
                connection   => $i == $#$requests ? 'close' : 'keep-alive',
            );
        }

        # NOTE: a HEAD among pipelined requests is not recognized, so its
        # response is parsed as if it had a body.
        return [{ packets => [$bytes], responses => scalar @$requests,
                  is_head => 0 }];
    }

    my $request = $block->request;
    if (!defined $request) {
        die "no --- request, --- raw_request or --- pipelined_requests "
            . "section\n";
    }

    my @requests = ref $request eq 'ARRAY' ? @$request : ($request);
    my @exchanges;
    for my $i (0 .. $#requests) {
        if (ref $requests[$i]) {
            die "request $i is a " . ref($requests[$i]) . "; the bundled "
                . "runner accepts only strings in --- request (use "
                . "--- raw_request eval for requests split in packets)\n";
        }

        my $bytes = Test::Nginx::Bundled::HTTP::build_request(
            request      => $requests[$i],
            more_headers => indexed_headers($more_headers, $i),
            server_name  => $ServerName,
            connection   => 'close',
        );
        push @exchanges, {
            packets   => [$bytes],
            responses => 1,
            is_head   => $requests[$i] =~ /^\s*HEAD\s/ ? 1 : 0,
        };
    }

    return \@exchanges;
}

# --- more_headers is either one header block for every request or an
# array with one block per request.
sub indexed_headers {
    my ($more_headers, $i) = @_;

    return $more_headers unless ref $more_headers eq 'ARRAY';

    my $headers = $more_headers->[$i];
    if (!defined $headers) {
        die "--- more_headers has no entry for request $i\n";
    }
    return $headers;
}

sub shutdown_how {
    my ($block) = @_;

    my $how = $block->shutdown;
    return undef unless defined $how;
    return $how =~ /^\s*$/ ? 1 : $how;
}

## Response checks.

# Pick the expected value for the current response.  When the block sends
# several requests the section must be an array with one entry each.
sub expected_value {
    my ($ctx, $section, $value) = @_;

    if ($ctx->{need_array}) {
        if (ref $value ne 'ARRAY') {
            Test::More::diag("$ctx->{name} - --- $section must be an array "
                             . "with one entry per request (use "
                             . "--- $section eval)");
            return undef;
        }
        return $value->[$ctx->{req_idx}];
    }

    return ref $value eq 'ARRAY' ? $value->[0] : $value;
}

sub check_status {
    my ($ctx) = @_;

    my $block = $ctx->{block};
    my $res = $ctx->{response};
    my $code = $res && defined $res->code ? $res->code : '';
    my $description = "$ctx->{name} - status code $ctx->{suffix}";

    if (defined $block->error_code_like) {
        my $pattern = expected_value($ctx, 'error_code_like',
                                     $block->error_code_like);
        Test::More::like($code, qr/$pattern/sm, $description);

    } elsif (defined $block->error_code) {
        Test::More::is($code, expected_value($ctx, 'error_code',
                                             $block->error_code),
                       $description);

    } else {
        Test::More::is($code, 200, $description);
    }
}

sub check_raw_headers {
    my ($ctx) = @_;

    my $block = $ctx->{block};
    my $raw = $ctx->{raw_headers};

    if (defined $block->raw_response_headers_like) {
        my $pattern = expected_value($ctx, 'raw_response_headers_like',
                                     $block->raw_response_headers_like);
        Test::More::like($raw, qr/$pattern/s,
                         "$ctx->{name} - raw response headers match "
                         . $ctx->{suffix});
    }

    if (defined $block->raw_response_headers_unlike) {
        my $pattern = expected_value($ctx, 'raw_response_headers_unlike',
                                     $block->raw_response_headers_unlike);
        Test::More::unlike($raw, qr/$pattern/s,
                           "$ctx->{name} - raw response headers do not "
                           . "match $ctx->{suffix}");
    }
}

# One test per header name.  "Name: value" must match exactly, "!Name"
# (or a bare "Name") must be absent, in any letter case (test-nginx
# matches the case given).  A repeated name keeps its last value, as in
# test-nginx.
sub check_headers {
    my ($ctx) = @_;

    my $block = $ctx->{block};
    my $res = $ctx->{response};
    my $name = $ctx->{name};

    if (defined $block->response_headers) {
        my $text = expected_value($ctx, 'response_headers',
                                  $block->response_headers);

        for my $header (parse_header_lines($text)) {
            my ($key, $expected) = @$header;

            if (!defined $expected) {
                Test::More::unlike($ctx->{raw_headers},
                                   qr/^\s*\Q$key\E\s*:/mi,
                                   "$name - header $key absent $ctx->{suffix}");
                next;
            }

            $expected = substitute_ports($expected);
            my $got = $res ? $res->header($key) : undef;
            Test::More::is(defined $got ? $got : '', $expected,
                           "$name - header $key $ctx->{suffix}");
        }

    } elsif (defined $block->response_headers_like) {
        my $text = expected_value($ctx, 'response_headers_like',
                                  $block->response_headers_like);

        for my $header (parse_header_lines($text)) {
            my ($key, $pattern) = @$header;
            $pattern = '' unless defined $pattern;

            my $got = $res ? $res->header($key) : undef;
            Test::More::like(defined $got ? $got : '', qr/^$pattern$/,
                             "$name - header $key matches $ctx->{suffix}");
        }
    }
}

# Parse "Name: value" and "!Name" lines into [name, value-or-undef]
# pairs, one per distinct name, in first-seen order.
sub parse_header_lines {
    my ($text) = @_;

    my (@order, %value);
    for my $line (split /\n/, defined $text ? $text : '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';

        my ($key, $val);
        if ($line =~ s/^!\s*//) {
            $key = $line;
        } else {
            ($key, $val) = split /\s*:\s*/, $line, 2;
        }

        push @order, $key unless exists $value{$key};
        $value{$key} = $val;
    }

    return map { [$_, $value{$_}] } @order;
}

sub filter_body {
    my ($ctx) = @_;

    my $filters = $ctx->{block}->response_body_filters;
    my $res = $ctx->{response};
    return unless defined $filters && $res;

    if (!ref $filters) {
        $filters = [split ' ', $filters];
    } elsif (ref $filters eq 'ARRAY' && ref $filters->[0] eq 'ARRAY') {
        $filters = $filters->[$ctx->{req_idx}] || [];
    } elsif (ref $filters ne 'ARRAY') {
        $filters = [$filters];
    }

    my %named = (
        uc      => sub { uc shift },
        lc      => sub { lc shift },
        length  => sub { length shift },
        md5_hex => sub { require Digest::MD5; Digest::MD5::md5_hex(shift) },
        sha1_hex => sub { require Digest::SHA; Digest::SHA::sha1_hex(shift) },
    );

    my $body = $res->content;
    for my $filter (@$filters) {
        my $code = ref $filter eq 'CODE' ? $filter : $named{$filter};
        if (!$code) {
            bail_out("$ctx->{name} - unknown filter \"$filter\" in "
                     . "--- response_body_filters");
        }
        $body = $code->($body);
    }
    $res->content($body);
}

sub check_body {
    my ($ctx) = @_;

    my $block = $ctx->{block};
    my $name = $ctx->{name};
    my $body = $ctx->{response} ? $ctx->{response}->content : undef;

    if (defined $block->response_body || defined $block->response_body_eval) {
        my $expected;
        if (defined $block->response_body_eval) {
            $expected = eval_in_main(expected_value(
                $ctx, 'response_body_eval', $block->response_body_eval));
            Test::More::diag("$name - --- response_body_eval failed: $@")
                if $@;
        } else {
            $expected = expected_value($ctx, 'response_body',
                                       $block->response_body);
        }

        my $description = "$name - response body $ctx->{suffix}";
        if (ref $expected eq 'Regexp') {
            Test::More::like($body, $expected, $description);
        } else {
            if (defined $expected) {
                $expected = expand_env(substitute_ports($expected), $name,
                                       'response_body');
            }
            compare_strings($body, $expected, $description);
        }

    } elsif (defined $block->response_body_like
             || defined $block->response_body_unlike)
    {
        my $like = defined $block->response_body_like;
        my $section = $like ? 'response_body_like' : 'response_body_unlike';
        my $pattern = expected_value($ctx, $section,
                                     $like ? $block->response_body_like
                                           : $block->response_body_unlike);
        $pattern = substitute_ports(defined $pattern ? $pattern : '');

        if ($like) {
            Test::More::like($body, qr/$pattern/s,
                             "$name - response body matches $ctx->{suffix}");
        } else {
            Test::More::unlike($body, qr/$pattern/s,
                               "$name - response body does not match "
                               . $ctx->{suffix});
        }
    }
}

sub compare_strings {
    my ($got, $expected, $description) = @_;

    if (!$NoLongString && eval { require Test::LongString; 1 }) {
        local $Test::Builder::Level = $Test::Builder::Level + 1;
        return Test::LongString::is_string($got, $expected, $description);
    }

    return Test::More::is($got, $expected, $description);
}

sub substitute_ports {
    my ($text) = @_;

    return $text if !defined $text || ref $text;
    $text =~ s/\$ServerPortForClient\b/$ClientPort/g;
    $text =~ s/\$ServerPort\b/$ServerPort/g;
    return $text;
}

## Log checks.

# Return the error.log lines written since the previous call (or since
# nginx started), unless check_accum_error_log() asks for the whole log.
sub read_new_error_log {
    my ($lines, $end) = $Server->read_error_log_from(
        $CheckAccumErrLog ? 0 : $ErrorLogOffset);
    $ErrorLogOffset = $end unless $CheckAccumErrLog;
    return $lines;
}

# Split an error_log-style section into patterns: plain text gives one
# substring per line, eval may give a qr// or an array of both kinds.
sub log_patterns {
    my ($value) = @_;

    return [] unless defined $value;
    return [$value] if ref $value eq 'Regexp';
    return [grep { defined } @$value] if ref $value eq 'ARRAY';

    chomp $value;
    return [split /\n+/, $value];
}

sub line_matches {
    my ($line, $pattern) = @_;

    return ref $pattern eq 'Regexp' ? $line =~ $pattern
                                    : index($line, $pattern) >= 0;
}

sub check_error_log {
    my ($block, $repeat_idx, $lines) = @_;

    my $name = $block->name;
    my $where = "(repeat $repeat_idx)";

    check_grep_error_log($block, $repeat_idx, $lines);

    for my $pattern (@{ log_patterns($block->error_log) }) {
        my $found = grep { line_matches($_, $pattern) } @$lines;
        my $description = "$name - error.log has a line matching "
            . quote_pattern($pattern) . " $where";

        if ($found) {
            Test::More::pass($description);
        } else {
            Test::More::fail($description);
            Test::More::diag("no line out of " . scalar(@$lines)
                             . " new error.log lines matches");
        }
    }

    for my $pattern (@{ log_patterns($block->no_error_log) }) {
        my @found = grep { line_matches($_, $pattern) } @$lines;
        my $description = "$name - error.log has no line matching "
            . quote_pattern($pattern) . " $where";

        if (!@found) {
            Test::More::pass($description);
            next;
        }

        Test::More::fail($description);
        Test::More::diag(scalar(@found) . " matching line(s), first ones:\n"
                         . join '', @found[0 .. ($#found < 4 ? $#found : 4)]);
    }

    warn_about_severe_lines($block, $lines);
}

sub check_grep_error_log {
    my ($block, $repeat_idx, $lines) = @_;

    my $name = $block->name;
    my $pattern = $block->grep_error_log;

    if (!defined $pattern) {
        if (defined $block->grep_error_log_out) {
            bail_out("$name - --- grep_error_log_out needs a "
                     . "--- grep_error_log section");
        }
        return;
    }

    $pattern = $pattern->[$repeat_idx] if ref $pattern eq 'ARRAY';

    my $expected = $block->grep_error_log_out;
    if (!defined $expected) {
        bail_out("$name - --- grep_error_log needs a "
                 . "--- grep_error_log_out section");
    }
    $expected = $expected->[$repeat_idx] if ref $expected eq 'ARRAY';
    $expected = expand_env($expected, $name, 'grep_error_log_out');

    my $matched = '';
    for my $line (@$lines) {
        if (ref $pattern eq 'Regexp') {
            $matched .= "$&\n" if $line =~ $pattern && $& !~ /\n/;
        } elsif (index($line, $pattern) >= 0) {
            $matched .= "$pattern\n";
        }
    }

    my $description = "$name - grep_error_log_out (repeat $repeat_idx)";
    if (ref $expected eq 'Regexp') {
        Test::More::like($matched, $expected, $description);
    } else {
        compare_strings($matched, $expected, $description);
    }
}

# test-nginx prints [alert], [crit] and [emerg] lines as warnings unless
# the block checks for them; they usually point at a bug.
sub warn_about_severe_lines {
    my ($block, $lines) = @_;

    my @checked = (@{ log_patterns($block->error_log) },
                   @{ log_patterns($block->no_error_log) });

    for my $level (qw(alert crit emerg)) {
        next if grep { !ref $_ && index($_, "[$level") >= 0 } @checked;

        # a block that expects nginx to refuse its configuration expects
        # the [emerg] line too
        next if $level eq 'emerg' && defined $block->must_die;

        for my $line (grep { /\[$level\]/ } @$lines) {
            chomp(my $text = $line);
            warn "WARNING: " . $block->name . " - $text\n";
        }
    }
}

sub check_access_log {
    my ($block, $repeat_idx) = @_;

    my $name = $block->name;
    my @patterns = @{ log_patterns($block->access_log) };
    my @absent = @{ log_patterns($block->no_access_log) };
    return unless @patterns || @absent;

    my $lines = $Server->read_access_log;

    for my $pattern (@patterns) {
        my $found = grep { line_matches($_, $pattern) } @$lines;
        Test::More::ok($found, "$name - access.log has a line matching "
                       . quote_pattern($pattern) . " (repeat $repeat_idx)");
    }

    for my $pattern (@absent) {
        my @found = grep { line_matches($_, $pattern) } @$lines;
        Test::More::ok(!@found, "$name - access.log has no line matching "
                       . quote_pattern($pattern) . " (repeat $repeat_idx)")
            or Test::More::diag("first matching line: $found[0]");
    }
}

# shutdown_error_log patterns are checked once per block, after nginx
# has stopped, against the lines written since the block's last check.
sub check_shutdown_error_log {
    my ($block) = @_;

    my $name = $block->name;
    my $lines = read_new_error_log();

    for my $pattern (@{ log_patterns($block->shutdown_error_log) }) {
        my $found = grep { line_matches($_, $pattern) } @$lines;
        Test::More::ok($found, "$name - error.log has a line matching "
                       . quote_pattern($pattern) . " at shutdown");
    }

    for my $pattern (@{ log_patterns($block->no_shutdown_error_log) }) {
        my @found = grep { line_matches($_, $pattern) } @$lines;
        Test::More::ok(!@found, "$name - error.log has no line matching "
                       . quote_pattern($pattern) . " at shutdown")
            or Test::More::diag("first matching line: $found[0]");
    }
}

sub quote_pattern {
    my ($pattern) = @_;

    my $text = "$pattern";
    $text =~ s/\\/\\\\/g;
    $text =~ s/"/\\"/g;
    $text =~ s/\r/\\r/g;
    $text =~ s/\n/\\n/g;
    return "\"$text\"";
}

## Diagnostics.

sub failure_count {
    return scalar grep { !$_ } Test::More->builder->summary;
}

sub show_response {
    my ($ctx, $parsed, $result) = @_;

    my @notes;
    push @notes, "response parse error: $parsed->{error}" if $parsed->{error};
    push @notes, "request write error: $result->{write_error}"
        if $result->{write_error};

    my $raw = $result->{raw};
    my $limit = 2000;
    my $shown = length $raw > $limit
        ? substr($raw, 0, $limit) . "\n[... " . (length($raw) - $limit)
          . " more bytes]"
        : $raw;
    $shown =~ s/\r\n/\n/g;

    Test::More::diag(join "\n", @notes,
                     "raw response $ctx->{suffix}:", $shown);
}

# Print what nginx logged during a failed block.  Debug entries are left
# out when there are many, because they would hide the errors.
sub show_block_error_log {
    my ($block) = @_;

    my ($lines) = $Server->read_error_log_from($BlockLogStart);
    return unless @$lines;

    # An entry may span lines, as debug dumps of response headers do.
    my @entries;
    for my $line (@$lines) {
        if (!@entries || $line =~ m{^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[}) {
            push @entries, $line;
        } else {
            $entries[-1] .= $line;
        }
    }

    my $max = 40;
    my @shown = @entries;
    my @notes;
    if (@shown > $max) {
        @shown = grep { !/^\S+ \S+ \[debug\]/ } @shown;
        push @notes, '[debug] entries left out';
    }
    if (@shown > $max) {
        @shown = @shown[-$max .. -1];
        push @notes, "last $max shown";
    }

    my $summary = join ', ', scalar(@entries) . ' entries', @notes;
    Test::More::diag("error.log of " . $block->name . " ($summary):\n"
                     . join '', @shown);
}

sub warn_unknown_sections {
    my ($block) = @_;

    for my $section (@{ $block->{_section_order}[0] || [] }) {
        next if $KnownSections{$section} || $WarnedSections{$section}++;
        warn "WARNING: " . $block->name . " - section --- $section is "
            . "not supported by the bundled Test::Nginx::Socket and is "
            . "ignored\n";
    }
}

## nginx lifecycle.

# Write the server root, user files and nginx.conf of a block; $valgrind
# is true when nginx will run under valgrind.
sub prepare_server_root {
    my ($block, $config, $valgrind) = @_;

    my $name = $block->name;
    $Server->reset_root;

    if (defined $block->post_setup_server_root) {
        eval_in_main($block->post_setup_server_root);
        bail_out("$name - --- post_setup_server_root failed: $@") if $@;
    }

    $Server->write_user_files(user_files($block));
    $Server->write_config(build_nginx_conf($block, $config, $valgrind));
}

# Start nginx for a block, under valgrind when $valgrind is true.
sub start_nginx {
    my ($block, $valgrind) = @_;

    my $name = $block->name;
    my @wrapper = $valgrind ? valgrind_command() : ();
    my $result = $Server->start(@wrapper ? (wrapper => \@wrapper) : ());

    if ($result->{ok}) {
        @ValgrindBlocks = ($name) if $valgrind;
        return 1;
    }

    Test::More::fail("$name - nginx failed to start: $result->{error}");
    Test::More::diag("command: $result->{command}\nnginx stderr:\n"
                     . ($result->{stderr} || "(empty)\n")
                     . "config: " . $Server->conf_file);

    if ($valgrind) {
        my $log = Test::Nginx::Bundled::Server::read_file(valgrind_log());
        Test::More::diag("valgrind log " . valgrind_log() . ":\n"
                         . (defined $log ? $log : "(missing)\n"));
    }
    return 0;
}

## Valgrind mode.

# A block runs its nginx under valgrind memcheck when
# TEST_NGINX_USE_VALGRIND is set, unless it has --- skip_valgrind (for
# blocks that depend on timing, which valgrind slows down) or
# --- must_die (nginx is expected to exit during start-up, and
# test-nginx skips valgrind there too).
sub use_valgrind {
    my ($block) = @_;

    return $UseValgrind && !defined $block->skip_valgrind
        && !defined $block->must_die;
}

sub valgrind_log {
    return $Server->log_dir . '/valgrind.log';
}

sub valgrind_command {
    return Test::Nginx::Bundled::Valgrind::command(
        log_file     => valgrind_log(),
        suppressions => $ValgrindSuppressions,
    );
}

# Check the memcheck log of the nginx that has just stopped.  A clean log
# adds no test, so plans stay the same with and without valgrind.  A
# problem adds one failed test: the run fails, and the plan count is off
# by one as well.
sub check_valgrind_log {
    my ($stopped) = @_;

    my @blocks = @ValgrindBlocks;
    @ValgrindBlocks = ();
    return unless @blocks;

    my $path = valgrind_log();
    my $log = Test::Nginx::Bundled::Server::read_file($path);
    my @problems = defined $log
        ? Test::Nginx::Bundled::Valgrind::problems($log)
        : ("valgrind wrote no log file\n");

    my $error_exit_code = $Test::Nginx::Bundled::Valgrind::ErrorExitCode;
    if (!@problems && $stopped && defined $stopped->{exit_code}
        && $stopped->{exit_code} == $error_exit_code)
    {
        push @problems, "valgrind exited with status $error_exit_code, "
            . "its status for memcheck errors\n";
    }

    return unless @problems;

    my $max_lines = 400;
    my $report = join "\n", @problems;
    my @lines = split /^/, $report;
    if (@lines > $max_lines) {
        $report = join('', @lines[0 .. $max_lines - 1])
            . "[... " . (@lines - $max_lines) . " more lines]\n";
    }

    Test::More::fail("$blocks[0] - valgrind memcheck finds no errors");
    Test::More::diag("blocks run on this nginx: " . join(', ', @blocks)
                     . "\nnginx stopped by "
                     . ($stopped && $stopped->{signal}
                        ? "SIG$stopped->{signal}" : "itself")
                     . "\nfrom $path:\n$report");
}

## Sanitizer mode.

# Check for report files that an nginx built with AddressSanitizer or
# UndefinedBehaviorSanitizer wrote since the previous check: at each stop
# of nginx and after each --- must_die block.  Each process writes its
# own file, so the files of a second nginx that a block started count
# too.  No new file adds no test.  New files add one failed test named
# after the first block run since the previous check, with the reports in
# the diagnostics.  That extra test also makes the plan count wrong.
sub check_asan_reports {
    my @blocks = @AsanBlocks;
    @AsanBlocks = ();
    return unless $UseAsan && defined $AsanReportDir;

    opendir my $dh, $AsanReportDir or return;
    my @files = sort grep { !$AsanSeen{$_}++ && -f "$AsanReportDir/$_" }
                     readdir $dh;
    closedir $dh;
    return unless @files;

    my $max_lines = 200;
    my $text = '';
    for my $file (@files) {
        my $path = "$AsanReportDir/$file";
        my $report = Test::Nginx::Bundled::Server::read_file($path);
        my @lines = split /^/, defined $report ? $report : '';
        if (@lines > $max_lines) {
            @lines = (@lines[0 .. $max_lines - 1],
                      "[... " . (@lines - $max_lines) . " more lines]\n");
        }
        $text .= "from $path:\n" . join('', @lines);
    }

    my $first = @blocks ? $blocks[0] : $0;
    Test::More::fail("$first - nginx wrote no sanitizer report");
    Test::More::diag("blocks run since the previous check: "
                     . (@blocks ? join(', ', @blocks) : 'none') . "\n$text");
}

# --- must_die: nginx must exit with an error (or with the given exit
# status), once per repeat.  Its error log lines go to the error_log and
# no_error_log checks.
sub run_must_die {
    my ($block) = @_;

    my $name = $block->name;
    my $must_die = $block->must_die;
    $must_die =~ s/^\s+|\s+$//g;
    $ErrorLogOffset = 0;

    # nginx 1.22 returns from main() without freeing the pool it creates
    # there when the configuration is rejected, so LeakSanitizer would
    # report every such start.  Memory errors are still reported.
    local $ENV{ASAN_OPTIONS} = ($ENV{ASAN_OPTIONS} // '') . ':detect_leaks=0'
        if $UseAsan;

    for my $repeat_idx (0 .. $RepeatEach - 1) {
        my $result = $Server->start;

        if (looks_like_number($must_die)) {
            Test::More::is($result->{exit_code}, $must_die,
                           "$name - nginx exits with status $must_die "
                           . "(repeat $repeat_idx)");
        } else {
            Test::More::ok($result->{exit_code} != 0 && !$result->{signal},
                           "$name - nginx fails to start (repeat "
                           . "$repeat_idx)");
        }

        if ($result->{ok}) {
            Test::More::diag("$name - nginx started although --- must_die "
                             . "is set; stopping it");
            stop_nginx();
        }

        my $lines = read_new_error_log();
        if (!@$lines && defined $result->{stderr}) {
            $lines = [map { "$_\n" } split /\n/, $result->{stderr}];
        }
        check_error_log($block, $repeat_idx, $lines);

        # test-nginx passes this stderr through; here it is captured and
        # shown only in verbose mode.
        if ($Verbose && !defined $block->suppress_stderr) {
            warn "# nginx stderr:\n$result->{stderr}";
        }
    }

    check_asan_reports();
}

sub stop_nginx {
    my $stopped = $Server->stop;

    if ($ShutdownBlock) {
        check_shutdown_error_log($ShutdownBlock);
        undef $ShutdownBlock;
    }

    check_valgrind_log($stopped);
    check_asan_reports();
}

sub cleanup {
    return unless $$ == $MainPid;

    for my $handler (@CleanupHandlers) {
        $handler->();
    }
    @CleanupHandlers = ();

    return unless $Server;

    if (!$ENV{TEST_NGINX_NO_CLEAN}) {
        stop_nginx();

    } elsif ($ShutdownBlock) {
        # nginx keeps running, so no shutdown lines are written.
        my $count = @{ log_patterns($ShutdownBlock->shutdown_error_log) }
            + @{ log_patterns($ShutdownBlock->no_shutdown_error_log) };
        SKIP: {
            Test::More::skip($ShutdownBlock->name . " - shutdown error log "
                             . "not checked because TEST_NGINX_NO_CLEAN is "
                             . "set", $count);
        }
        undef $ShutdownBlock;
    }
}

END {
    # Keep the exit status Test::Builder is about to set.
    local $?;
    cleanup();
}

## nginx.conf.

# Return the nginx.conf text of a block.  $foreground is true for an
# nginx run under valgrind, which must not daemonize.
sub build_nginx_conf {
    my ($block, $config, $foreground) = @_;

    my $name = $block->name;
    my $http_config = expand_env(default_empty($block->http_config), $name,
                                 'http_config');
    my $main_config = expand_env(default_empty($block->main_config), $name,
                                 'main_config');
    my $post_main_config = expand_env(default_empty($block->post_main_config),
                                      $name, 'post_main_config');

    my $error_log = $Server->error_log;
    if ($block->error_log_file) {
        $error_log = expand_env(trim($block->error_log_file), $name,
                                'error_log_file');
    }

    my $level = trim($block->log_level) || $LogLevel;
    my $server_name = defined $block->server_name
        ? trim($block->server_name) : $ServerName;
    (my $quoted_name = $server_name) =~ s/(['\\])/\\$1/g;

    my $root = $Server->root;
    my $conf = '';

    for my $module (grep { length } split ' ', $LoadModules || '') {
        $conf .= "load_module $module;\n";
    }

    my $daemon = $foreground ? 'off' : 'on';
    $conf .= <<"EOF";
worker_processes $Workers;
daemon $daemon;
master_process $MasterProcess;
error_log $error_log $level;
pid $root/logs/nginx.pid;
EOF

    for my $env (@EnvToNginx) {
        $conf .= $env =~ /\s/ ? "env '$env';\n" : "env $env;\n";
    }

    # When run as root, workers stay root (as in test-nginx) so they can
    # read the server root wherever the checkout lives.
    if (defined $WorkerUser) {
        $conf .= "user $WorkerUser;\n";
    } elsif ($> == 0) {
        $conf .= "user root;\n";
    }

    $conf .= "\n$main_config\n\nevents {\n"
        . "    accept_mutex off;\n"
        . "    worker_connections $WorkerConnections;\n";
    $conf .= "    use $ENV{TEST_NGINX_EVENT_TYPE};\n"
        if $ENV{TEST_NGINX_EVENT_TYPE};
    $conf .= "}\n\nhttp {\n"
        . "    access_log " . $Server->access_log . ";\n"
        . "    default_type text/plain;\n"
        . temp_path_directives($root, $http_config)
        . "\n$http_config\n"
        . "    server {\n"
        . "        " . listen_directive($block) . "\n"
        . "        server_name '$quoted_name';\n"
        . "        client_max_body_size 30M;\n"
        . "\n$ConfigPreamble\n"
        . "\n$config\n";

    if (!$NoRootLocation) {
        $conf .= "        location / {\n"
            . "            root $root/html;\n"
            . "            index index.html index.htm;\n"
            . "        }\n";
    }

    $conf .= "    }\n}\n\n$post_main_config\n";
    return $conf;
}

# The listen directive of the test server.  nginx 1.25.1 moved HTTP/2
# from a listen parameter to the "http2" directive.
sub listen_directive {
    my ($block) = @_;

    my $listen = "listen $ListenAddr:$ServerPort";

    return "$listen;" unless use_http2($block);

    my $version = nginx_version();
    if (defined $version && $version >= canonical_version(1, 25, 1)) {
        return "$listen; http2 on;";
    }

    return "$listen http2;";
}

# Whether the requests of a block go over HTTP/2: --- http2 asks for it,
# and TEST_NGINX_USE_HTTP2 asks for it for every block that can, as in
# test-nginx.  Raw and pipelined requests, HTTP/1.0 requests, client
# aborts and half-closed connections stay on HTTP/1.x, since the HTTP/2
# client cannot send them.
sub use_http2 {
    my ($block) = @_;

    my $name = $block->name;

    return $Http2Blocks{$name} if exists $Http2Blocks{$name};

    my $reason;
    if (defined $block->raw_request) {
        $reason = 'raw_request';
    } elsif (defined $block->pipelined_requests) {
        $reason = 'pipelined_requests';
    } elsif (defined $block->abort || defined $block->shutdown) {
        $reason = 'abort or shutdown';
    } elsif (!ref $block->request && defined $block->request
             && $block->request =~ m{HTTP/1\.0})
    {
        $reason = 'an HTTP/1.0 request';
    }

    my $wanted = 0;
    if (defined $block->http2) {
        bail_out("$name - --- http2 cannot be used with $reason")
            if defined $reason;
        $wanted = 1;

    } elsif ($UseHttp2 && !defined $block->no_http2) {
        if (defined $reason) {
            warn "$name - $reason: sent over HTTP/1.1\n";
        } else {
            $wanted = 1;
        }
    }

    return $Http2Blocks{$name} = $wanted;
}

# Keep nginx's temporary files inside the server root instead of the
# packaged defaults under /var/lib/nginx.
sub temp_path_directives {
    my ($root, $http_config) = @_;

    $NginxBuildInfo = `"$NginxBinary" -V 2>&1` unless defined $NginxBuildInfo;
    my $out = '';

    for my $kind (qw(client_body proxy fastcgi scgi uwsgi)) {
        next if $http_config =~ /\b${kind}_temp_path\b/;
        next if $NginxBuildInfo =~ /--without-http_${kind}_module/;
        $out .= "    ${kind}_temp_path $root/${kind}_temp;\n";
    }

    return $out;
}

## Section helpers.

# Return the --- user_files of a block as [name, body, mtime] entries.
# Text form: ">>> NAME [MTIME]" lines, each followed by the file body.
sub user_files {
    my ($block) = @_;

    my $files = $block->user_files;
    return [] unless defined $files;

    my $name = $block->name;
    my @entries;

    if (ref $files eq 'ARRAY') {
        @entries = map { [@$_] } @$files;
    } elsif (!ref $files) {
        for my $line (split /^/, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+?))?\s*$/) {
                push @entries, [$1, undef, $2];
            } elsif (@entries) {
                $entries[-1][1] .= $line;
            }
        }
    } else {
        bail_out("$name - --- user_files must be text or an array, not "
                 . ref $files);
    }

    for my $entry (@entries) {
        $entry->[1] = expand_env($entry->[1], $name, 'user_files');
    }

    return \@entries;
}

# Replace $TEST_NGINX_* variables with their environment values.
# $TEST_NGINX_RAND_PORT_N gets a free local port, the same within a block.
sub expand_env {
    my ($text, $name, $section) = @_;

    return $text if !defined $text || ref $text;

    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        env_value($1, $name, $section)
    }ge;

    return $text;
}

sub env_value {
    my ($var, $name, $section) = @_;

    if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
        if (!defined $RandPorts{$var}) {
            my $port = pick_free_port();
            $RandPorts{$var} = $port;
        }
        return $RandPorts{$var};
    }

    if (!defined $ENV{$var}) {
        bail_out("$name - environment variable $var is not set (used in "
                 . "--- $section); export it before running the tests");
    }

    return $ENV{$var};
}

sub pick_free_port {
    my %used = map { $_ => 1 } $ServerPort, values %RandPorts;

    for (1 .. 1000) {
        my $port = 20000 + int rand 40000;
        next if $used{$port};

        my $sock = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1',
            LocalPort => $port,
            Proto     => 'tcp',
            Listen    => 1,
            ReuseAddr => 1,
        );
        next unless $sock;

        close $sock;
        return $port;
    }

    bail_out("no free TCP port found on 127.0.0.1 after 1000 tries");
}

# Return (count, reason) when --- skip_eval or --- skip_nginx says to
# skip the block, else an empty list.
sub skip_condition {
    my ($block) = @_;

    my $name = $block->name;

    if (defined(my $spec = $block->skip_eval)) {
        if ($spec !~ /^\s*(\d+)\s*:\s*(.*)$/s) {
            bail_out("$name - invalid --- skip_eval \"$spec\": expected "
                     . "\"COUNT: PERL-CODE\"");
        }
        my ($count, $code) = ($1, $2);
        my $skip = eval_in_main($code);
        bail_out("$name - --- skip_eval code failed: $@") if $@;
        return ($count, 'skip_eval') if $skip;
    }

    if (defined(my $spec = $block->skip_nginx)) {
        if ($spec !~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)
                      (?:\s*:\s*(.*?))?\s*$/x)
        {
            bail_out("$name - invalid --- skip_nginx \"$spec\": expected "
                     . "\"COUNT: OP X.Y.Z[: REASON]\"");
        }
        my ($count, $op, $reason) = ($1, $2, $6);
        my $wanted = canonical_version($3, $4, $5);
        my $have = nginx_version();

        if (defined $have && eval "$have $op $wanted") {
            return ($count, $reason || "nginx version $op $3.$4.$5");
        }
    }

    return;
}

sub todo_condition {
    my ($block) = @_;

    my $spec = $block->todo;
    return unless defined $spec;

    if ($spec !~ /^\s*(\d+)\s*:\s*(.*?)\s*$/s) {
        bail_out($block->name . " - invalid --- todo \"$spec\": expected "
                 . "\"COUNT: REASON\"");
    }

    return ($1, $2);
}

sub nginx_version {
    if (!defined $NginxVersion) {
        my $out = `"$NginxBinary" -v 2>&1`;
        $NginxVersion = $out =~ m{/(\d+)\.(\d+)\.(\d+)}
            ? canonical_version($1, $2, $3) : '';
    }

    return length $NginxVersion ? $NginxVersion : undef;
}

sub canonical_version {
    return sprintf "%d.%03d%03d", @_;
}

# Seconds from "1.5", "1.5s" or "500ms".
sub parse_time {
    my ($value) = @_;

    return undef unless defined $value;
    $value =~ s/^\s+|\s+$//g;
    return $1 / 1000 if $value =~ /^([\d.]+)ms$/;
    return $1 if $value =~ /^([\d.]+)s?$/;
    return $value;
}

sub eval_in_main {
    my ($code) = @_;
    return eval "package main; no strict; $code";
}

sub default_empty {
    my ($value) = @_;
    return defined $value ? $value : '';
}

sub trim {
    my ($value) = @_;

    return undef unless defined $value;
    $value =~ s/^\s+|\s+$//g;
    return $value;
}

sub split_listen {
    my ($value) = @_;

    return ($1, $2) if $value =~ /^(.+):(\d+)$/;
    return ('127.0.0.1', $value);
}

sub find_nginx_binary {
    for my $dir (split /:/, $ENV{PATH} || '') {
        next unless length $dir;
        return "$dir/nginx" if -f "$dir/nginx" && -x _;
    }

    return '/usr/sbin/nginx';
}

1;

__END__

=head1 NAME

Test::Nginx::Socket - bundled fallback of the test-nginx data-driven runner

=head1 SYNOPSIS

    use Test::Nginx::Socket;

    repeat_each(2);
    plan tests => repeat_each() * (blocks() * 2);
    run_tests();

    __DATA__

    === TEST 1: hello
    --- config
        location = /t { return 200 "hello\n"; }
    --- request
    GET /t
    --- response_body
    hello

=head1 DESCRIPTION

Each block gets a fresh nginx: the server root F<t/servroot> (or
C<TEST_NGINX_SERVROOT>) is emptied, F<conf/nginx.conf> is generated and
nginx is started with C<-p SERVROOT/ -c conf/nginx.conf>, C<daemon on> and
C<master_process off>.  A block without C<--- config> reuses the running
nginx.  nginx is stopped by the PID read from its pid file at start
(QUIT, then TERM, then KILL).

The generated nginx.conf has, in order: C<load_module> lines for the
paths in C<TEST_NGINX_LOAD_MODULES>, the process, C<error_log> and C<pid>
directives, C<env> lines from C<env_to_nginx>, C<user root> when run as
root, C<--- main_config>, an C<events> block, and an C<http> block with
C<--- http_config> and one C<server> listening on
C<127.0.0.1:TEST_NGINX_SERVER_PORT> that holds C<--- config> and a
C<location /> serving F<html> (unless C<no_root_location()>).

Blocks run in random order unless C<no_shuffle()> is called or
C<TEST_NGINX_NO_SHUFFLE> is set.

=head1 SECTIONS AND TEST COUNTS

Counts are per response (every element of an C<eval> request array and
every pipelined request is one) and are all multiplied by
C<repeat_each()>:

    status code (error_code, error_code_like, default 200)   1
    raw_response_headers_like / _unlike                      1 each
    response_headers (else response_headers_like)           1 per header name
    response_body (else response_body_like / _unlike)        1
    error_log, no_error_log, access_log, no_access_log       1 per pattern
    grep_error_log + grep_error_log_out                      1

C<ignore_response> drops the response checks but keeps the log checks.
A C<must_die> block sends no request: it adds 1 test for the exit, plus
its error log checks, per repeat.  C<shutdown_error_log> and
C<no_shutdown_error_log> add 1 per pattern once per block.  C<skip_eval>,
C<skip_nginx> and C<todo> add the count they name, per repeat.

Only the error log lines written since the previous check of the same
block count; the first check of a block sees everything since nginx
started.

C<$TEST_NGINX_*> variables are replaced in config, http_config,
main_config, post_main_config, user_files, pipelined_requests,
response_body and grep_error_log_out (the same sections as test-nginx);
an unset variable stops the run.  C<$TEST_NGINX_RAND_PORT_N> is a free
port on 127.0.0.1, fixed within a block.

Other supported sections: request (text or C<eval> array of strings),
more_headers (text or C<eval> array, one entry per request), raw_request,
pipelined_requests, raw_request_middle_delay, shutdown, timeout, abort,
wait, init, post_setup_server_root, user_files, log_level, server_name,
error_log_file, response_body_eval, response_body_filters, suppress_stderr,
skip_valgrind and http2 (see below), no_http2, and the Test::Base meta
sections ONLY, SKIP and LAST.

=head1 VALGRIND MODE

With C<TEST_NGINX_USE_VALGRIND> set to a true value, the nginx of each
block runs under C<valgrind --tool=memcheck --leak-check=full
--show-leak-kinds=definite --errors-for-leak-kinds=definite>, with
C<daemon off> in nginx.conf, as a child of the test script.  Memcheck
writes to F<logs/valgrind.log> in the server root, and the suppressions
file named by C<TEST_NGINX_VALGRIND_SUPPRESSIONS> is used when set.  The
script waits up to C<TEST_NGINX_VALGRIND_TIMEOUT> seconds (default 30)
for the pid file after the start and for the exit after each stop signal.

When that nginx stops (before the next block with C<--- config>, or at
the end of the file), its log is checked.  A clean log adds no test, so
plans need no change.  An error record, a definite leak, or a missing
C<ERROR SUMMARY> line (nginx did not exit normally) adds one failed test
named after the block that started nginx, with the records in the
diagnostics.  That extra test also makes the plan count wrong.

Blocks with C<--- must_die> (as in test-nginx) or C<--- skip_valgrind>
run nginx without valgrind.  C<--- skip_valgrind> is for blocks that
depend on timing.  openresty/test-nginx has no such section, and it
does not warn about sections it does not know.

=head1 HTTP/2 MODE

A block with C<--- http2>, or every block when C<TEST_NGINX_USE_HTTP2> is
set to a true value (except those with C<--- no_http2>), runs over
HTTP/2 without TLS: the server listens with the C<http2> parameter (the
C<http2 on> directive from nginx 1.25.1), and each request is sent by
F<t/lib/h2-request> (Debian's python3-h2).  test-nginx uses curl here,
but curl 7.88 drops a whole reply when nginx resets the stream with
NO_ERROR after it, as nginx does when it answers before reading the
request body.  Connection, Content-Length and Transfer-Encoding headers
are left out; the other headers are sent as written, with lower-case
names.  A reply that arrives over another protocol
adds one failed test.  Blocks with raw or pipelined requests, an
HTTP/1.0 request, C<abort> or C<shutdown> stay on HTTP/1.1: with
C<--- http2> that stops the run, and in the environment mode a warning
names the block.

=head1 SANITIZER MODE

With C<TEST_NGINX_USE_ASAN> set to a true value, the nginx binary and
modules are expected to be built with AddressSanitizer and
UndefinedBehaviorSanitizer, writing their reports as files to
C<TEST_NGINX_ASAN_REPORT_DIR> (util/run-tests sets C<log_path> in
C<ASAN_OPTIONS> and C<UBSAN_OPTIONS>).  After each stop of nginx and after
each C<--- must_die> block, new files in that directory add one failed
test named after the first block run since the previous check, with the
reports in the diagnostics.  No new file adds no test.
C<--- must_die> blocks run with C<detect_leaks=0> added to
C<ASAN_OPTIONS>, because nginx does not free its start-up pool when it
rejects a configuration.

=head1 ENVIRONMENT

TEST_NGINX_BINARY, TEST_NGINX_SERVROOT, TEST_NGINX_SERVER_PORT (or
TEST_NGINX_PORT; may be ADDRESS:PORT), TEST_NGINX_CLIENT_PORT,
TEST_NGINX_LOAD_MODULES, TEST_NGINX_LOG_LEVEL, TEST_NGINX_MASTER_PROCESS,
TEST_NGINX_NO_SHUFFLE, TEST_NGINX_TIMEOUT, TEST_NGINX_SLEEP,
TEST_NGINX_NO_CLEAN, TEST_NGINX_WORKER_USER, TEST_NGINX_EVENT_TYPE,
TEST_NGINX_CHECK_ACCUM_ERR_LOG, TEST_NGINX_VERBOSE, TEST_NGINX_USE_VALGRIND,
TEST_NGINX_VALGRIND_SUPPRESSIONS, TEST_NGINX_VALGRIND_TIMEOUT,
TEST_NGINX_USE_HTTP2, TEST_NGINX_USE_ASAN, TEST_NGINX_ASAN_REPORT_DIR.

=cut
