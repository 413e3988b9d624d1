package Test::Nginx::Bundled::HTTP;

# Client side of the bundled Test::Nginx::Socket: builds request bytes
# from block sections, sends them over one TCP connection and parses the
# responses (Content-Length, chunked or ended by connection close).
# HTTP/2 requests go through t/lib/h2-request, a small client on Debian's
# python3-h2.

use strict;
use warnings;

use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use HTTP::Response ();
use IO::Select ();
use IO::Socket::INET ();
use File::Basename ();
use IPC::Run3 ();
use Time::HiRes qw(sleep time);


# The HTTP/2 client: t/lib/h2-request, two directories up from this file.
my $H2Request = File::Basename::dirname(__FILE__) . '/../../../h2-request';

# Turn --- more_headers text into header lines.  Lines starting with "#"
# are comments.  Returns the CRLF-terminated header block and whether it
# asks for a chunked request body.
sub parse_more_headers {
    my ($text) = @_;

    my $out = '';
    my $is_chunked = 0;

    for my $line (split /\n+/, defined $text ? $text : '') {
        next if $line =~ /^\s*#/;

        my ($name, $value) = split /:\s*/, $line, 2;
        $value = '' unless defined $value;
        if (lc $name eq 'transfer-encoding' && $value eq 'chunked') {
            $is_chunked = 1;
        }
        $out .= "$name: $value\r\n";
    }

    return ($out, $is_chunked);
}

# Build the bytes of one request from --- request text: the first line is
# "METHOD [URI [VERSION]]" (URI defaults to "/", VERSION to HTTP/1.1) and
# the remaining lines are the body.  Host and Connection headers are added
# unless --- more_headers sets them.  A body gets a Content-Length header
# and loses its surrounding whitespace unless more_headers sets
# Content-Length or chunked encoding, in which case it is sent verbatim.
# Dies with a message on an invalid request line.
sub build_request {
    my (%args) = @_;

    my $text = $args{request};
    $text = '' unless defined $text;

    # Leading comment lines and blank lines are not part of the request.
    while ($text =~ s/^\s*#[^\n]*\n// || $text =~ s/^\s+//) { }

    my ($first_line, $body) = split /\n/, $text, 2;
    if (!defined $first_line || $first_line !~ /\S/) {
        die "the request line is empty\n";
    }

    my ($method, $uri, $version, $extra) = split ' ', $first_line;
    if (defined $extra) {
        die "invalid request line \"$first_line\": expected "
            . "\"METHOD [URI [VERSION]]\"\n";
    }
    $uri = '/' unless defined $uri;
    $version = 'HTTP/1.1' unless defined $version;
    $body = '' unless defined $body;

    my ($more_headers, $is_chunked) = parse_more_headers($args{more_headers});

    my $headers = '';
    if ($more_headers !~ /(?:^|\n)Host:/i) {
        $headers .= "Host: $args{server_name}\r\n";
    }
    if ($more_headers !~ /(?:^|\n)Connection/i) {
        $headers .= "Connection: $args{connection}\r\n";
    }
    $headers .= $more_headers;

    if (!$is_chunked && $body ne ''
        && $more_headers !~ /(?:^|\n)Content-Length:/i)
    {
        $body =~ s/^\s+|\s+$//g;
        $headers .= "Content-Length: " . length($body) . "\r\n";
    }

    return "$method $uri $version\r\n$headers\r\n$body";
}

# Send $args{packets} (a list of byte strings, written with
# $args{packet_delay} seconds between them) on a new connection and read
# until the server closes it.  $args{timeout} limits each wait for the
# socket, not the whole exchange.  Returns a hash: raw (the bytes read),
# timed_out, error.
sub exchange {
    my (%args) = @_;

    my $timeout = $args{timeout};
    my %result = (raw => '');

    my $sock = connect_with_retry($args{host}, $args{port}, $timeout);
    if (!$sock) {
        $result{error} = "failed to connect to $args{host}:$args{port}: $!";
        return \%result;
    }

    local $SIG{PIPE} = 'IGNORE';

    my @packets = @{ $args{packets} };
    for my $i (0 .. $#packets) {
        if ($i > 0 && $args{packet_delay}) {
            sleep $args{packet_delay};
        }

        my $error = write_all($sock, $packets[$i], $timeout);
        if ($error) {
            # The server may have answered and closed early, so the
            # response is still read below.
            $result{write_error} = $error;
            last;
        }
    }

    if (defined $args{shutdown}) {
        shutdown $sock, $args{shutdown};
    }

    my $select = IO::Select->new($sock);
    while (1) {
        if (!$select->can_read($timeout)) {
            $result{timed_out} = 1;
            last;
        }

        my $bytes = sysread $sock, my $buf, 16384;
        if (!defined $bytes) {
            next if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
            $result{error} = "failed to read the response: $!";
            last;
        }
        last if $bytes == 0;

        $result{raw} .= $buf;
    }

    close $sock;
    return \%result;
}

# Send one request, given as the bytes build_request() makes, over
# HTTP/2 without TLS, through h2-request next to this library.  Connection
# framing headers are dropped, since HTTP/2 forbids them; every other
# header is passed as given, duplicates included.  The body is written to
# $args{body_file}.  Returns the same hash as exchange(), with raw holding
# the reply as "curl -i" prints it, and http2 set when it came over HTTP/2.
sub h2_exchange {
    my (%args) = @_;

    my %result = (raw => '');

    if ($args{request} !~ m{\A(\S+) (\S+) HTTP/[\d.]+\r\n(.*?)\r\n\r\n(.*)\z}s)
    {
        $result{error} = "cannot turn the request into HTTP/2";
        return \%result;
    }

    my ($method, $uri, $head, $body) = ($1, $2, $3, $4);
    my @cmd = ($H2Request, '--timeout', $args{timeout});

    for my $line (split /\r\n/, $head) {
        next if $line =~ /^(?:Connection|Content-Length|Transfer-Encoding):/i;
        push @cmd, '-H', $line;
    }

    if (length $body) {
        open my $fh, '>', $args{body_file}
            or die "cannot write $args{body_file}: $!\n";
        binmode $fh;
        print $fh $body;
        close $fh;
        push @cmd, '--data-file', $args{body_file};
    }

    push @cmd, $method, "http://$args{host}:$args{port}$uri";

    my ($out, $err) = ('', '');
    IPC::Run3::run3(\@cmd, \undef, \$out, \$err,
                    { binmode_stdout => ':raw' });

    if ($? >> 8 == 28) {
        $result{timed_out} = 1;

    } elsif ($?) {
        $result{error} = "h2-request exited with " . ($? >> 8) . ": $err";
    }

    $result{raw} = $out;
    $result{http2} = $out =~ m{\AHTTP/2 } ? 1 : 0;
    return \%result;
}

# nginx listens before it writes its pid file, so a refused connection
# means nginx has gone away.  The retries only smooth over a busy host.
sub connect_with_retry {
    my ($host, $port, $timeout) = @_;

    for my $attempt (1 .. 10) {
        my $sock = IO::Socket::INET->new(
            PeerAddr => $host,
            PeerPort => $port,
            Proto    => 'tcp',
            Timeout  => $timeout,
        );
        return $sock if $sock;
        sleep 0.05 * $attempt;
    }

    return undef;
}

sub write_all {
    my ($sock, $data, $timeout) = @_;

    my $offset = 0;
    my $select = IO::Select->new($sock);
    while ($offset < length $data) {
        if (!$select->can_write($timeout)) {
            return "timed out after ${timeout}s writing the request";
        }

        my $bytes = syswrite $sock, $data, length($data) - $offset, $offset;
        if (!defined $bytes) {
            next if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
            return "failed to write the request: $!";
        }
        $offset += $bytes;
    }

    return undef;
}

# Parse one response from the start of $raw.  $is_head marks the answer
# to a HEAD request, which has no body whatever its headers say.  Returns
# a hash: response (an HTTP::Response, undef if no status line was
# found), raw_headers (status line and headers, each ending in CRLF),
# rest (bytes after this response, for pipelined requests) and error
# (a malformed body; the body then holds the undecoded bytes).
sub parse_response {
    my ($raw, $is_head) = @_;

    my %result = (raw_headers => '', rest => '');

    if ($raw !~ /\A(.*?\r\n)\r\n/s) {
        $result{error} = length $raw
            ? "no complete response header in " . length($raw) . " bytes"
            : "the server sent no response";
        return \%result;
    }

    my $head = $1;
    my $body = substr $raw, length($head) + 2;
    $result{raw_headers} = $head;

    my ($status_line, @header_lines) = split /\r\n/, $head;
    if ($status_line !~ m{^(HTTP/\d+(?:\.\d+)?)\s+(\d{3})(?:\s+(.*))?$}) {
        $result{error} = "invalid status line \"$status_line\"";
        return \%result;
    }

    my $res = HTTP::Response->new($2, defined $3 ? $3 : '');
    $res->protocol($1);
    for my $line (@header_lines) {
        if ($line =~ /^([^:\s]+)\s*:\s*(.*?)\s*$/) {
            $res->push_header($1, $2);
        }
    }
    $result{response} = $res;

    my $code = $res->code;
    my $encoding = $res->header('Transfer-Encoding');
    my $length = $res->header('Content-Length');

    if ($is_head || $code =~ /^1/ || $code == 204 || $code == 304) {
        $res->content('');
        $result{rest} = $body;

    } elsif (defined $encoding && $encoding =~ /\bchunked\b/i) {
        my ($decoded, $rest, $error) = decode_chunked($body);
        if (defined $error) {
            $result{error} = $error;
            $res->content($body);
        } else {
            $res->content($decoded);
            $result{rest} = $rest;
        }

    } elsif (defined $length && $length =~ /^\d+$/) {
        if (length $body < $length) {
            $result{error} = "response body truncated: Content-Length is "
                . "$length but only " . length($body) . " bytes arrived";
            $res->content($body);
        } else {
            $res->content(substr $body, 0, $length);
            $result{rest} = substr $body, $length;
        }

    } else {
        # No length: the body ends when the server closes the connection.
        $res->content($body);
    }

    return \%result;
}

# Decode a chunked body.  Returns (decoded bytes, bytes after the last
# chunk and its trailer, error message or undef).
sub decode_chunked {
    my ($raw) = @_;

    my $decoded = '';
    pos($raw) = 0;

    while (1) {
        if ($raw !~ /\G([0-9A-Fa-f]+)[ \t]*(?:;[^\r\n]*)?\r\n/gc) {
            my $at = substr $raw, pos($raw), 20;
            return (undef, undef, "invalid chunk size line at \"$at\"");
        }

        my $size = hex $1;
        last if $size == 0;

        if (length($raw) - pos($raw) < $size + 2) {
            return (undef, undef, "chunk of $size bytes is truncated");
        }
        $decoded .= substr $raw, pos($raw), $size;
        pos($raw) += $size;

        if ($raw !~ /\G\r\n/gc) {
            return (undef, undef, "missing CRLF after a chunk of $size bytes");
        }
    }

    # Trailer fields, if any, end with an empty line.
    while ($raw !~ /\G\r\n/gc) {
        if ($raw !~ /\G[^\r\n]+\r\n/gc) {
            return (undef, undef, "missing CRLF after the last chunk");
        }
    }

    return ($decoded, substr($raw, pos($raw)), undef);
}

1;
