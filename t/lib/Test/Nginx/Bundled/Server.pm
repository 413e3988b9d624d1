package Test::Nginx::Bundled::Server;

# The nginx instance under test: its server root, nginx.conf, start, stop
# and error log.  Used by the bundled Test::Nginx::Socket only.

use strict;
use warnings;

use File::Path qw(make_path remove_tree);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

# Create a handle for an nginx that runs under the server root $args{root}.
# Keys: root, binary, timeout (seconds to wait for start and stop),
# wrapped_timeout (seconds to wait for the start and stop of an nginx
# started with a wrapper command, default: timeout), verbose.
sub new {
    my ($class, %args) = @_;

    my $root = $args{root};
    my $timeout = $args{timeout} || 3;
    my $self = bless {
        root        => $root,
        binary      => $args{binary},
        timeout     => $timeout,
        wrapped_timeout => $args{wrapped_timeout} || $timeout,
        verbose     => $args{verbose},
        conf_dir    => "$root/conf",
        conf_file   => "$root/conf/nginx.conf",
        log_dir     => "$root/logs",
        error_log   => "$root/logs/error.log",
        access_log  => "$root/logs/access.log",
        pid_file    => "$root/logs/nginx.pid",
        html_dir    => "$root/html",
        # Inside logs/ because test-nginx refuses to reuse a server root
        # that holds files of its own.
        stderr_file => "$root/logs/nginx.stderr",
    }, $class;

    return $self;
}

sub root        { $_[0]{root} }
sub log_dir     { $_[0]{log_dir} }
sub conf_file   { $_[0]{conf_file} }
sub error_log   { $_[0]{error_log} }
sub access_log  { $_[0]{access_log} }
sub pid_file    { $_[0]{pid_file} }
sub html_dir    { $_[0]{html_dir} }
sub stderr_file { $_[0]{stderr_file} }

# Empty the server root for a fresh nginx start.  Only the directories
# that this module or nginx create are removed, so a TEST_NGINX_SERVROOT
# pointing at a directory with other content keeps that content.
sub reset_root {
    my ($self) = @_;
    my $root = $self->{root};

    if (-d $root) {
        remove_tree($self->{conf_dir}, $self->{log_dir}, $self->{html_dir},
                    "$root/cache", glob("$root/*_temp"),
                    glob("$root/*_cache"));
    }

    for my $dir ($root, $self->{log_dir}, $self->{html_dir},
                 $self->{conf_dir})
    {
        next if -d $dir;
        make_path($dir)
            or die "failed to create directory $dir: $!\n";
    }

    write_file("$self->{html_dir}/index.html",
               "<html><body>Test::Nginx bundled runner</body></html>\n");
}

# Write the files of a --- user_files section.  $files is a list of
# [name, body, mtime] where a relative name is under the html directory
# and mtime (optional) is a `touch -t` timestamp in GMT.
sub write_user_files {
    my ($self, $files) = @_;

    for my $file (@$files) {
        my ($name, $body, $mtime) = @$file;
        my $path = $name =~ m{^/} ? $name : "$self->{html_dir}/$name";

        if ($path =~ m{^(.*)/[^/]+$} && !-d $1) {
            make_path($1) or die "failed to create directory $1: $!\n";
        }

        write_file($path, defined $body ? $body : '');

        if (defined $mtime) {
            local $ENV{TZ} = 'GMT';
            system('touch', '-t', $mtime, $path) == 0
                or die "failed to set the mtime of $path to $mtime\n";
        }
    }
}

sub write_config {
    my ($self, $text) = @_;
    write_file($self->{conf_file}, $text);
}

# Run the nginx binary on the current nginx.conf.  Returns a hash: ok,
# command, exit_code, signal, stderr, error.
#
# Without options nginx.conf must say "daemon on": the command returns
# once nginx has forked, so on success this also waits for the pid file.
# With wrapper => [COMMAND...], for example valgrind, nginx.conf must say
# "daemon off": the wrapped nginx stays our child, and start() returns
# once the pid file holds the child's PID.
sub start {
    my ($self, %opts) = @_;

    my @cmd = ($self->{binary}, '-p', "$self->{root}/",
               '-c', $self->{conf_file}, '-e', $self->{error_log});
    unshift @cmd, @{ $opts{wrapper} } if $opts{wrapper};

    if ($self->{verbose}) {
        warn "# starting nginx: @cmd\n";
    }

    my $pid = $self->spawn(\@cmd);
    return $self->wait_for_child_start($pid, \@cmd) if $opts{wrapper};

    waitpid($pid, 0);
    my $status = $?;
    my %result = (
        command   => "@cmd",
        exit_code => $status >> 8,
        signal    => $status & 127,
    );
    $result{stderr} = read_file($self->{stderr_file});

    if ($status != 0) {
        $result{error} = $result{signal}
            ? "nginx was killed by signal $result{signal}"
            : "nginx exited with status $result{exit_code}";
        return \%result;
    }

    # The PID is remembered here and used to stop nginx later, so a pid
    # file that vanishes or is rewritten meanwhile (for example by another
    # run sharing the server root) cannot leave nginx running or make us
    # signal a process we did not start.
    my $deadline = time + $self->{timeout};
    while (1) {
        my $pid = $self->pid_from_file;
        if ($pid && process_alive($pid) && $self->started_by_us($pid)) {
            $self->{pid} = $pid;
            last;
        }

        if (time > $deadline) {
            $result{error} = "nginx exited with status 0 but no running "
                . "process was found through $self->{pid_file} after "
                . "$self->{timeout}s";
            return \%result;
        }
        sleep 0.01;
    }

    $result{ok} = 1;
    return \%result;
}

# Fork and run @$cmd with stdout discarded and stderr in stderr_file.
# Returns the child's PID.
sub spawn {
    my ($self, $cmd) = @_;

    my $pid = fork();
    if (!defined $pid) {
        die "fork() failed: $!\n";
    }

    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', $self->{stderr_file};
        { exec { $cmd->[0] } @$cmd }
        print STDERR "failed to execute $cmd->[0]: $!\n";
        POSIX::_exit(127);
    }

    return $pid;
}

# Wait until the foreground nginx of child $pid has written its pid file,
# which nginx does after it has opened its listening sockets.  Fails when
# the child exits first or the wait exceeds wrapped_timeout; in the
# latter case the child is stopped.
sub wait_for_child_start {
    my ($self, $pid, $cmd) = @_;

    my %result = (command => "@$cmd");
    my $deadline = time + $self->{wrapped_timeout};

    while (1) {
        if (waitpid($pid, WNOHANG) == $pid) {
            my $status = $?;
            $result{exit_code} = $status >> 8;
            $result{signal} = $status & 127;
            $result{stderr} = read_file($self->{stderr_file});
            $result{error} = $result{signal}
                ? "nginx was killed by signal $result{signal} before it "
                  . "wrote $self->{pid_file}"
                : "nginx exited with status $result{exit_code} before it "
                  . "wrote $self->{pid_file}";
            return \%result;
        }

        my $file_pid = $self->pid_from_file;
        if (defined $file_pid && $file_pid == $pid) {
            $self->{pid} = $pid;
            $self->{child} = 1;
            $result{ok} = 1;
            return \%result;
        }

        if (time > $deadline) {
            $self->{pid} = $pid;
            $self->{child} = 1;
            $self->stop;
            $result{stderr} = read_file($self->{stderr_file});
            $result{error} = "nginx (pid $pid) did not write its PID to "
                . "$self->{pid_file} within $self->{wrapped_timeout}s";
            return \%result;
        }

        sleep 0.05;
    }
}

# Return the PID of the nginx started by start() while it is alive,
# else undef.
sub running_pid {
    my ($self) = @_;

    my $pid = $self->{pid};
    return $pid && process_alive($pid) ? $pid : undef;
}

sub pid_from_file {
    my ($self) = @_;

    my $text = read_file($self->{pid_file});
    return defined $text && $text =~ /^\s*(\d+)\s*$/ ? $1 : undef;
}

# On Linux, check that $pid runs our nginx.conf: nginx keeps its command
# line (or puts it in the master's title), so it names our config file.
sub started_by_us {
    my ($self, $pid) = @_;

    my $cmdline = read_file("/proc/$pid/cmdline");
    return 1 unless defined $cmdline;

    return index($cmdline, $self->{conf_file}) >= 0;
}

# Stop the nginx that start() launched, by its PID: QUIT first so the
# shutdown is logged, then TERM, then KILL to its process group.  nginx
# calls setsid() when it daemonizes, so that group holds only the master
# and its workers.
#
# Returns undef when no nginx was running, else a hash: pid, signal (the
# last signal sent), and for a wrapped nginx, which is our child,
# exit_code and exit_signal from its wait status (both undef if it could
# not be reaped).
sub stop {
    my ($self) = @_;

    # A child that exited by itself is a zombie, which running_pid()
    # skips, but it still has to be reaped for its status.
    my $child = delete $self->{child};
    my $pid = $child ? $self->{pid} : $self->running_pid;
    delete $self->{pid};
    return undef unless $pid;

    return $self->stop_child($pid) if $child;

    for my $signal ('QUIT', 'TERM') {
        kill $signal, $pid;
        return { pid => $pid, signal => $signal }
            if wait_for_exit($pid, $self->{timeout});
        warn "# nginx (pid $pid) did not exit $self->{timeout}s after "
            . "SIG$signal\n";
    }

    kill 'KILL', -$pid;
    kill 'KILL', $pid;
    wait_for_exit($pid, 1);
    return { pid => $pid, signal => 'KILL' };
}

# Stop nginx running as our child $pid, as stop() does, and reap it.
# It gets wrapped_timeout seconds to exit after QUIT and after TERM,
# because valgrind needs seconds to write its leak report.
sub stop_child {
    my ($self, $pid) = @_;

    my %result = (pid => $pid);
    my $timeout = $self->{wrapped_timeout};

    for my $signal ('QUIT', 'TERM', 'KILL') {
        if (waitpid($pid, WNOHANG) == $pid) {
            return child_status(\%result, $?);
        }

        kill $signal, $pid;
        $result{signal} = $signal;

        my $deadline = time + ($signal eq 'KILL' ? 5 : $timeout);
        while (time < $deadline) {
            if (waitpid($pid, WNOHANG) == $pid) {
                return child_status(\%result, $?);
            }
            sleep 0.05;
        }

        warn "# nginx (pid $pid) did not exit ${timeout}s after "
            . "SIG$signal\n" unless $signal eq 'KILL';
    }

    warn "# nginx (pid $pid) did not exit after SIGKILL\n";
    return \%result;
}

sub child_status {
    my ($result, $status) = @_;

    $result->{exit_code} = $status >> 8;
    $result->{exit_signal} = $status & 127;
    return $result;
}

sub error_log_size {
    my ($self) = @_;
    return -s $self->{error_log} || 0;
}

# Return the error log lines from byte offset $offset on and the offset
# of the end of the file, so the next read returns only newer lines.
sub read_error_log_from {
    my ($self, $offset) = @_;

    open my $in, '<', $self->{error_log} or return ([], $offset);
    seek $in, $offset, 0 if $offset;
    my @lines = <$in>;
    my $end = tell $in;
    close $in;

    return (\@lines, $end);
}

sub read_access_log {
    my ($self) = @_;

    open my $in, '<', $self->{access_log} or return [];
    my @lines = <$in>;
    close $in;

    return \@lines;
}

sub wait_for_exit {
    my ($pid, $seconds) = @_;

    my $deadline = time + $seconds;
    while (time < $deadline) {
        # Reaps only when nginx is our own child, which "daemon on" avoids.
        waitpid($pid, WNOHANG);
        return 1 unless process_alive($pid);
        sleep 0.02;
    }

    return !process_alive($pid);
}

# kill(0) also succeeds for a zombie, and a daemonized nginx stays one
# until init reaps it (seconds in some containers), so on Linux the state
# in /proc is checked too.
sub process_alive {
    my ($pid) = @_;

    return 0 unless kill 0, $pid;

    my $stat = read_file("/proc/$pid/stat");
    if (defined $stat && $stat =~ /.*\)\s+([A-Za-z])/s) {
        return $1 ne 'Z' && $1 ne 'X';
    }

    return 1;
}

sub read_file {
    my ($path) = @_;

    open my $in, '<', $path or return undef;
    local $/;
    my $text = <$in>;
    close $in;

    return defined $text ? $text : '';
}

sub write_file {
    my ($path, $text) = @_;

    open my $out, '>', $path or die "failed to open $path for writing: $!\n";
    binmode $out;
    print $out $text;
    close $out or die "failed to write $path: $!\n";
}

1;
