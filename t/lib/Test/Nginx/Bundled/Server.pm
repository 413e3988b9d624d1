package Test::Nginx::Bundled::Server;

# The nginx instance under test: its server root, nginx.conf, start, stop
# and error log.  Used by the bundled Test::Nginx::Socket only.

use strict;
use warnings;

use File::Path qw(make_path remove_tree);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

# Create a handle for an nginx that runs under the server root $args{root}.
# Keys: root, binary, timeout (seconds to wait for start and stop), verbose.
sub new {
    my ($class, %args) = @_;

    my $root = $args{root};
    my $self = bless {
        root        => $root,
        binary      => $args{binary},
        timeout     => $args{timeout} || 3,
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

# Run the nginx binary on the current nginx.conf.  With "daemon on" the
# command returns once nginx has forked, so on success this also waits for
# the pid file.  Returns a hash: ok, exit_code, signal, stderr, error.
sub start {
    my ($self) = @_;

    my @cmd = ($self->{binary}, '-p', "$self->{root}/",
               '-c', $self->{conf_file}, '-e', $self->{error_log});

    if ($self->{verbose}) {
        warn "# starting nginx: @cmd\n";
    }

    my $pid = fork();
    if (!defined $pid) {
        die "fork() failed: $!\n";
    }

    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', $self->{stderr_file};
        { exec { $cmd[0] } @cmd }
        print STDERR "failed to execute $cmd[0]: $!\n";
        POSIX::_exit(127);
    }

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
sub stop {
    my ($self) = @_;

    my $pid = $self->running_pid;
    delete $self->{pid};
    return unless $pid;

    for my $signal ('QUIT', 'TERM') {
        kill $signal, $pid;
        return if wait_for_exit($pid, $self->{timeout});
        warn "# nginx (pid $pid) did not exit $self->{timeout}s after "
            . "SIG$signal\n";
    }

    kill 'KILL', -$pid;
    kill 'KILL', $pid;
    wait_for_exit($pid, 1);
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
