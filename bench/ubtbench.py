"""Servers, keys, signed requests and measurements shared by bench/run and
bench/profile.

Every server listens on 127.0.0.1 and keeps its files in one temporary
directory. Each runs as a child of this process in its own session, so a
terminal's Ctrl-C reaches only this process, which then stops each server
by its PID. Standard library only.
"""

import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zlib

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
CONF_DIR = os.path.join(BENCH_DIR, "conf")

NGINX = "/usr/sbin/nginx"
# Debian's python3 with python3-aiohttp and python3-redis; a python3 found
# on PATH may be another installation without them
SYSTEM_PYTHON = "/usr/bin/python3"
MODULE = os.path.join(REPO_ROOT, "build", "ngx_http_ubt_module.so")
CHECK_SCRIPT = os.path.join(REPO_ROOT, "redis", "check.lua")
WRK_SCRIPT = os.path.join(BENCH_DIR, "signed.lua")

START_TIMEOUT_S = 10
STOP_TIMEOUT_S = 10

# When run as root, nginx switches its workers to this user and group,
# which must reach the temporary directory.
WORKER_USER = "nobody"
WORKER_GROUP = "nogroup"

# The plan of every benchmark user: far above any rate one gateway core
# reaches, so that nothing is limited, while every request still runs the
# GCRA step of redis/check.lua. The same values go to setup D's limit_req.
PLAN_NAME = "BENCH"
PLAN_RATE_PER_S = 100000
PLAN_BURST = 10000

# Header lines are signed before a run starts, so a line may be as old as
# the run when it is sent. The module's default skew is 300 s.
TIME_SKEW_S = 3600

PATH = "/api/v1/bench"

# Setup E is setup B's template with this location. With a location of
# ubt_metrics, nginx creates the counters' shared memory zone and the worker
# counts every request it checks. B gets the comment instead and counts
# nothing.
METRICS_PATH = "/metrics"
METRICS_LOCATION = "location = %s { ubt_metrics; }" % METRICS_PATH
NO_METRICS_LOCATION = "# no location of ubt_metrics, so this nginx counts nothing"


class BenchError(Exception):
    """A failure that ends the benchmark with a message and no traceback."""


def info(message):
    print("bench: " + message, flush=True)


# ----- processes -------------------------------------------------------------

def parent_pid(pid):
    """Return the parent PID of a process, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii") as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def child_pids(pid):
    """Return the PIDs of the live children of a process."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and parent_pid(int(entry)) == pid:
            children.append(int(entry))
    return sorted(children)


def cpu_ticks(pid):
    """Return utime + stime of a process from /proc/<pid>/stat, in clock ticks."""
    with open("/proc/%d/stat" % pid, encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 of stat, the state, so utime (field 14) and
    # stime (field 15) are fields[11] and fields[12]
    return int(fields[11]) + int(fields[12])


TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    """Return VmRSS of a process in KiB."""
    with open("/proc/%d/status" % pid, encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError("no VmRSS in /proc/%d/status" % pid)


def cpu_times():
    """Return {cpu number: (busy ticks, total ticks)} from /proc/stat."""
    times = {}
    with open("/proc/stat", encoding="ascii") as f:
        for line in f:
            match = re.match(r"cpu(\d+) (.*)", line)
            if match:
                values = [int(v) for v in match.group(2).split()]
                idle = values[3] + values[4]
                total = sum(values[:8])
                times[int(match.group(1))] = (total - idle, total)
    return times


def port_is_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        return False
    finally:
        s.close()
    return True


def free_ports(first, count):
    """Return count free ports of 127.0.0.1, the first ones from first up."""
    ports = []
    port = first
    while len(ports) < count:
        if port > 65535:
            raise BenchError("no %d free ports on 127.0.0.1 from %d up; set BENCH_PORT lower"
                             % (count, first))
        if port_is_free(port):
            ports.append(port)
        port += 1
    return ports


class Service:
    """One server started by the benchmark and stopped by its PID."""

    def __init__(self, name, argv, log_path, cpu=None, stop_signal=signal.SIGTERM):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.cpu = cpu
        self.stop_signal = stop_signal
        self.process = None

    @property
    def pid(self):
        return self.process.pid

    def start(self):
        argv = list(self.argv)
        if self.cpu is not None:
            # taskset execs the command, so the PID is the server's own
            argv = ["taskset", "-c", str(self.cpu)] + argv
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def running(self):
        return self.process is not None and self.process.poll() is None

    def stop(self):
        """Stop the server with its stop signal, then SIGKILL; return True if it was killed."""
        if not self.running():
            return False
        children = child_pids(self.pid)
        self.process.send_signal(self.stop_signal)
        try:
            self.process.wait(STOP_TIMEOUT_S)
            return False
        except subprocess.TimeoutExpired:
            pass
        info("%s (pid %d) did not stop within %ds; sending SIGKILL"
             % (self.name, self.pid, STOP_TIMEOUT_S))
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.kill()
        self.process.wait()
        return True


class Nginx(Service):
    """An nginx master in the foreground with one worker."""

    def __init__(self, name, conf_path, log_path, cpu=None, prefix=None):
        directives = "daemon off; master_process on;"
        if os.getuid() == 0:
            directives += " user %s %s;" % (WORKER_USER, WORKER_GROUP)
        self.directives = directives
        self.conf_path = conf_path
        argv = [NGINX, "-p", prefix or os.path.dirname(conf_path) + "/",
                "-c", conf_path, "-g", directives]
        super().__init__(name, argv, log_path, cpu, signal.SIGQUIT)

    def test_config(self):
        result = subprocess.run(self.argv + ["-t", "-q"], capture_output=True, text=True)
        if result.returncode != 0:
            raise BenchError("nginx rejected %s:\n%s" % (self.conf_path, result.stderr.strip()))

    def worker_pid(self):
        workers = child_pids(self.pid)
        if len(workers) != 1:
            raise BenchError("%s: expected one nginx worker under pid %d, found %s"
                             % (self.name, self.pid, workers))
        return workers[0]


def wait_until(check, failure, timeout=START_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        if time.monotonic() >= deadline:
            raise BenchError("%s within %ds" % (failure, timeout))
        time.sleep(0.1)


def http_request(port, path, headers=None, method="GET", body=None, timeout=5):
    """Send one request to 127.0.0.1:port; return (status, body bytes)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def parse_metrics(text):
    """Return {series: value} of a Prometheus text exposition.

    A series is the name with its labels as the module writes them, for
    example ubt_requests_total{outcome="accepted",reason="OK"}.
    """
    series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            series[name] = float(value)
        except ValueError:
            raise BenchError("invalid metrics line %r" % line) from None
    return series


# ----- Redis -----------------------------------------------------------------

def redis_command(port, *args):
    """Send one command to the Redis on 127.0.0.1:port; return a bulk or status reply as str."""
    request = b"*%d\r\n" % len(args)
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        request += b"$%d\r\n%s\r\n" % (len(data), data)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        reader = s.makefile("rb")
        line = reader.readline()
        if line.startswith(b"$"):
            length = int(line[1:])
            return reader.read(length + 2)[:-2].decode()
        if line.startswith(b"-"):
            raise BenchError("redis error: %s" % line[1:].decode().strip())
        return line[1:].decode().strip()


def redis_commandstats(port):
    """Return {command: calls} from INFO commandstats."""
    stats = {}
    info_text = redis_command(port, "INFO", "commandstats")
    for match in re.finditer(r"cmdstat_(\S+?):calls=(\d+)", info_text):
        stats[match.group(1)] = int(match.group(2))
    return stats


# ----- keys and signed requests ----------------------------------------------

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
KEY_CHECKSUM_LEN = 6


def key_checksum(body):
    """Return the 6 base62 digits of the CRC32 of a key's first 52 characters."""
    crc = zlib.crc32(body.encode("ascii"))
    digits = ""
    for _ in range(KEY_CHECKSUM_LEN):
        digits = BASE62[crc % 62] + digits
        crc //= 62
    return digits


def unknown_key():
    """Return a well-formed live key, checksum included, that was never issued."""
    body = "ubt_live_" + secrets.token_hex(21) + "Z"
    return body + key_checksum(body)


def provision_keys(port, token, user_ids):
    """Issue a key for each user through B's provisioning endpoint; return [(user_id, key)]."""
    keys = []
    for user_id in user_ids:
        body = json.dumps({"user_id": user_id}).encode()
        status, reply = http_request(port, "/provision", method="POST", body=body, headers={
            "X-UBT-PROVISION": token, "Content-Type": "application/json"})
        if status != 200:
            raise BenchError("provisioning user %s got HTTP %d: %s"
                             % (user_id, status, reply[:200]))
        keys.append((user_id, json.loads(reply)["api_key"]))
    return keys


class Signer:
    """Writes files of signed header sets, each with nonces no other file has."""

    def __init__(self, secret, keys):
        self.base = hmac.new(secret, digestmod=hashlib.sha256)
        self.keys = keys
        self.files = 0

    def headers(self, user_id, key, ts, nonce):
        mac = self.base.copy()
        mac.update(("%d.%s.%s" % (ts, user_id, nonce)).encode())
        return {"X-UBT-API-KEY": key, "X-UBT-USER-ID": user_id, "X-UBT-TS": str(ts),
                "X-UBT-NONCE": nonce, "X-UBT-SIGN": mac.hexdigest()}

    def write(self, path, count):
        """Write count lines "<key> <user_id> <ts> <nonce> <sign>", the users in turn."""
        self.files += 1
        # the file's number keeps nonces unique across the whole run, as
        # setups B and C share one Redis
        prefix = "f%d-" % self.files
        ts = time.time_ns() // 1000000
        users = len(self.keys)
        with open(path, "w", encoding="ascii") as f:
            for i in range(count):
                user_id, key = self.keys[i % users]
                nonce = "%s%08x" % (prefix, i)
                mac = self.base.copy()
                mac.update(("%d.%s.%s" % (ts, user_id, nonce)).encode())
                f.write("%s %s %d %s %s\n" % (key, user_id, ts, nonce, mac.hexdigest()))
        return path

    def fresh(self, index=0):
        """Return the headers of one request with a nonce no file has."""
        user_id, key = self.keys[index % len(self.keys)]
        nonce = "single-%s" % secrets.token_hex(8)
        return self.headers(user_id, key, time.time_ns() // 1000000, nonce)


# ----- the environment -------------------------------------------------------

def render(template, output, values):
    with open(os.path.join(CONF_DIR, template), encoding="utf-8") as f:
        text = f.read()
    for name, value in values.items():
        text = text.replace("@%s@" % name, str(value))
    left = sorted(set(re.findall(r"@[A-Z_]+@", text)))
    if left:
        raise BenchError("%s has unknown placeholders %s" % (template, ", ".join(left)))
    with open(output, "w", encoding="utf-8") as f:
        f.write("# Generated by bench/run from bench/conf/%s.\n" % template)
        f.write(text)


def check_tools(need_aiohttp=True):
    for tool in (NGINX, "wrk", "redis-server", "taskset", SYSTEM_PYTHON):
        if shutil.which(tool) is None:
            raise BenchError("%s not found; run util/install-deps bench" % tool)
    if not os.path.isfile(MODULE):
        raise BenchError("module %s not found; run make build first" % MODULE)
    if need_aiohttp:
        result = subprocess.run([SYSTEM_PYTHON, "-c", "import aiohttp, redis.asyncio"],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise BenchError("%s cannot import aiohttp and redis.asyncio; install python3-aiohttp "
                             "and python3-redis (util/install-deps bench)" % SYSTEM_PYTHON)


class Environment:
    """The temporary directory, its secrets and the servers started in it."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ubt-bench-")
        if os.getuid() == 0:
            # the nginx workers run as WORKER_USER and need to reach it
            shutil.chown(self.dir, group=WORKER_GROUP)
            os.chmod(self.dir, 0o750)
        self.services = []
        self.signing_secret = secrets.token_hex(32).encode()
        self.provision_token = secrets.token_hex(32)
        self.write_private("signing.secret", self.signing_secret.decode() + "\n")
        self.write_private("provision.secret", self.provision_token + "\n")

    def path(self, name):
        return os.path.join(self.dir, name)

    def write_private(self, name, text):
        fd = os.open(self.path(name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text)

    def start(self, service, ready, what, timeout=START_TIMEOUT_S):
        self.services.append(service)
        service.start()

        def check():
            if not service.running():
                raise BenchError("%s exited with status %s; see %s"
                                 % (service.name, service.process.returncode, service.log_path))
            return ready()

        try:
            wait_until(check, "%s did not answer" % service.name, timeout)
        except BenchError:
            show_log_tail(service.log_path)
            raise
        info("started %s (pid %d) %s" % (service.name, service.pid, what))
        return service

    def start_redis(self, port, cpu):
        conf = self.path("redis.conf")
        with open(conf, "w", encoding="ascii") as f:
            f.write("# Generated by bench/run: a Redis on loopback, without persistence.\n"
                    "bind 127.0.0.1\nport %d\nprotected-mode yes\nsave \"\"\n"
                    "appendonly no\ndaemonize no\ndir %s\n" % (port, self.dir))
        service = Service("redis-server", ["redis-server", conf], self.path("redis.log"), cpu)
        return self.start(service, lambda: redis_command(port, "PING") == "PONG",
                          "on 127.0.0.1:%d" % port)

    def start_nginx(self, name, template, values, cpu):
        conf = self.path(name + ".conf")
        render(template, conf, dict(values, DIR=self.dir, NAME=name))
        service = Nginx(name, conf, self.path(name + ".log"), cpu, self.dir + "/")
        service.test_config()
        port = values["PORT"]
        return self.start(service, lambda: service_answers(service, port),
                          "on 127.0.0.1:%d" % port)

    def stop(self):
        """Stop every server, the last started first."""
        for service in reversed(self.services):
            if service.running():
                service.stop()
                info("stopped %s (pid %d)" % (service.name, service.pid))
        self.services = []

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def service_answers(service, port):
    """Return True once the port responds to HTTP and, for nginx, its worker runs."""
    if isinstance(service, Nginx) and len(child_pids(service.pid)) != 1:
        return False
    http_request(port, "/", timeout=1)
    return True


def show_log_tail(path, lines=15):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            tail = f.readlines()[-lines:]
    except OSError:
        return
    if tail:
        sys.stderr.write("--- last lines of %s:\n%s---\n" % (path, "".join(tail)))


def install_signal_handlers():
    """Turn SIGTERM and SIGHUP into SystemExit, so that finally blocks stop the servers."""
    def handler(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


# ----- wrk -------------------------------------------------------------------

def run_wrk(port, lines_file, seconds, connections, cpu, option=None, on_start=None):
    """Run wrk with bench/signed.lua; return its bench-result dict and the command line.

    on_start(process), when given, runs while wrk runs. It may end wrk
    early with SIGINT, and wrk then still reports what it sent.
    """
    argv = ["wrk", "-t1", "-c%d" % connections, "-d%ds" % seconds, "--timeout", "5s",
            "-s", WRK_SCRIPT, "http://127.0.0.1:%d%s" % (port, PATH), "--", lines_file]
    if option is not None:
        argv.append(str(option))
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu)] + argv
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        if on_start is not None:
            on_start(process)
        # wrk loads the lines file before its timer starts; a large file
        # takes seconds
        stdout, stderr = process.communicate(timeout=seconds + 120)
    except BaseException:
        process.kill()
        process.wait()
        raise
    for line in stdout.splitlines():
        if line.startswith("bench-result "):
            return json.loads(line[len("bench-result "):]), argv
    raise BenchError("wrk printed no result (exit status %d):\n%s%s"
                     % (process.returncode, stdout, stderr))
