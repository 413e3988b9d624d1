#!/usr/bin/python3
"""Auth service for setup C of bench/run: nginx auth_request in front of it.

Checks a signed request as ngx_http_ubt_module does (docs/protocol.md).
Without Redis it checks for duplicate credential headers, the key's format
and checksum, the form of the timestamp, nonce, signature and user id, the
timestamp's skew and the HMAC-SHA256 signature, compared in constant time.
Then it runs the module's script, redis/check.lua, with the same keys and
arguments, which checks the key's digest, the user's status, the nonce
(SET NX PX) and the GCRA rate limit. A request without X-UBT-USER-ID
costs one more round trip, a GET of ubt:kd:<digest>, because this service
keeps no cache of it.

Replies 200 with X-UBT-User-Id, X-UBT-Plan, X-UBT-Issued-Id and
X-UBT-Key-Env, or 401 or 403 with the reason in X-UBT-Reason: nginx's
auth_request passes on only those two, so a rate-limited request gets 403
here, not 429. A Redis failure gives 500.

Needs Debian's python3-aiohttp and python3-redis; run it with
/usr/bin/python3. Binds 127.0.0.1 only.
"""

import argparse
import hashlib
import hmac
import re
import sys
import time

from aiohttp import web
import redis.asyncio
import redis.exceptions

from ubtbench import KEY_CHECKSUM_LEN, key_checksum

LISTEN_HOST = "127.0.0.1"

KEY_PATTERN = re.compile(r"ubt_(live|test)_[0-9A-Za-z]{49}\Z")
LAST_SEEN_INTERVAL_MS = 10000
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]+\Z")
TS_PATTERN = re.compile(r"[0-9]{1,15}\Z")
SIGN_PATTERN = re.compile(r"[0-9A-Fa-f]{64}\Z")

CREDENTIAL_HEADERS = ("X-UBT-API-KEY", "X-UBT-LIVE-API-KEY", "X-UBT-USER-ID",
                      "X-UBT-TS", "X-UBT-NONCE", "X-UBT-SIGN")

# status of each rejection that redis/check.lua returns
SCRIPT_REJECTIONS = {
    "UNKNOWN_KEY": 401,
    "REVOKED_KEY": 401,
    "REPLAYED_NONCE": 401,
    "DISCONNECTED": 403,
    "BANNED": 403,
    "RATE_LIMIT": 403,
}


def reject(status, reason):
    return web.Response(status=status, headers={"X-UBT-Reason": reason})


class Checker:
    def __init__(self, args, secret, script):
        self.secret = secret
        self.script = script
        self.script_sha = hashlib.sha1(script).hexdigest()
        self.skew_ms = args.time_skew * 1000
        self.nonce_ttl_ms = args.nonce_ttl * 1000
        self.default_plan = args.default_plan
        self.plan_args = []
        for name, spec in args.plan:
            self.plan_args += [name, spec]
        self.redis = redis.asyncio.Redis(host=LISTEN_HOST, port=args.redis_port)
        self.redis_failures = 0
        self.last_failure_log = float("-inf")

    def header(self, request, name):
        """Return the header's one value, None when absent, or False when repeated."""
        values = request.headers.getall(name, [])
        if len(values) > 1:
            return False
        return values[0] if values else None

    async def handle(self, request):
        headers = {}
        for name in CREDENTIAL_HEADERS:
            value = self.header(request, name)
            if value is False:
                return reject(401, "DUPLICATE_HEADER")
            headers[name] = value

        key = headers["X-UBT-API-KEY"]
        if key is None:
            key = headers["X-UBT-LIVE-API-KEY"]
        elif headers["X-UBT-LIVE-API-KEY"] is not None:
            return reject(401, "DUPLICATE_HEADER")
        if key is None:
            return reject(401, "MISSING_KEY")
        match = KEY_PATTERN.match(key)
        if not match or key_checksum(key[:-KEY_CHECKSUM_LEN]) != key[-KEY_CHECKSUM_LEN:]:
            return reject(401, "MALFORMED_KEY")
        if match.group(1) != "live":
            return reject(401, "TEST_KEY_NOT_ALLOWED")

        ts = headers["X-UBT-TS"]
        nonce = headers["X-UBT-NONCE"]
        sign = headers["X-UBT-SIGN"]
        user_id = headers["X-UBT-USER-ID"]
        if ts is None or nonce is None or sign is None:
            return reject(401, "MISSING_SIGNATURE")
        if (not TS_PATTERN.match(ts) or not SIGN_PATTERN.match(sign)
                or not 8 <= len(nonce) <= 64 or not TOKEN_PATTERN.match(nonce)
                or (user_id is not None
                    and (len(user_id) > 64 or not TOKEN_PATTERN.match(user_id)))):
            return reject(401, "MALFORMED_HEADER")

        if abs(time.time_ns() // 1000000 - int(ts)) > self.skew_ms:
            return reject(401, "STALE_TIMESTAMP")

        digest = hashlib.sha256(key.encode("ascii")).hexdigest()

        try:
            if user_id is None:
                found = await self.redis.get("ubt:kd:" + digest)
                if found is None:
                    return reject(401, "UNKNOWN_KEY")
                user_id = found.decode()

            message = "%s.%s.%s" % (ts, user_id, nonce)
            expected = hmac.new(self.secret, message.encode("ascii"),
                                hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, sign.lower()):
                return reject(401, "BAD_SIGNATURE")

            reply = await self.run_check(user_id, nonce, digest)
        except redis.exceptions.RedisError as e:
            self.log_redis_failure(e)
            return web.Response(status=500)

        # one string of fields separated by newlines, as the module reads it
        fields = reply.decode().split("\n")
        verdict = fields[0]
        if verdict != "OK":
            return reject(SCRIPT_REJECTIONS.get(verdict, 403), verdict)

        return web.Response(status=200, headers={
            "X-UBT-User-Id": user_id,
            "X-UBT-Plan": fields[1],
            "X-UBT-Issued-Id": fields[2],
            "X-UBT-Key-Env": fields[3],
        })

    def log_redis_failure(self, error):
        """Log a Redis failure, at most once a second, with the count since the last line."""
        self.redis_failures += 1
        now = time.monotonic()
        if now - self.last_failure_log >= 1:
            print("authsvc: redis failed (%d failures since the last line): %s"
                  % (self.redis_failures, error), file=sys.stderr, flush=True)
            self.redis_failures = 0
            self.last_failure_log = now

    async def run_check(self, user_id, nonce, digest):
        """Run redis/check.lua with the keys and arguments the module passes."""
        record = "ubt:{u:%s}" % user_id
        keys = [record, record + ":revoked", "%s:n:%s" % (record, nonce),
                record + ":rl"]
        # no telemetry: the benchmark's requests send none; last_seen at
        # most every 10 s, the module's default ubt_last_seen_interval
        argv = [digest, self.nonce_ttl_ms, LAST_SEEN_INTERVAL_MS,
                self.default_plan,
                len(self.plan_args) // 2] + self.plan_args
        try:
            return await self.redis.evalsha(self.script_sha, len(keys),
                                            *keys, *argv)
        except redis.exceptions.NoScriptError:
            return await self.redis.eval(self.script, len(keys), *keys, *argv)

    async def load_script(self, app):
        await self.redis.script_load(self.script)

    async def close(self, app):
        await self.redis.close()


async def healthz(request):
    return web.Response(status=200, text="ok\n")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True,
                        help="TCP port to listen on at 127.0.0.1")
    parser.add_argument("--redis-port", type=int, required=True,
                        help="port of the Redis on 127.0.0.1")
    parser.add_argument("--signing-secret-file", required=True,
                        help="file with the signing secret; trailing white space is ignored")
    parser.add_argument("--script", required=True,
                        help="path of redis/check.lua")
    parser.add_argument("--time-skew", type=int, default=300,
                        help="allowed skew of X-UBT-TS, in seconds (default 300)")
    parser.add_argument("--nonce-ttl", type=int,
                        help="nonce lifetime in seconds (default twice --time-skew)")
    parser.add_argument("--default-plan", default="FREE",
                        help="plan of a user who has none (default FREE)")
    parser.add_argument("--plan", nargs=2, action="append", default=[],
                        metavar=("NAME", "SPEC"),
                        help='a plan as the module passes it: '
                             '"<count> <period ms> <burst>" or "unlimited"')
    args = parser.parse_args(argv)
    if args.nonce_ttl is None:
        args.nonce_ttl = 2 * args.time_skew
    return args


def main(argv=None):
    args = parse_args(argv)

    with open(args.signing_secret_file, "rb") as f:
        secret = f.read().rstrip()
    with open(args.script, "rb") as f:
        script = f.read()

    checker = Checker(args, secret, script)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_route("*", "/{tail:.*}", checker.handle)
    app.on_startup.append(checker.load_script)
    app.on_cleanup.append(checker.close)

    print("authsvc: listening on http://%s:%d" % (LISTEN_HOST, args.port),
          file=sys.stderr, flush=True)
    web.run_app(app, host=LISTEN_HOST, port=args.port, access_log=None,
                print=None)
    print("authsvc: stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
