#!/usr/bin/env python3
"""Demo upstream for the UBT gateway.

Replies 200 to every method and path with a JSON body that echoes the
request line and every X-UBT-* request header, so the walk-through can show
which headers the gateway set, replaced or removed before proxying.
Binds 127.0.0.1 only. Standard library only.
"""

import argparse
import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LISTEN_HOST = "127.0.0.1"

# Request bodies are read only to keep the connection usable and then dropped.
MAX_BODY_BYTES = 1024 * 1024


class EchoHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive between requests, so every reply
    # must carry an exact Content-Length.
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes; without this, Nagle's
    # algorithm delays the body by about 40 ms on a reused connection
    disable_nagle_algorithm = True

    log_file = sys.stderr

    def version_string(self):
        return "ubt-demo-upstream"

    def handle_any_method(self):
        if not self.discard_request_body():
            return

        payload = {
            "ok": True,
            "upstream": "demo",
            "method": self.command,
            "path": self.path,
            "x_ubt_headers": self.collect_ubt_headers(),
        }
        body = (json.dumps(payload, sort_keys=True) + "\n").encode("utf-8")

        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any_method
    do_HEAD = do_OPTIONS = handle_any_method

    def collect_ubt_headers(self):
        """Return every X-UBT-* header as lowercase name -> value.

        A header sent more than once is joined with ", " as HTTP allows, so a
        duplicate (for example a client copy the gateway failed to remove)
        stays visible in the reply.
        """
        headers = {}
        for name, value in self.headers.items():
            key = name.lower()
            if not key.startswith("x-ubt-"):
                continue
            if key in headers:
                headers[key] += ", " + value
            else:
                headers[key] = value
        return headers

    def discard_request_body(self):
        """Read and drop the request body. Return False if an error reply was sent instead."""
        transfer_encoding = self.headers.get("Transfer-Encoding", "")
        if "chunked" in transfer_encoding.lower():
            return self.discard_chunked_body()

        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return True
        try:
            length = int(length_header)
        except ValueError:
            self.send_error(400, "invalid Content-Length: %r" % length_header)
            return False
        if length < 0 or length > MAX_BODY_BYTES:
            self.send_error(413, "request body larger than %d bytes" % MAX_BODY_BYTES)
            return False
        self.rfile.read(length)
        return True

    def discard_chunked_body(self):
        total = 0
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.send_error(400, "invalid chunk size line")
                return False
            if size == 0:
                break
            total += size
            if total > MAX_BODY_BYTES:
                self.send_error(413, "request body larger than %d bytes" % MAX_BODY_BYTES)
                return False
            self.rfile.read(size + 2)  # chunk data and its CRLF

        # Skip optional trailer fields up to the empty line.
        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
            pass
        return True

    def log_message(self, format, *args):
        timestamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.log_file.write("%s %s %s\n" % (timestamp, self.address_string(), format % args))
        self.log_file.flush()


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True,
                        help="TCP port to listen on at 127.0.0.1")
    parser.add_argument("--pid-file",
                        help="write this process's PID to this file and remove it on exit")
    parser.add_argument("--log-file",
                        help="append one line per request to this file (default: stderr)")
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535:
        parser.error("--port %d is out of range; use 1..65535" % args.port)
    return args


def remove_own_pid_file(path):
    """Remove the PID file only if it still names this process."""
    try:
        with open(path, encoding="ascii") as f:
            recorded = f.read().strip()
    except OSError:
        return
    if recorded == str(os.getpid()):
        os.unlink(path)


def main(argv=None):
    args = parse_args(argv)

    if args.log_file:
        EchoHandler.log_file = open(args.log_file, "a", encoding="utf-8")

    try:
        server = ThreadingHTTPServer((LISTEN_HOST, args.port), EchoHandler)
    except OSError as e:
        sys.stderr.write("upstream.py: failed to listen on %s:%d: %s; "
                         "choose another port with --port\n"
                         % (LISTEN_HOST, args.port, e.strerror))
        return 1

    # SIGTERM ends serve_forever() through SystemExit, so the finally block
    # below still closes the socket and removes the PID file.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))

    if args.pid_file:
        with open(args.pid_file, "w", encoding="ascii") as f:
            f.write("%d\n" % os.getpid())

    EchoHandler.log_file.write("upstream.py: listening on http://%s:%d (pid %d)\n"
                               % (LISTEN_HOST, args.port, os.getpid()))
    EchoHandler.log_file.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if args.pid_file:
            remove_own_pid_file(args.pid_file)
        EchoHandler.log_file.write("upstream.py: stopped (pid %d)\n" % os.getpid())
        EchoHandler.log_file.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
