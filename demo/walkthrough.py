#!/usr/bin/env python3
"""Walk through the UBT gateway step by step against a running demo.

Each step sends one or more requests to the gateway, prints what was sent
and what came back, and checks the reply against the expected outcome.
The steps cover provisioning, signed requests and their rejections, the
control endpoints the userbot_auth client calls, and the operator's admin
API: the user record, ban, reconnect, a leaked key and the audit trail.
API keys, signatures and secrets are never printed in full.
Exit status: 0 if every step passed, 1 if any failed, 2 on a usage error.
Standard library only.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import os
import secrets
import sys
import tempfile
import textwrap
import time
import urllib.parse

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DEMO_USER_ID = "123456789"
ECHO_PATH = "/api/v1/echo"
HEALTH_PATH = "/api/v1/create/health-ubt"
PROVISION_PATH = "/api/v1/create/provision/issue-key"
CHECK_UPDATE_PATH = "/api/v1/create/check-update"
LOG_UPDATE_PATH = "/api/v1/create/log-update"
ADMIN_PREFIX = "/ubt/admin/"

# The user id that the leaked-key step claims with the demo user's key.
LEAK_CLAIMED_USER_ID = "987654321"

# Telemetry that the log-update step sends. The gateway stores the phone
# number masked to its "+", first two and last three digits.
TELEMETRY = {
    "version": "1.0.11",
    "platform": "linux",
    "device": "demo",
    "system": "Debian 12",
    "phone_number": "+15551234234",
}
MASKED_PHONE_NUMBER = "+15***234"

# Old enough to fall outside the gateway's default 300 s time skew.
STALE_AGE_MS = 10 * 60 * 1000
REQUEST_TIMEOUT_S = 10

KEY_PREFIXES = ("ubt_live_", "ubt_test_")

# Known-answer vectors for sign(), computed independently with
#   printf '%s' '<ts>.<user_id>.<nonce>' | openssl dgst -sha256 -hmac '<secret>'
# (OpenSSL 3.0).
SIGN_VECTORS = [
    (b"demo-signing-secret", 1700000000000, "123456789", "nonce_Demo-0001",
     "d3e7c69333f7c2aa40230c0268cb02413b51529f0feb83291d86fcfda1bf28d5"),
    (b"other-secret", 1700000000000, "123456789", "nonce_Demo-0001",
     "160566a9c758421c3ad8b6b8f93c2319ed4acb826b4ea85214506d8c2af2df2e"),
]


def sign(secret, ts, user_id, nonce):
    """Return hex HMAC-SHA256 of "<ts>.<user_id>.<nonce>" keyed with secret (bytes)."""
    message = "%d.%s.%s" % (ts, user_id, nonce)
    return hmac.new(secret, message.encode("ascii"), hashlib.sha256).hexdigest()


def read_secret_file(path):
    """Return the file's bytes without trailing whitespace, as the gateway reads it."""
    with open(path, "rb") as f:
        secret = f.read().rstrip()
    if not secret:
        raise ValueError("secret file %s is empty" % path)
    return secret


def now_ms():
    return int(time.time() * 1000)


def format_ms(ms):
    """Return milliseconds since the Unix epoch as a UTC time, e.g. 2026-12-04 21:31:05.123Z."""
    if not isinstance(ms, int) or isinstance(ms, bool):
        return repr(ms)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def json_strings(value):
    """Yield every string in a JSON value, member names included."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield name
            yield from json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from json_strings(item)
    elif isinstance(value, str):
        yield value


def new_nonce():
    # 18 random bytes give 24 characters of [A-Za-z0-9_-].
    return secrets.token_urlsafe(18)


def shorten_key(key):
    """Return an API key cut to its prefix and four characters, e.g. ubt_live_AbCd…"""
    for prefix in KEY_PREFIXES:
        if key.startswith(prefix):
            return key[:len(prefix) + 4] + "…"
    return key[:4] + "…"


def shorten_signature(signature):
    return signature[:12] + "…"


def mask_secrets(value):
    """Return a copy of a JSON value with API keys and signatures shortened."""
    if isinstance(value, dict):
        masked = {}
        for name, item in value.items():
            if name.lower() == "x-ubt-sign" and isinstance(item, str):
                masked[name] = shorten_signature(item)
            elif name.lower() == "x-ubt-provision":
                masked[name] = "(hidden)"
            else:
                masked[name] = mask_secrets(item)
        return masked
    if isinstance(value, list):
        return [mask_secrets(item) for item in value]
    if isinstance(value, str) and value.startswith(KEY_PREFIXES):
        return shorten_key(value)
    return value


def describe_header(name, value, reveal_key=False):
    """Return a header value as safe to print: keys and signatures shortened."""
    lower = name.lower()
    if lower == "x-ubt-api-key" and not reveal_key:
        return shorten_key(value)
    if lower == "x-ubt-sign":
        return shorten_signature(value)
    if lower == "x-ubt-provision":
        return "(not shown)"
    return value


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            self.json = None

    def header(self, name):
        return self.headers.get(name.lower(), "")

    def field(self, name):
        if isinstance(self.json, dict):
            return self.json.get(name)
        return None

    def describe(self):
        if self.json is not None:
            text = json.dumps(mask_secrets(self.json), ensure_ascii=False)
            return "%d %s" % (self.status, text)
        text = self.body.decode("utf-8", "replace").strip()
        if len(text) > 300:
            text = text[:300] + "…"
        return "%d (not JSON) %r" % (self.status, text)


class TransportError(Exception):
    """The gateway could not be reached or sent no valid HTTP reply."""


class Gateway:
    """Sends requests to the gateway at base_url, one connection per request."""

    def __init__(self, base_url):
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("invalid base URL %r; expected http://HOST:PORT" % base_url)
        self.scheme = parsed.scheme
        self.host = parsed.hostname
        self.port = parsed.port
        self.path_prefix = parsed.path.rstrip("/")

    def request(self, method, path, headers, body=None):
        if self.scheme == "https":
            connection = http.client.HTTPSConnection(self.host, self.port,
                                                     timeout=REQUEST_TIMEOUT_S)
        else:
            connection = http.client.HTTPConnection(self.host, self.port,
                                                    timeout=REQUEST_TIMEOUT_S)
        try:
            connection.request(method, self.path_prefix + path, body=body, headers=headers)
            response = connection.getresponse()
            reply_body = response.read()
            reply_headers = {name.lower(): value for name, value in response.getheaders()}
            return Reply(response.status, reply_headers, reply_body)
        except (OSError, http.client.HTTPException) as e:
            raise TransportError("%s %s://%s:%s%s failed: %s"
                                 % (method, self.scheme, self.host, self.port, path, e)) from e
        finally:
            connection.close()


class Walkthrough:
    def __init__(self, gateway, signing_secret, provision_token, user_id, error_log):
        self.gateway = gateway
        self.signing_secret = signing_secret
        self.provision_token = provision_token
        self.user_id = user_id
        self.error_log = error_log
        self.passed = 0
        self.failed = 0
        self.step_number = 0

        # Filled in by earlier steps for the later ones.
        self.accepted_headers = None
        self.first_key = None
        self.first_issue = None
        self.second_key = None
        self.second_issue = None

    # ----- output -----------------------------------------------------------

    def begin_step(self, title, expectation):
        self.step_number += 1
        print()
        print("[%d] %s" % (self.step_number, title))
        print(textwrap.fill(expectation, width=92, initial_indent="    expect: ",
                            subsequent_indent=" " * 12, break_on_hyphens=False))

    def show_request(self, method, path, headers, body=None, notes=None, reveal_key=False):
        print("    > %s %s" % (method, path))
        for name, value in headers.items():
            shown = describe_header(name, value, reveal_key)
            note = (notes or {}).get(name)
            if note:
                shown += "   (" + note + ")"
            print("      %s: %s" % (name, shown))
        if body is not None:
            print("      body: %s" % body)

    @staticmethod
    def show_reply(reply):
        echoed = reply.field("x_ubt_headers")
        if reply.field("upstream") == "demo" and isinstance(echoed, dict):
            print("    < %d from the demo upstream, which received these X-UBT-* headers:"
                  % reply.status)
            for name in sorted(echoed):
                print("      %s: %s" % (name, describe_header(name, echoed[name])))
        else:
            print("    < %s" % reply.describe())

    def finish_step(self, checks, reply=None, expected_status=None):
        """Count the step and print PASS, or FAIL with each failed check.

        checks is a list of (description, passed) pairs.
        """
        failures = [text for text, ok in checks if not ok]
        if checks and not failures:
            self.passed += 1
            print("    PASS")
            return

        self.failed += 1
        print("    FAIL")
        for text in failures:
            print("      - %s" % text)
        if reply is not None and expected_status is not None and reply.status != expected_status:
            if reply.json is not None:
                body = json.dumps(mask_secrets(reply.json), ensure_ascii=False)
            else:
                body = reply.body.decode("utf-8", "replace").strip()
            print("      unexpected status %d (expected %d); reply body: %s"
                  % (reply.status, expected_status, body))
            print("      hint: see the gateway error log: %s" % self.error_log)

    def fail_not_run(self, reason):
        self.failed += 1
        print("    FAIL (not run: %s)" % reason)

    def fail_transport(self, error):
        self.failed += 1
        print("    < no reply: %s" % error)
        print("    FAIL")
        print("      hint: is the demo up? Start it with demo/ubt-demo up, "
              "then see the gateway error log: %s" % self.error_log)

    # ----- request helpers --------------------------------------------------

    def signed_headers(self, api_key, ts=None, nonce=None, signature=None,
                       user_id=None, send_user_id=True):
        """Return the headers of a request signed for user_id (default: the demo user).

        With send_user_id=False, X-UBT-USER-ID is left out, as the
        userbot_auth client does, and the gateway takes the user from the key.
        """
        user_id = self.user_id if user_id is None else user_id
        ts = now_ms() if ts is None else ts
        nonce = new_nonce() if nonce is None else nonce
        if signature is None:
            signature = sign(self.signing_secret, ts, user_id, nonce)
        headers = {"X-UBT-API-KEY": api_key}
        if send_user_id:
            headers["X-UBT-USER-ID"] = user_id
        headers.update({
            "X-UBT-TS": str(ts),
            "X-UBT-NONCE": nonce,
            "X-UBT-SIGN": signature,
        })
        return headers

    def provision(self, token, token_note="the provisioning token"):
        body = json.dumps({"user_id": int(self.user_id)})
        headers = {
            "X-UBT-PROVISION": token,
            "X-UBT-SCOPE": "PROVISION",
            "Content-Type": "application/json",
        }
        self.show_request("POST", PROVISION_PATH, headers, body,
                          notes={"X-UBT-PROVISION": token_note})
        reply = self.gateway.request("POST", PROVISION_PATH, headers, body.encode("ascii"))
        self.show_reply(reply)
        return reply

    def send(self, method, path, headers, body=None, notes=None, reveal_key=False):
        """Send a request, print it and its reply, and return the Reply.

        body is a str, sent as UTF-8, or None for no body.
        """
        self.show_request(method, path, headers, body, notes=notes, reveal_key=reveal_key)
        encoded = body.encode("utf-8") if body is not None else None
        reply = self.gateway.request(method, path, headers, encoded)
        self.show_reply(reply)
        return reply

    def send_admin(self, method, path, body=None):
        """Send an admin API call as the operator, with the provisioning token."""
        headers = {"X-UBT-PROVISION": self.provision_token}
        if body is not None:
            headers["Content-Type"] = "application/json"
        return self.send(method, path, headers, body,
                         notes={"X-UBT-PROVISION": "the provisioning token"})

    def user_path(self, action=None):
        path = ADMIN_PREFIX + "users/" + self.user_id
        if action:
            path += "/" + action
        return path

    # ----- checks -----------------------------------------------------------

    @staticmethod
    def json_checks(reply):
        content_type = reply.header("Content-Type")
        return [
            ("Content-Type is application/json (got %r)" % content_type,
             content_type.startswith("application/json")),
            ("body is a JSON object", isinstance(reply.json, dict)),
        ]

    def rejection_checks(self, reply, reason):
        checks = [("status is 401 (got %d)" % reply.status, reply.status == 401)]
        checks += self.json_checks(reply)
        checks += [
            ('"ok" is false (got %r)' % reply.field("ok"), reply.field("ok") is False),
            ('"status" is UNAUTHORIZED (got %r)' % reply.field("status"),
             reply.field("status") == "UNAUTHORIZED"),
            ('"reason" is %s (got %r)' % (reason, reply.field("reason")),
             reply.field("reason") == reason),
            ('"request_id" is present', bool(reply.field("request_id"))),
        ]
        return checks

    def forbidden_checks(self, reply, status, reason=None):
        """Return the checks of a 403 reply to a banned or disconnected user."""
        checks = [("status is 403 (got %d)" % reply.status, reply.status == 403)]
        checks += self.json_checks(reply)
        checks += [
            ('"ok" is false (got %r)' % reply.field("ok"), reply.field("ok") is False),
            ('"status" is %s (got %r)' % (status, reply.field("status")),
             reply.field("status") == status),
            ('"request_id" is present', bool(reply.field("request_id"))),
            ("the reply does not come from the upstream", reply.field("upstream") is None),
        ]
        if reason is not None:
            checks.append(('"reason" is %s (got %r)' % (reason, reply.field("reason")),
                           reply.field("reason") == reason))
        return checks

    def admin_action_checks(self, reply, action):
        """Return the checks of a 200 reply to POST /ubt/admin/users/<id>/<action>."""
        checks = [("status is 200 (got %d)" % reply.status, reply.status == 200)]
        checks += self.json_checks(reply)
        checks += [
            ('"ok" is true (got %r)' % reply.field("ok"), reply.field("ok") is True),
            ('"user_id" is "%s" (got %r)' % (self.user_id, reply.field("user_id")),
             reply.field("user_id") == self.user_id),
            ('"action" is %s (got %r)' % (action, reply.field("action")),
             reply.field("action") == action),
        ]
        return checks

    def issue_checks(self, reply):
        checks = [("status is 200 (got %d)" % reply.status, reply.status == 200)]
        checks += self.json_checks(reply)
        api_key = reply.field("api_key")
        checks += [
            ('"ok" is true (got %r)' % reply.field("ok"), reply.field("ok") is True),
            ('"api_key" starts with ubt_live_',
             isinstance(api_key, str) and api_key.startswith("ubt_live_")),
            ('"user_id" is "%s" (got %r)' % (self.user_id, reply.field("user_id")),
             reply.field("user_id") == self.user_id),
            ('"env" is live (got %r)' % reply.field("env"), reply.field("env") == "live"),
            ('"plan" is FREE, the default (got %r)' % reply.field("plan"),
             reply.field("plan") == "FREE"),
            ('"issued_id" is present', bool(reply.field("issued_id"))),
            ("Cache-Control contains no-store (got %r)" % reply.header("Cache-Control"),
             "no-store" in reply.header("Cache-Control")),
        ]
        return checks

    def upstream_checks(self, reply, issue):
        """Check that the upstream saw the identity the gateway set, and no secrets."""
        checks = [("status is 200 (got %d)" % reply.status, reply.status == 200)]
        echoed = reply.field("x_ubt_headers")
        if reply.field("upstream") != "demo" or not isinstance(echoed, dict):
            checks.append(("reply comes from the demo upstream", False))
            return checks

        expected = {
            "x-ubt-user-id": self.user_id,
            "x-ubt-plan": issue.get("plan"),
            "x-ubt-issued-id": issue.get("issued_id"),
            "x-ubt-key-env": issue.get("env"),
        }
        for name, value in expected.items():
            checks.append(("upstream received %s: %s (got %r)"
                           % (name, value, echoed.get(name)),
                           echoed.get(name) == value))
        for name in ("x-ubt-api-key", "x-ubt-sign"):
            checks.append(("%s did not reach the upstream" % name, name not in echoed))
        return checks

    # ----- steps ------------------------------------------------------------

    def step_health(self):
        self.begin_step("Health check: the gateway reports that Redis answers",
                        '200 {"ok":true}')
        reply = self.send("GET", HEALTH_PATH, {})
        checks = [("status is 200 (got %d)" % reply.status, reply.status == 200)]
        checks += self.json_checks(reply)
        checks.append(('"ok" is true (got %r)' % reply.field("ok"), reply.field("ok") is True))
        self.finish_step(checks, reply, 200)

    def step_provision_first(self):
        self.begin_step("Provision an API key for user %s" % self.user_id,
                        "200 with a ubt_live_ key, plan FREE, Cache-Control: no-store")
        reply = self.provision(self.provision_token)
        checks = self.issue_checks(reply)
        if all(ok for _, ok in checks):
            self.first_key = reply.field("api_key")
            self.first_issue = reply.json
            print("    issued key %s (issued_id %s); the gateway shows a key only once"
                  % (shorten_key(self.first_key), self.first_issue["issued_id"]))
        self.finish_step(checks, reply, 200)

    def step_accepted(self):
        self.begin_step("Signed GET %s is accepted and proxied to the upstream" % ECHO_PATH,
                        "200; the upstream receives X-UBT-User-Id, X-UBT-Plan (the real "
                        "plan, not the forged MAX), X-UBT-Issued-Id and X-UBT-Key-Env from "
                        "the gateway, and no X-UBT-API-KEY or X-UBT-SIGN")
        if self.first_key is None:
            self.fail_not_run("step 2 issued no key")
            return
        headers = self.signed_headers(self.first_key)
        # A client may try to raise its own plan. The gateway must replace this.
        headers["X-UBT-Plan"] = "MAX"
        reply = self.send("GET", ECHO_PATH, headers,
                          notes={"X-UBT-Plan": "forged by the client"})
        self.accepted_headers = headers
        self.finish_step(self.upstream_checks(reply, self.first_issue), reply, 200)

    def step_replay(self):
        self.begin_step("Replay of the exact same request is rejected",
                        "401 UNAUTHORIZED, reason REPLAYED_NONCE")
        headers = self.accepted_headers
        if headers is None:
            self.fail_not_run("step 3 sent no request to replay")
            return
        reply = self.send("GET", ECHO_PATH, headers)
        self.finish_step(self.rejection_checks(reply, "REPLAYED_NONCE"), reply, 401)

    def step_stale(self):
        self.begin_step("Correctly signed request with a timestamp 10 minutes old "
                        "is rejected",
                        "401 UNAUTHORIZED, reason STALE_TIMESTAMP, with server_time_ms")
        if self.first_key is None:
            self.fail_not_run("step 2 issued no key")
            return
        sent_at = now_ms()
        headers = self.signed_headers(self.first_key, ts=sent_at - STALE_AGE_MS)
        reply = self.send("GET", ECHO_PATH, headers,
                          notes={"X-UBT-TS": "now minus 600 s"})
        checks = self.rejection_checks(reply, "STALE_TIMESTAMP")
        server_time = reply.field("server_time_ms")
        has_server_time = isinstance(server_time, int) and not isinstance(server_time, bool)
        checks.append(('"server_time_ms" is an integer (got %r)' % server_time,
                       has_server_time))
        if has_server_time:
            print("    server clock minus client clock: %+d ms" % (server_time - sent_at))
        self.finish_step(checks, reply, 401)

    def step_bad_signature(self):
        self.begin_step("Request signed with the wrong secret is rejected",
                        "401 UNAUTHORIZED, reason BAD_SIGNATURE")
        if self.first_key is None:
            self.fail_not_run("step 2 issued no key")
            return
        ts = now_ms()
        nonce = new_nonce()
        wrong_secret = self.signing_secret + b"-wrong"
        signature = sign(wrong_secret, ts, self.user_id, nonce)
        headers = self.signed_headers(self.first_key, ts=ts, nonce=nonce, signature=signature)
        reply = self.send("GET", ECHO_PATH, headers,
                          notes={"X-UBT-SIGN": "signed with a wrong secret"})
        self.finish_step(self.rejection_checks(reply, "BAD_SIGNATURE"), reply, 401)

    def step_malformed_key(self):
        self.begin_step("Request with a malformed API key is rejected",
                        "401 UNAUTHORIZED, reason MALFORMED_KEY")
        # Not a real key, so it is shown whole.
        headers = self.signed_headers("ubt_live_not-a-key")
        reply = self.send("GET", ECHO_PATH, headers, reveal_key=True)
        self.finish_step(self.rejection_checks(reply, "MALFORMED_KEY"), reply, 401)

    def step_rotation(self):
        self.begin_step("Provisioning again for the same user rotates the key",
                        "200 with a new key, and a signed request with it returns 200")
        reply = self.provision(self.provision_token)
        checks = self.issue_checks(reply)
        if not all(ok for _, ok in checks):
            self.finish_step(checks, reply, 200)
            return

        self.second_key = reply.field("api_key")
        self.second_issue = reply.json
        print("    issued key %s (issued_id %s)"
              % (shorten_key(self.second_key), self.second_issue["issued_id"]))
        checks.append(("the new key differs from the first one",
                       self.second_key != self.first_key))

        print("    then a signed request with the new key:")
        echo_reply = self.send("GET", ECHO_PATH, self.signed_headers(self.second_key))
        checks += self.upstream_checks(echo_reply, self.second_issue)
        self.finish_step(checks, echo_reply, 200)

    def step_revoked(self):
        self.begin_step("The first key, freshly signed, is rejected after rotation",
                        "401 UNAUTHORIZED, reason REVOKED_KEY")
        if self.first_key is None or self.second_key is None:
            self.fail_not_run("steps 2 and 8 did not both issue a key")
            return
        headers = self.signed_headers(self.first_key)
        reply = self.send("GET", ECHO_PATH, headers,
                          notes={"X-UBT-API-KEY": "the first key"})
        self.finish_step(self.rejection_checks(reply, "REVOKED_KEY"), reply, 401)

    def step_check_update(self):
        self.begin_step("check-update, signed without X-UBT-USER-ID as the userbot_auth "
                        "client sends it, reports the user's state",
                        '200 {"ok":true,"status":"CONNECTED"} with the user id, plan and '
                        "issued_id of the current key; the gateway finds the user from "
                        "the key")
        if self.second_key is None:
            self.fail_not_run("the rotation step issued no key")
            return
        headers = self.signed_headers(self.second_key, send_user_id=False)
        reply = self.send("POST", CHECK_UPDATE_PATH, headers,
                          notes={"X-UBT-SIGN": "signed for user %s" % self.user_id})
        checks = [("status is 200 (got %d)" % reply.status, reply.status == 200)]
        checks += self.json_checks(reply)
        expected = {
            "ok": True,
            "status": "CONNECTED",
            "user_id": self.user_id,
            "plan": self.second_issue.get("plan"),
            "issued_id": self.second_issue.get("issued_id"),
        }
        for name, value in expected.items():
            checks.append(('"%s" is %s (got %r)' % (name, json.dumps(value), reply.field(name)),
                           reply.field(name) == value))
        self.finish_step(checks, reply, 200)

    def step_log_update(self):
        self.begin_step("log-update stores the telemetry the userbot reports",
                        '200 {"ok":true}')
        if self.second_key is None:
            self.fail_not_run("the rotation step issued no key")
            return
        headers = self.signed_headers(self.second_key, send_user_id=False)
        headers["Content-Type"] = "application/json"
        reply = self.send("POST", LOG_UPDATE_PATH, headers, json.dumps(TELEMETRY))
        checks = [("status is 200 (got %d)" % reply.status, reply.status == 200)]
        checks += self.json_checks(reply)
        checks.append(('"ok" is true (got %r)' % reply.field("ok"), reply.field("ok") is True))
        self.finish_step(checks, reply, 200)

    def step_read_user(self):
        self.begin_step("The operator reads the user record",
                        "200 with status CONNECTED, the plan, the current issued_id, "
                        "last_seen and the telemetry, the phone number only as %s, and "
                        "neither API key nor its digest anywhere" % MASKED_PHONE_NUMBER)
        if self.second_key is None:
            self.fail_not_run("the rotation step issued no key")
            return
        reply = self.send_admin("GET", self.user_path())
        checks = [("status is 200 (got %d)" % reply.status, reply.status == 200)]
        checks += self.json_checks(reply)
        if not isinstance(reply.json, dict):
            self.finish_step(checks, reply, 200)
            return

        record = reply.json
        telemetry = record.get("telemetry")
        if not isinstance(telemetry, dict):
            telemetry = {}
        last_seen = record.get("last_seen")
        print("    status %s, plan %s, issued_id %s, last seen %s"
              % (record.get("status"), record.get("plan"), record.get("issued_id"),
                 format_ms(last_seen)))
        reported = ["%s=%s" % (name, telemetry[name])
                    for name in sorted(telemetry) if telemetry[name] is not None]
        print("    telemetry: %s" % ", ".join(reported))

        checks += [
            ('"ok" is true (got %r)' % record.get("ok"), record.get("ok") is True),
            ('"user_id" is "%s" (got %r)' % (self.user_id, record.get("user_id")),
             record.get("user_id") == self.user_id),
            ('"status" is CONNECTED (got %r)' % record.get("status"),
             record.get("status") == "CONNECTED"),
            ('"plan" is %s (got %r)' % (self.second_issue.get("plan"), record.get("plan")),
             record.get("plan") == self.second_issue.get("plan")),
            ('"issued_id" is the current key\'s %s (got %r)'
             % (self.second_issue.get("issued_id"), record.get("issued_id")),
             record.get("issued_id") == self.second_issue.get("issued_id")),
            ('"last_seen" is a time in milliseconds (got %r)' % last_seen,
             isinstance(last_seen, int) and not isinstance(last_seen, bool) and last_seen > 0),
        ]
        expected_telemetry = dict(TELEMETRY, phone_number=MASKED_PHONE_NUMBER)
        for name, value in expected_telemetry.items():
            checks.append(('telemetry "%s" is %s (got %r)'
                           % (name, json.dumps(value), telemetry.get(name)),
                           telemetry.get(name) == value))

        # No field may contain the full phone number, an API key or a key's digest.
        strings = list(json_strings(record))
        secrets_to_find = {
            "the full phone number": TELEMETRY["phone_number"],
            # "+15551234234" minus the "+15" and "234" that the mask keeps
            "the phone number's hidden digits": TELEMETRY["phone_number"][3:-3],
        }
        for label, key in (("first", self.first_key), ("current", self.second_key)):
            if key is None:
                continue
            digest = hashlib.sha256(key.encode("ascii")).hexdigest()
            secrets_to_find["the %s API key" % label] = key
            secrets_to_find["the SHA-256 digest of the %s API key" % label] = digest
        for label, secret in secrets_to_find.items():
            checks.append(("no field contains %s" % label,
                           not any(secret.lower() in text.lower() for text in strings)))
        self.finish_step(checks, reply, 200)

    def step_ban(self):
        self.begin_step("The operator bans the user, whose signed requests are then "
                        "rejected",
                        '200 for the ban, then 403 {"ok":false,"status":"BANNED"} for a '
                        "correctly signed request with the current key")
        if self.second_key is None:
            self.fail_not_run("the rotation step issued no key")
            return
        reply = self.send_admin("POST", self.user_path("ban"), json.dumps({"reason": "demo"}))
        checks = self.admin_action_checks(reply, "ban")
        if reply.status != 200:
            self.finish_step(checks, reply, 200)
            return

        print("    then a signed request with the current key:")
        echo_reply = self.send("GET", ECHO_PATH, self.signed_headers(self.second_key))
        checks += self.forbidden_checks(echo_reply, "BANNED")
        self.finish_step(checks, echo_reply, 403)

    def step_reconnect(self):
        self.begin_step("The operator reconnects the user, whose signed requests are "
                        "accepted again",
                        "200 for the reconnect, then 200 from the upstream for a signed "
                        "request with the current key")
        if self.second_key is None:
            self.fail_not_run("the rotation step issued no key")
            return
        reply = self.send_admin("POST", self.user_path("reconnect"))
        checks = self.admin_action_checks(reply, "reconnect")
        if reply.status != 200:
            self.finish_step(checks, reply, 200)
            return

        print("    then a signed request with the current key:")
        echo_reply = self.send("GET", ECHO_PATH, self.signed_headers(self.second_key))
        checks += self.upstream_checks(echo_reply, self.second_issue)
        self.finish_step(checks, echo_reply, 200)

    def step_leaked_key(self):
        claimed = LEAK_CLAIMED_USER_ID
        if claimed == self.user_id:
            claimed = str(int(claimed) + 1)
        self.begin_step("A leaked key, presented as another user, disconnects its owner",
                        '403 {"ok":false,"status":"DISCONNECTED","reason":'
                        '"IDENTITY_MISMATCH"} for the current key sent and signed as user '
                        "%s; then 403 DISCONNECTED for the owner's own request; then the "
                        "operator reconnects the owner (200) and the owner's requests "
                        "are accepted again" % claimed)
        if self.second_key is None:
            self.fail_not_run("the rotation step issued no key")
            return

        headers = self.signed_headers(self.second_key, user_id=claimed)
        reply = self.send("GET", ECHO_PATH, headers,
                          notes={"X-UBT-API-KEY": "user %s's current key" % self.user_id,
                                 "X-UBT-USER-ID": "another user",
                                 "X-UBT-SIGN": "signed for user %s" % claimed})
        checks = self.forbidden_checks(reply, "DISCONNECTED", reason="IDENTITY_MISMATCH")
        if reply.status != 403:
            self.finish_step(checks, reply, 403)
            return

        print("    then the owner's own signed request:")
        owner_reply = self.send("GET", ECHO_PATH, self.signed_headers(self.second_key))
        checks += [("owner's request: " + text, ok)
                   for text, ok in self.forbidden_checks(owner_reply, "DISCONNECTED")]
        if owner_reply.status != 403:
            self.finish_step(checks, owner_reply, 403)
            return

        print("    then the operator reconnects the owner:")
        admin_reply = self.send_admin("POST", self.user_path("reconnect"))
        checks += [("reconnect: " + text, ok)
                   for text, ok in self.admin_action_checks(admin_reply, "reconnect")]
        if admin_reply.status != 200:
            self.finish_step(checks, admin_reply, 200)
            return

        print("    and the owner signs a request again:")
        echo_reply = self.send("GET", ECHO_PATH, self.signed_headers(self.second_key))
        checks += [("owner's request after reconnect: " + text, ok)
                   for text, ok in self.upstream_checks(echo_reply, self.second_issue)]
        self.finish_step(checks, echo_reply, 200)

    def step_audit(self):
        self.begin_step("The operator reads the user's audit trail",
                        "200 with the newest entries first, among them ban, reconnect "
                        "and auto_disconnect")
        query = urllib.parse.urlencode({"user_id": self.user_id, "count": 10})
        reply = self.send_admin("GET", ADMIN_PREFIX + "audit?" + query)
        checks = [("status is 200 (got %d)" % reply.status, reply.status == 200)]
        checks += self.json_checks(reply)
        entries = reply.field("entries")
        entries_valid = (isinstance(entries, list)
                         and all(isinstance(entry, dict) for entry in entries))
        checks += [
            ('"ok" is true (got %r)' % reply.field("ok"), reply.field("ok") is True),
            ('"entries" is a list of objects', entries_valid),
        ]
        if not entries_valid:
            self.finish_step(checks, reply, 200)
            return

        print("    %-24s  %-15s  %-15s  %s" % ("time (UTC)", "action", "actor", "reason"))
        for entry in entries:
            print("    %-24s  %-15s  %-15s  %s"
                  % (format_ms(entry.get("time")), entry.get("action"),
                     entry.get("actor"), entry.get("reason") or "-"))

        times = [entry.get("time") for entry in entries]
        actions = [entry.get("action") for entry in entries]
        times_valid = all(isinstance(t, int) and not isinstance(t, bool) for t in times)
        checks.append(("every entry has an integer time", times_valid))
        if times_valid:
            checks.append(("entries are newest first",
                           all(newer >= older for newer, older in zip(times, times[1:]))))
        checks.append(("every entry is for user %s" % self.user_id,
                       all(entry.get("user_id") == self.user_id for entry in entries)))
        for action in ("ban", "reconnect", "auto_disconnect"):
            checks.append(("an entry has action %s" % action, action in actions))
        bans = [entry for entry in entries if entry.get("action") == "ban"]
        if bans:
            checks.append(('the ban entry has reason "demo" (got %r)' % bans[0].get("reason"),
                           bans[0].get("reason") == "demo"))
        self.finish_step(checks, reply, 200)

    def step_wrong_token(self):
        self.begin_step("Provisioning with a wrong provisioning token is rejected",
                        "401 UNAUTHORIZED and no key")
        wrong_token = secrets.token_hex(32)
        reply = self.provision(wrong_token, "a random token, not the real one")
        checks = [("status is 401 (got %d)" % reply.status, reply.status == 401)]
        checks += self.json_checks(reply)
        checks += [
            ('"ok" is false (got %r)' % reply.field("ok"), reply.field("ok") is False),
            ('"status" is UNAUTHORIZED (got %r)' % reply.field("status"),
             reply.field("status") == "UNAUTHORIZED"),
            ("no api_key in the reply", reply.field("api_key") is None),
        ]
        self.finish_step(checks, reply, 401)

    def run(self):
        steps = [
            self.step_health,
            self.step_provision_first,
            self.step_accepted,
            self.step_replay,
            self.step_stale,
            self.step_bad_signature,
            self.step_malformed_key,
            self.step_rotation,
            self.step_revoked,
            self.step_check_update,
            self.step_log_update,
            self.step_read_user,
            self.step_ban,
            self.step_reconnect,
            self.step_leaked_key,
            self.step_audit,
            self.step_wrong_token,
        ]
        for index, step in enumerate(steps):
            try:
                step()
            except TransportError as e:
                self.fail_transport(e)
                # Without a reachable gateway the later steps can only fail the same way.
                not_run = len(steps) - index - 1
                if not_run:
                    self.failed += not_run
                    print()
                    print("steps %d to %d not run: the gateway did not answer"
                          % (index + 2, len(steps)))
                break

        print()
        print("%d passed, %d failed" % (self.passed, self.failed))
        return 0 if self.failed == 0 else 1


def run_self_test():
    """Check sign(), read_secret_file() and shorten_key() against known-answer vectors.

    Returns the exit status: 0 if every check passed.
    """
    failures = 0
    for secret, ts, user_id, nonce, expected in SIGN_VECTORS:
        got = sign(secret, ts, user_id, nonce)
        ok = hmac.compare_digest(got, expected)
        failures += not ok
        print("%s sign(%r, %d, %r, %r) = %s"
              % ("ok  " if ok else "FAIL", secret, ts, user_id, nonce, got))
        if not ok:
            print("     expected %s" % expected)

    # The gateway strips trailing whitespace from the secret file, and so must
    # read_secret_file().
    with tempfile.NamedTemporaryFile("wb", delete=False) as f:
        f.write(b"demo-signing-secret \n\n")
        path = f.name
    try:
        read_back = read_secret_file(path)
    finally:
        os.unlink(path)
    ok = read_back == b"demo-signing-secret"
    failures += not ok
    print("%s read_secret_file strips trailing whitespace (got %r)"
          % ("ok  " if ok else "FAIL", read_back))

    for key, expected in (("ubt_live_AbCdEfGhIjKlMnOp", "ubt_live_AbCd…"),
                          ("ubt_test_0123456789", "ubt_test_0123…")):
        ok = shorten_key(key) == expected
        failures += not ok
        print("%s shorten_key(%r) = %r" % ("ok  " if ok else "FAIL", key, shorten_key(key)))

    checks = len(SIGN_VECTORS) + 3
    print("%d passed, %d failed" % (checks - failures, failures))
    return 0 if failures == 0 else 1


def parse_args(argv):
    run_dir = os.environ.get("UBT_RUN_DIR") or os.path.join(REPO_ROOT, ".run")
    port = os.environ.get("UBT_DEMO_PORT") or "8080"

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:%s" % port,
                        help="gateway URL (default: http://127.0.0.1:$UBT_DEMO_PORT, "
                             "port 8080 if unset; now %(default)s)")
    parser.add_argument("--signing-secret-file",
                        default=os.path.join(run_dir, "signing.secret"),
                        help="file containing the signing secret "
                             "(default: $UBT_RUN_DIR/signing.secret; now %(default)s)")
    parser.add_argument("--provision-token-file",
                        default=os.path.join(run_dir, "provision.secret"),
                        help="file containing the provisioning token "
                             "(default: $UBT_RUN_DIR/provision.secret; now %(default)s)")
    parser.add_argument("--error-log", default=os.path.join(run_dir, "error.log"),
                        help="gateway error log named in failure hints "
                             "(default: $UBT_RUN_DIR/error.log; now %(default)s)")
    parser.add_argument("--user-id", default=DEMO_USER_ID,
                        help="numeric Telegram user id to provision (default: %(default)s)")
    parser.add_argument("--self-test", action="store_true",
                        help="check sign() against known-answer vectors and exit")
    args = parser.parse_args(argv)
    if not args.user_id.isdigit():
        parser.error("--user-id %r is invalid; use a decimal number" % args.user_id)
    return args


def main(argv=None):
    # Keep printing if the terminal cannot show "…".
    sys.stdout.reconfigure(errors="backslashreplace", line_buffering=True)
    args = parse_args(argv)

    if args.self_test:
        return run_self_test()

    try:
        gateway = Gateway(args.base_url)
    except ValueError as e:
        print("walkthrough.py: %s" % e, file=sys.stderr)
        return 2

    try:
        signing_secret = read_secret_file(args.signing_secret_file)
        provision_token = read_secret_file(args.provision_token_file).decode("ascii")
    except (OSError, ValueError) as e:
        print("walkthrough.py: cannot read a secret file: %s; start the demo with "
              "demo/ubt-demo up or pass --signing-secret-file and "
              "--provision-token-file" % e, file=sys.stderr)
        return 2

    print("UBT gateway walk-through against %s" % args.base_url)
    print("  signing secret from     %s" % args.signing_secret_file)
    print("  provisioning token from %s" % args.provision_token_file)
    print("  gateway error log       %s" % args.error_log)

    walkthrough = Walkthrough(gateway, signing_secret, provision_token,
                              args.user_id, args.error_log)
    return walkthrough.run()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        # The reader of stdout went away, e.g. "| head". Exit without a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
