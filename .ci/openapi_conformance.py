#!/usr/bin/env python3
"""Live conformance check: the running server against openapi.yaml.

Starts the already-built binary (default .build/debug/pigeonhole) on a free port
with a temporary data directory, `--hot-threshold 3` (so a 3-member group is a
hot room) and `--push-webhook` pointing at a local receiver (Python http.server)
that fails its first request, drives a realistic session over HTTP (admin
provisioning, direct and group rooms, sends and duplicate sends, long-poll pulls
with cursors, ack, first screen, read markers, unread, history, read receipts and
`receipts` events, hot rooms merged into pulls and conversation pages, membership,
the WebSocket notifier's `ready`/`mail`/`receipts` frames, offline pushes and
`GET /v1/admin/pushes`, edits, recalls and reactions with their `edit`, `delete` and
`reactions` events (normal and hot rooms), erasing a user and its progress, and the
error cases), and checks EVERY response against openapi.yaml.

Then a second, short-lived server with small abuse limits (`--send-rate 1
--send-burst 3 --auth-failures-per-minute 1`) and a webhook that always fails
(`--push-max-attempts 2`) and 1 s edit and recall windows checks the `429
rate_limited` answers (Retry-After and `retry_after_ms`), dead pushes, and
`edit_window_closed` / `recall_window_closed`. The failed-authentication limit is per client
address and everything here comes from 127.0.0.1, so it is triggered last, on that
second server only. `410 cursor_expired` is not reached live (retention runs once a
minute); the Swift tests (RetentionTests) cover it.

Every response is checked:

  - the path and method are documented (unknown ones must be 404 not_found /
    405 method_not_allowed with Allow),
  - the status is listed for the operation,
  - the body matches that status's schema (JSON Schema 2020-12), with undocumented
    fields rejected: every `$ref` to an object schema outside an `allOf` is closed
    with `unevaluatedProperties: false`,
  - an error's `code` is one the response lists in `x-error-codes`,
  - required response headers (WWW-Authenticate, Allow, Retry-After) are present
    and valid,
  - the session's own requests (except deliberate bad ones) match the documented
    parameters and request bodies,
  - every batch the webhook receives matches the `PushBatch` schema.

It also checks the session's expected statuses and a few semantics (long-poll
wake-up, full wait before an unchanged cursor, clamping, idempotency, receipt
counts and coalescing, hot-room merge order and member-event fan-out, stable
conversation pages under concurrent sends, pushes only for members without a live
connection and never for hot rooms, stable push ids across retries, 429 before the
token is looked at, repeated changes answering the same and writing no second event,
each change event after the message it changes and carrying it as it is now, unread
counting messages and never changes, the reaction key limit, an erasure finishing).

Prints `openapi conformance: N passed, M failed` last; exits 1 on any failure.
The servers are always stopped, even on failure or interruption.

Needs PyYAML and jsonschema (both come with openapi-spec-validator).
Uses only the standard library for HTTP.
"""

import argparse
import base64
import copy
import hashlib
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_URI = "urn:pigeonhole:openapi"
POLL_MAX = 3  # --poll-timeout-max for the test server, so waits stay short
HOT_THRESHOLD = 3  # --hot-threshold for the test server: groups of 3 or more are hot rooms
RECEIPTS_WINDOW = 1.2  # a little over the server's 1 s receipts coalescing window
AUTH_FAILURE_BURST = 20  # failed authentications an address may make at once (fixed in the server)


# ---------------------------------------------------------------- the spec

def pointer_escape(s):
    return s.replace("~", "~0").replace("/", "~1")


def resolve_pointer(doc, ref):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def close_object_refs(doc):
    """Closes every `$ref` to an object schema that is not an allOf member, so a
    response field the spec does not list fails validation (the schemas stay open
    for composition in the document itself)."""

    def target_is_open_object(ref):
        if not ref.startswith("#/components/schemas/"):
            return False
        t = resolve_pointer(doc, ref)
        return isinstance(t, dict) and "properties" in t and \
            "additionalProperties" not in t and "unevaluatedProperties" not in t

    def walk(node, in_allof):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not in_allof and target_is_open_object(ref) \
                    and "unevaluatedProperties" not in node:
                node["unevaluatedProperties"] = False
            for k, v in node.items():
                walk(v, k == "allOf")
        elif isinstance(node, list):
            for item in node:
                walk(item, in_allof)

    walk(doc, False)
    return doc


class Spec:
    METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.doc = yaml.safe_load(f)
        strict = close_object_refs(copy.deepcopy(self.doc))
        resource = Resource.from_contents(strict, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(SPEC_URI, resource)
        self.strict = strict
        self.routes = []
        for template, item in self.doc["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template)) + "$"
            self.routes.append((template, re.compile(pattern), item))

    def deref(self, node):
        while isinstance(node, dict) and "$ref" in node:
            node = resolve_pointer(self.doc, node["$ref"])
        return node

    def schema_validator(self, pointer):
        return jsonschema.Draft202012Validator({"$ref": SPEC_URI + "#" + pointer}, registry=self.registry)

    def find(self, method, path):
        """(template, operation, path item) or (template, None, item) or (None, None, None)."""
        for template, rx, item in self.routes:
            if rx.match(path):
                return template, item.get(method.lower()), item
        return None, None, None

    def response_pointer(self, template, method, status):
        """JSON pointer of the response object (following a $ref), or None."""
        op = self.doc["paths"][template][method.lower()]
        responses = op["responses"]
        key = str(status)
        if key not in responses:
            key = str(status)[0] + "XX" if str(status)[0] + "XX" in responses else \
                ("default" if "default" in responses else None)
        if key is None:
            return None
        node = responses[key]
        if "$ref" in node:
            return node["$ref"][1:]
        return "/paths/%s/%s/responses/%s" % (pointer_escape(template), method.lower(), key)

    def parameters(self, template, method):
        item = self.doc["paths"][template]
        params = [self.deref(p) for p in item.get("parameters", [])]
        params += [self.deref(p) for p in item[method.lower()].get("parameters", [])]
        return params


# ---------------------------------------------------------------- checking

class Result:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.lock = threading.Lock()

    def ok(self):
        with self.lock:
            self.passed += 1

    def fail(self, what, problems):
        text = "FAIL %s\n" % what + "".join("     - %s\n" % p for p in problems)
        with self.lock:
            self.failed += 1
            sys.stderr.write(text)
            sys.stderr.flush()


def schema_errors(validator, instance):
    out = []
    for e in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        for sub in explain(e):
            where = "/".join(str(p) for p in sub.absolute_path) or "(root)"
            out.append("at %s: %s" % (where, sub.message[:300]))
    return out


def explain(error):
    """For a oneOf/anyOf failure, the errors of the alternative the instance meant
    (the one whose `type` discriminator matched), instead of "not valid under any"."""
    if not error.context:
        return [error]
    groups = {}
    for sub in error.context:
        groups.setdefault(sub.relative_schema_path[0], []).append(sub)
    for subs in groups.values():
        if not any(list(s.relative_path)[-1:] == ["type"] and s.validator == "const" for s in subs):
            return [x for s in subs for x in explain(s)]
    return [jsonschema.exceptions.best_match(error.context)]


def check_response(spec, method, path, status, headers, raw):
    """All the ways the response can disagree with the spec, as a list of strings."""
    problems = []
    template, op, item = spec.find(method, path)
    body = None
    media = headers.get("content-type", "").split(";")[0].strip().lower()
    if raw and media != "application/json" and op is not None:
        # A non-JSON body (the web client's files) must be one of the media types the
        # response documents; its bytes are not checked further.
        pointer = spec.response_pointer(template, method, status)
        content = (resolve_pointer(spec.doc, "#" + pointer).get("content") or {}) if pointer else {}
        if pointer and media in content:
            raw = b""
            problems += check_headers(spec, resolve_pointer(spec.doc, "#" + pointer), headers)
            return problems
    if raw:
        ctype = headers.get("content-type", "")
        if not ctype.startswith("application/json"):
            problems.append("Content-Type is %r, not application/json" % ctype)
        try:
            body = json.loads(raw)
        except ValueError as e:
            return problems + ["body is not JSON (%s): %r" % (e, raw[:200])]

    def check_error(codes, headers_required=()):
        v = spec.schema_validator("/components/schemas/Error")
        problems.extend(schema_errors(v, body))
        code = (body or {}).get("error", {}).get("code") if isinstance(body, dict) else None
        if codes is not None and code not in codes:
            problems.append("error code %r is not one of %s" % (code, codes))
        for h in headers_required:
            if h.lower() not in headers:
                problems.append("missing header %s" % h)

    if template is None:
        if status != 404:
            problems.append("undocumented path %s answered %d (expected 404 not_found)" % (path, status))
        check_error(["not_found"])
        return problems
    if op is None:
        if status != 405:
            problems.append("undocumented method %s %s answered %d (expected 405)" % (method, template, status))
        check_error(["method_not_allowed"], ["Allow"])
        documented = sorted(m.upper() for m in item if m in Spec.METHODS)
        allow = [m.strip() for m in headers.get("allow", "").split(",")]
        for m in documented:
            if m not in allow:
                problems.append("Allow %r lacks documented method %s" % (headers.get("allow"), m))
        return problems

    pointer = spec.response_pointer(template, method, status)
    if pointer is None:
        return problems + ["status %d is not documented for %s %s" % (status, method, template)]
    response = resolve_pointer(spec.doc, "#" + pointer)
    content = response.get("content")
    if content is None:
        if raw:
            problems.append("status %d documents no body, got %r" % (status, raw[:200]))
    else:
        if body is None:
            problems.append("status %d documents a JSON body, got none" % status)
        else:
            v = spec.schema_validator(pointer + "/content/application~1json/schema")
            problems.extend(schema_errors(v, body))
            codes = response.get("x-error-codes")
            if codes is not None:
                code = body.get("error", {}).get("code") if isinstance(body, dict) else None
                if code not in codes:
                    problems.append("error code %r is not listed for %d (%s)" % (code, status, codes))
    return problems + check_headers(spec, response, headers)


def check_headers(spec, response, headers):
    """The response's documented headers: required ones present, values valid."""
    problems = []
    for name, h in (response.get("headers") or {}).items():
        h = spec.deref(h)
        value = headers.get(name.lower())
        if value is None:
            if h.get("required"):
                problems.append("missing required header %s" % name)
            continue
        schema = h.get("schema", {})
        instance = value
        if schema.get("type") == "integer":
            try:
                instance = int(value)
            except ValueError:
                problems.append("header %s=%r is not an integer" % (name, value))
                continue
        v = jsonschema.Draft202012Validator(schema)
        problems.extend("header %s: %s" % (name, e) for e in schema_errors(v, instance))
    return problems


def check_request(spec, method, path, query, body):
    """Checks that a request the session means to be valid matches the spec."""
    template, op, _ = spec.find(method, path)
    if op is None:
        return ["request %s %s is not documented" % (method, path)]
    problems = []
    params = spec.parameters(template, method)
    _, rx, _ = next(r for r in spec.routes if r[0] == template)
    names = re.findall(r"\{([^}]+)\}", template)
    values = dict(zip(names, rx.match(path).groups()))
    for p in params:
        if p["in"] == "path":
            raw = urllib.parse.unquote(values[p["name"]])
        elif p["in"] == "query":
            if p["name"] not in query:
                if p.get("required"):
                    problems.append("missing required query parameter %s" % p["name"])
                continue
            raw = str(query[p["name"]])
        else:
            continue
        schema = p.get("schema", {})
        instance = raw
        if schema.get("type") == "integer":
            try:
                instance = int(raw)
            except ValueError:
                problems.append("parameter %s=%r is not an integer" % (p["name"], raw))
                continue
        v = jsonschema.Draft202012Validator(schema)
        problems.extend("parameter %s: %s" % (p["name"], e) for e in schema_errors(v, instance))
    known = {p["name"] for p in params if p["in"] == "query"}
    for q in query:
        if q not in known:
            problems.append("query parameter %s is not documented" % q)
    rb = op.get("requestBody")
    if rb is not None:
        rb = spec.deref(rb)
        if body is None:
            if rb.get("required"):
                problems.append("request body is required")
        else:
            pointer = "/paths/%s/%s/requestBody/content/application~1json/schema" % (
                pointer_escape(template), method.lower())
            # The request schemas are validated as written (open: unknown fields are ignored).
            v = jsonschema.Draft202012Validator({"$ref": SPEC_URI + "#" + pointer}, registry=Registry().with_resource(
                SPEC_URI, Resource.from_contents(spec.doc, default_specification=DRAFT202012)))
            problems.extend("request body " + e for e in schema_errors(v, body))
    elif body is not None:
        problems.append("%s %s documents no request body" % (method, template))
    return problems


# ---------------------------------------------------------------- HTTP

class Reply:
    def __init__(self, status, headers, raw, elapsed):
        self.status = status
        self.headers = headers
        self.raw = raw
        self.elapsed = elapsed
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    @property
    def code(self):
        if isinstance(self.json, dict) and isinstance(self.json.get("error"), dict):
            return self.json["error"].get("code")
        return None


class Client:
    def __init__(self, spec, result, port):
        self.spec = spec
        self.result = result
        self.port = port

    def raw_request(self, method, target, headers, payload, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            start = time.monotonic()
            conn.request(method, target, body=payload, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            elapsed = time.monotonic() - start
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            return Reply(resp.status, hdrs, raw, elapsed)
        finally:
            conn.close()

    def call(self, method, path, token=None, body=None, query=None, expect=None, expect_code=None,
             valid_request=True, raw_body=None, content_type="application/json", label=None, timeout=30,
             headers=None):
        query = query or {}
        target = path + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        payload = None
        if raw_body is not None:
            payload = raw_body
        elif body is not None:
            payload = json.dumps(body).encode()
        if payload is not None and content_type:
            headers["Content-Type"] = content_type
        what = label or "%s %s" % (method, target)
        problems = []
        if valid_request:
            problems += check_request(self.spec, method, path, query, body)
        try:
            reply = self.raw_request(method, target, headers, payload, timeout=timeout)
        except (OSError, http.client.HTTPException) as e:
            self.result.fail(what, ["request failed: %r" % e])
            raise SessionError(what)
        problems += check_response(self.spec, method, path, reply.status, reply.headers, reply.raw)
        if expect is not None and reply.status != expect:
            problems.append("expected status %d, got %d: %s" % (expect, reply.status, reply.raw[:300]))
        if expect_code is not None and reply.code != expect_code:
            problems.append("expected error code %s, got %r" % (expect_code, reply.code))
        if problems:
            self.result.fail("%s -> %d" % (what, reply.status), problems)
        else:
            self.result.ok()
        return reply


class SessionError(Exception):
    pass


def require(result, cond, what):
    """A semantic check of the session (not a schema check); counted like one."""
    if cond:
        result.ok()
    else:
        result.fail(what, ["semantic check failed"])
    return cond


# ---------------------------------------------------------------- WebSocket (RFC 6455)

class WebSocketClient:
    """Just enough of a client for /v1/notify: handshake, read text frames, close."""

    def __init__(self, port, token, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET /v1/notify HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n"
                           "Authorization: Bearer %s\r\n\r\n" % (port, key, token)).encode())
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        self.accept_ok = self.headers.get("sec-websocket-accept", "").encode() == expected

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise OSError("connection closed")
        self.buf += chunk

    def _need(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_text(self):
        """The next text message (pings are answered, other control frames skipped)."""
        while True:
            b0, b1 = self._need(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if b1 & 0x80:
                raise OSError("server frames must not be masked")
            if n == 126:
                n = int.from_bytes(self._need(2), "big")
            elif n == 127:
                n = int.from_bytes(self._need(8), "big")
            payload = self._need(n)
            if opcode == 0x1:
                return payload.decode()
            if opcode == 0x8:
                raise OSError("server closed the WebSocket: %r" % payload)
            if opcode == 0x9:
                self._send(0xA, payload)

    def _send(self, opcode, payload):
        mask = os.urandom(4)
        header = bytes([0x80 | opcode, 0x80 | len(payload)])  # short control frames only
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def close(self):
        try:
            self._send(0x8, (1000).to_bytes(2, "big"))
        except OSError:
            pass
        self.sock.close()


def notify_open(c, r, token, label):
    """Opens /v1/notify and checks the upgrade; the WebSocketClient, or None."""
    try:
        ws = WebSocketClient(c.port, token)
    except OSError as e:
        r.fail("%s: GET /v1/notify (WebSocket)" % label, ["handshake failed: %r" % e])
        return None
    problems = check_response(c.spec, "GET", "/v1/notify", ws.status, ws.headers, b"")
    if ws.status != 101:
        problems.append("expected 101, got %d" % ws.status)
    if not ws.accept_ok:
        problems.append("Sec-WebSocket-Accept does not match the key")
    if problems:
        r.fail("%s: GET /v1/notify (upgrade) -> %d" % (label, ws.status), problems)
        ws.close()
        return None
    r.ok()
    return ws


def notify_read(c, r, ws, label, want, timeout=5.0):
    """Reads text frames until one of type `want`, checking each against NotifyMessage.
    Returns the frames read (the last one is `want`), or None on failure."""
    validator = c.spec.schema_validator("/components/schemas/NotifyMessage")
    frames = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            r.fail("%s: notify %s frame" % (label, want), ["none within %.1f s; got %r" % (timeout, frames)])
            return None
        ws.sock.settimeout(left)
        try:
            text = ws.read_text()
            msg = json.loads(text)
        except (OSError, ValueError) as e:
            r.fail("%s: notify %s frame" % (label, want), ["no valid frame: %r (got %r)" % (e, frames)])
            return None
        errs = schema_errors(validator, msg)
        if errs:
            r.fail("%s: notify frame %s" % (label, text), errs)
        else:
            r.ok()
        frames.append(msg)
        if isinstance(msg, dict) and msg.get("type") == want:
            return frames


def check_notify(c, r, token, send, label="notify"):
    """The upgrade, then `ready` first and a `mail` with a new head after `send()`; every
    frame against NotifyMessage."""
    ws = notify_open(c, r, token, label)
    if ws is None:
        return
    try:
        ready = notify_read(c, r, ws, label, "ready")
        if not ready:
            return
        require(r, len(ready) == 1, "%s: ready is the first frame" % label)
        send()
        mail = notify_read(c, r, ws, label, "mail")
        if mail:
            require(r, mail[-1]["cursor"] != ready[-1]["cursor"], "%s: a mail notification carries the new head" % label)
    finally:
        ws.close()


# ---------------------------------------------------------------- the push webhook

class WebhookReceiver:
    """A local push webhook (http.server on a free port): answers `fail_status` to its
    first `fail_first` requests (or to all of them with `always_fail`), then 200, and
    records every request as (path, headers, raw body, status answered)."""

    def __init__(self, fail_first=0, always_fail=False, fail_status=500):
        self.requests = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                with receiver.lock:
                    fail = always_fail or len(receiver.requests) < fail_first
                    status = fail_status if fail else 200
                    receiver.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, raw, status))
                body = b'{"ok":true}' if status == 200 else b'{"error":"try again"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/push" % self.port

    def count(self):
        with self.lock:
            return len(self.requests)

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def wait_for_outbox(c, admin, done, timeout=20.0):
    """Polls GET /v1/admin/pushes (unchecked) until `done(body)`; the body, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            reply = c.raw_request("GET", "/v1/admin/pushes", {"Authorization": "Bearer " + admin}, None)
            if reply.status == 200 and isinstance(reply.json, dict) and done(reply.json):
                return reply.json
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.2)
    return None


def check_push_batches(c, r, hook, path, label):
    """Every request the webhook got, against PushBatch; [(status answered, body)]."""
    validator = c.spec.schema_validator("/components/schemas/PushBatch")
    batches = []
    for i, (got_path, headers, raw, status) in enumerate(hook.snapshot()):
        what = "%s: webhook request %d" % (label, i + 1)
        problems = []
        if got_path != path:
            problems.append("posted to %r, not %r" % (got_path, path))
        if not headers.get("content-type", "").startswith("application/json"):
            problems.append("Content-Type is %r" % headers.get("content-type"))
        try:
            body = json.loads(raw)
        except ValueError as e:
            r.fail(what, problems + ["body is not JSON (%s): %r" % (e, raw[:200])])
            continue
        problems += schema_errors(validator, body)
        if problems:
            r.fail(what, problems)
        else:
            r.ok()
        batches.append((status, body if isinstance(body, dict) else {}))
    return batches


def check_retry_after(r, reply, max_ms, label):
    """A 429's Retry-After is its retry_after_ms in whole seconds, rounded up (at least 1)."""
    err = reply.json.get("error", {}) if isinstance(reply.json, dict) else {}
    ms = err.get("retry_after_ms") if isinstance(err, dict) else None
    header = reply.headers.get("retry-after", "")
    ok = isinstance(ms, int) and 0 < ms <= max_ms and header.isdigit() and int(header) == max(1, -(-ms // 1000))
    require(r, ok, "%s: 0 < retry_after_ms (%r) <= %d and Retry-After (%r) is it in seconds, rounded up"
            % (label, ms, max_ms, header))
    return ms if isinstance(ms, int) and ms > 0 else 1000


# ---------------------------------------------------------------- the session

def session(c, r, admin, hook):
    A = admin

    c.call("GET", "/healthz", expect=200)
    limits = c.call("GET", "/v1/limits", expect=200).json

    # The web client: its page and files (documented media types and headers), 304 on
    # a matching ETag, 404 for an unknown file, gzip like JSON.
    page = c.call("GET", "/", expect=200)
    require(r, page.headers.get("content-type", "").startswith("text/html"), "GET / is text/html")
    for name, media in (("app.js", "text/javascript"), ("pigeonhole-client.js", "text/javascript"),
                        ("app.css", "text/css")):
        f = c.call("GET", "/app/" + name, expect=200)
        require(r, f.headers.get("content-type", "").startswith(media), "/app/%s is %s" % (name, media))
        c.call("GET", "/app/" + name, headers={"If-None-Match": f.headers.get("etag", "")}, expect=304,
               label="GET /app/%s (If-None-Match: its ETag)" % name)
    z = c.call("GET", "/app/pigeonhole-client.js", headers={"Accept-Encoding": "gzip"}, expect=200,
               label="GET /app/pigeonhole-client.js (gzip)")
    require(r, z.headers.get("content-encoding") == "gzip", "the web client's files are gzip-compressed on request")
    c.call("GET", "/app/nope.js", expect=404, expect_code="not_found")
    c.call("POST", "/", raw_body=b"{}", valid_request=False, expect=405, expect_code="method_not_allowed")
    require(r, limits and limits["poll_timeout_max_s"] == POLL_MAX, "limits report --poll-timeout-max")

    # Provisioning.
    for name in ("alice", "bob", "carol"):
        c.call("POST", "/v1/admin/users", A, {"name": name}, expect=201)
    c.call("POST", "/v1/admin/users", A, {"name": "alice"}, expect=409, expect_code="user_exists")
    c.call("POST", "/v1/admin/users", A, {"name": "Not Valid"}, expect=400, expect_code="invalid_request",
           valid_request=False)
    c.call("POST", "/v1/admin/users", None, {"name": "dave"}, expect=401, expect_code="unauthorized")
    c.call("POST", "/v1/admin/users", "pha_wrong", {"name": "dave"}, expect=401, expect_code="unauthorized")
    c.call("POST", "/v1/admin/users", A, raw_body=b"{not json", expect=400, expect_code="invalid_json",
           valid_request=False)

    def device(user, name):
        return c.call("POST", "/v1/admin/users/%s/devices" % user, A, {"name": name}, expect=201).json["token"]

    alice = device("alice", "phone")
    alice_laptop = device("alice", "laptop")
    bob = device("bob", "phone")
    carol = device("carol", "phone")
    c.call("POST", "/v1/admin/users/nobody/devices", A, {"name": "x"}, expect=404, expect_code="user_not_found")
    c.call("GET", "/v1/admin/users/alice/devices", A, expect=200)
    c.call("GET", "/v1/admin/users/nobody/devices", A, expect=404, expect_code="user_not_found")

    me = c.call("GET", "/v1/me", bob, expect=200).json
    require(r, me["user"]["name"] == "bob", "/v1/me names the token's user")
    c.call("GET", "/v1/me", expect=401, expect_code="unauthorized")
    c.call("GET", "/v1/me", "ph_not_a_token", expect=401, expect_code="unauthorized")

    # Rooms.
    d1 = c.call("POST", "/v1/direct/bob", alice, expect=201).json
    d2 = c.call("POST", "/v1/direct/alice", bob, expect=200).json
    require(r, d1["id"] == d2["id"] and d2["peer"] == "alice", "one direct room per pair, peer is the other user")
    direct = d1["id"]
    c.call("POST", "/v1/direct/alice", alice, expect=400, expect_code="invalid_request")
    c.call("POST", "/v1/direct/nobody", alice, expect=404, expect_code="user_not_found")

    group = c.call("POST", "/v1/rooms", alice, {"name": "Team", "members": ["bob"]}, expect=201).json["id"]
    secret = c.call("POST", "/v1/rooms", alice, {"name": "Alice and Bob", "members": ["bob"]}, expect=201).json["id"]
    c.call("POST", "/v1/rooms", alice, {"name": "x", "members": ["nobody"]}, expect=404, expect_code="user_not_found")
    c.call("POST", "/v1/rooms", alice, {"members": ["bob"]}, expect=400, expect_code="invalid_request",
           valid_request=False)
    c.call("GET", "/v1/rooms/%d" % group, bob, expect=200)
    c.call("GET", "/v1/rooms/%d" % direct, bob, expect=200)
    c.call("POST", "/v1/rooms/%d/members" % direct, alice, {"members": ["carol"]}, expect=403,
           expect_code="forbidden")
    c.call("GET", "/v1/rooms/%d" % secret, carol, expect=403, expect_code="not_member")
    c.call("GET", "/v1/rooms/%d/members" % secret, carol, expect=403, expect_code="not_member")
    c.call("GET", "/v1/rooms/999999", carol, expect=404, expect_code="room_not_found")
    c.call("GET", "/v1/rooms/abc", carol, expect=400, expect_code="invalid_request", valid_request=False)

    # Bob's first screen, then a long-poll woken by Alice's send.
    first = c.call("GET", "/v1/conversations", bob, query={"limit": 20, "preview": 3}, expect=200).json
    require(r, len(first["conversations"]) == 3, "bob sees his three rooms")
    cursor0 = first["cursor"]

    parked = {}

    def long_poll():
        parked["reply"] = c.call("GET", "/v1/sync", bob, query={"cursor": cursor0, "timeout": POLL_MAX},
                                 expect=200, label="parked long-poll")

    t = threading.Thread(target=long_poll)
    t.start()
    time.sleep(0.3)
    sent = c.call("POST", "/v1/rooms/%d/messages" % direct, alice,
                  {"client_msg_id": "m-1", "body": {"text": "hi bob"}}, expect=201).json
    require(r, sent["duplicate"] is False and sent["seq"] == 1, "first send: seq 1, not a duplicate")
    t.join(POLL_MAX + 10)
    woke = parked.get("reply")
    require(r, woke is not None and woke.elapsed < POLL_MAX - 0.5 and woke.json and len(woke.json["events"]) == 1,
            "a parked long-poll answers as soon as the send commits")

    dup = c.call("POST", "/v1/rooms/%d/messages" % direct, alice,
                 {"client_msg_id": "m-1", "body": {"text": "hi bob"}}, expect=200).json
    require(r, dup["duplicate"] is True and dup["id"] == sent["id"], "duplicate send returns the original")
    dup2 = c.call("POST", "/v1/rooms/%d/messages" % direct, alice_laptop,
                  {"client_msg_id": "m-1", "body": {"text": "hi bob"}}, expect=200).json
    require(r, dup2["duplicate"] is True, "duplicate from the sender's other device")
    c.call("POST", "/v1/rooms/%d/messages" % direct, alice,
           {"client_msg_id": "m-1", "body": {"text": "changed"}}, expect=409, expect_code="idempotency_conflict")
    c.call("POST", "/v1/rooms/%d/messages" % direct, alice, {"body": "no id"}, expect=400,
           expect_code="invalid_request", valid_request=False)
    c.call("POST", "/v1/rooms/%d/messages" % direct, alice, {"client_msg_id": "has space", "body": "x"},
           expect=400, expect_code="invalid_request", valid_request=False)
    c.call("POST", "/v1/rooms/%d/messages" % direct, alice, {"client_msg_id": "big", "body": "x" * 17000},
           expect=413, expect_code="payload_too_large", valid_request=False)
    c.call("POST", "/v1/rooms/%d/messages" % secret, carol, {"client_msg_id": "c-1", "body": "let me in"},
           expect=403, expect_code="not_member")
    c.call("POST", "/v1/rooms/999999/messages", carol, {"client_msg_id": "c-2", "body": "?"},
           expect=404, expect_code="room_not_found")
    c.call("POST", "/v1/rooms/%d/messages" % direct, alice, raw_body=b"<xml/>", content_type="application/xml",
           expect=415, expect_code="unsupported_media_type", valid_request=False)

    for i in range(5):
        c.call("POST", "/v1/rooms/%d/messages" % group, alice if i % 2 == 0 else bob,
               {"client_msg_id": "g-%d" % i, "body": {"text": "group %d" % i, "n": i}}, expect=201)
    c.call("POST", "/v1/rooms/%d/members" % group, alice, {"members": ["carol", "bob"]}, expect=200)
    again = c.call("POST", "/v1/rooms/%d/members" % group, bob, {"members": ["carol"]}, expect=200).json
    require(r, again["added"] == [], "adding a member twice adds nobody")
    c.call("POST", "/v1/rooms/%d/members" % group, alice, {"members": []}, expect=400,
           expect_code="invalid_request", valid_request=False)
    c.call("POST", "/v1/rooms/%d/messages" % group, carol, {"client_msg_id": "c-hello", "body": "hello all"},
           expect=201)
    c.call("GET", "/v1/rooms/%d/members" % group, carol, expect=200)

    # Sends read what came before them, so Alice's and Bob's group sends moved each
    # other's read markers: the coalesced rest of those `receipts` events is flushed when
    # the window ends. Let it land before paging, so the idle checks below see a quiet stream.
    time.sleep(RECEIPTS_WINDOW + 0.3)

    # Pull Bob's stream in pages with has_more, from the first-screen cursor.
    cursor, events, pages = cursor0, [], 0
    while True:
        page = c.call("GET", "/v1/sync", bob, query={"cursor": cursor, "limit": 2, "timeout": 0}, expect=200).json
        events += page["events"]
        cursor = page["cursor"]
        pages += 1
        if not page["has_more"] or pages > 50:
            break
    kinds = [e["type"] for e in events]
    require(r, pages > 1 and "message" in kinds and "member" in kinds, "paged pull returns messages and member events")
    seqs = [e["message"]["seq"] for e in events if e["type"] == "message" and e["room_id"] == group]
    require(r, seqs == sorted(seqs) and len(seqs) == len(set(seqs)) == 6, "per-room seq order, each message once")

    # Nothing new: the unchanged cursor comes after the full wait; over-max timeouts are clamped.
    idle = c.call("GET", "/v1/sync", bob, query={"cursor": cursor, "timeout": 1}, expect=200)
    require(r, idle.json["events"] == [] and idle.json["cursor"] == cursor and idle.elapsed >= 0.9,
            "an idle long-poll answers the same cursor only after its timeout")
    clamped = c.call("GET", "/v1/sync", bob, query={"cursor": cursor, "timeout": 100000}, expect=200, timeout=60)
    require(r, POLL_MAX - 0.2 <= clamped.elapsed < POLL_MAX + 5, "timeouts above the max are clamped to it")
    now = c.call("GET", "/v1/sync", bob, query={"cursor": cursor, "timeout": 0}, expect=200)
    require(r, now.elapsed < 1.0 and now.json["cursor"] == cursor, "timeout=0 answers at once")

    # Ack, and the cursor errors.
    c.call("POST", "/v1/sync/ack", bob, {"cursor": cursor}, expect=204)
    c.call("POST", "/v1/sync/ack", bob, {"cursor": cursor0}, expect=204)  # older: a no-op
    resumed = c.call("GET", "/v1/sync", bob, query={"timeout": 0}, expect=200).json
    require(r, resumed["cursor"] == cursor, "a pull without a cursor resumes from the acked one")
    c.call("POST", "/v1/sync/ack", bob, {"cursor": "bogus!"}, expect=400, expect_code="invalid_cursor")
    alice_cursor = c.call("GET", "/v1/conversations", alice, expect=200).json["cursor"]
    c.call("POST", "/v1/sync/ack", bob, {"cursor": alice_cursor}, expect=400, expect_code="invalid_cursor")
    c.call("POST", "/v1/sync/ack", bob, {}, expect=400, expect_code="invalid_request", valid_request=False)
    c.call("GET", "/v1/sync", bob, query={"cursor": "not-a-cursor"}, expect=400, expect_code="invalid_cursor")
    c.call("GET", "/v1/sync", bob, query={"cursor": cursor, "limit": 0}, expect=400,
           expect_code="invalid_request", valid_request=False)
    c.call("GET", "/v1/sync", alice_laptop, query={"timeout": 0}, expect=400, expect_code="cursor_required")

    # Long-offline catch-up with per_room_limit: gaps.
    catch = c.call("GET", "/v1/sync", carol, query={"cursor": c.call(
        "GET", "/v1/conversations", carol, expect=200).json["cursor"], "timeout": 0}, expect=200).json
    require(r, catch["events"] == [], "carol is up to date")
    for i in range(4):
        c.call("POST", "/v1/rooms/%d/messages" % group, bob, {"client_msg_id": "late-%d" % i, "body": i},
               expect=201)
    carol_dev2 = device("carol", "tablet")
    start_cursor = catch["cursor"]
    caught = c.call("GET", "/v1/sync", carol_dev2, query={"cursor": start_cursor, "per_room_limit": 2,
                                                         "timeout": 0}, expect=200).json
    gaps = caught.get("gaps", [])
    require(r, len(gaps) == 1 and gaps[0]["room_id"] == group and len(caught["events"]) == 2,
            "per_room_limit keeps the newest messages per room and reports the gap")

    # First screen, paging, unread, read markers.
    p1 = c.call("GET", "/v1/conversations", bob, query={"limit": 1, "preview": 2}, expect=200).json
    seen, token, n = [c_["id"] for c_ in p1["conversations"]], p1.get("next_page"), 0
    while token and n < 10:
        p = c.call("GET", "/v1/conversations", bob, query={"limit": 1, "page": token}, expect=200).json
        seen += [c_["id"] for c_ in p["conversations"]]
        token = p.get("next_page")
        n += 1
    require(r, sorted(seen) == sorted({direct, group, secret}), "conversation pages list every room once")
    c.call("GET", "/v1/conversations", bob, query={"page": "garbage"}, expect=400, expect_code="invalid_request")
    c.call("GET", "/v1/conversations", bob, query={"limit": 101}, expect=400, expect_code="invalid_request",
           valid_request=False)
    unread = c.call("GET", "/v1/unread", bob, expect=200).json
    require(r, unread["total"] > 0, "bob has unread messages")
    c.call("POST", "/v1/rooms/%d/read" % direct, bob, {"seq": 1}, expect=200)
    c.call("POST", "/v1/rooms/%d/read" % direct, bob, {"seq": 0}, expect=200)  # backwards: no-op
    c.call("POST", "/v1/rooms/%d/read" % direct, bob, {"seq": 999}, expect=400, expect_code="seq_out_of_range")
    c.call("POST", "/v1/rooms/%d/read" % direct, bob, {"seq": -1}, expect=400, expect_code="seq_out_of_range",
           valid_request=False)
    c.call("POST", "/v1/rooms/%d/read" % direct, bob, {}, expect=400, expect_code="invalid_request",
           valid_request=False)
    c.call("POST", "/v1/rooms/%d/read" % direct, bob, raw_body=b"", expect=400, expect_code="invalid_json",
           valid_request=False)
    c.call("POST", "/v1/rooms/%d/read" % secret, carol, {"seq": 0}, expect=403, expect_code="not_member")
    g = c.call("GET", "/v1/rooms/%d" % group, bob, expect=200).json
    c.call("POST", "/v1/rooms/%d/read" % group, bob, {"seq": g["last_seq"]}, expect=200)
    after = c.call("GET", "/v1/unread", bob, expect=200).json
    require(r, all(x["room_id"] not in (direct, group) for x in after["rooms"]), "read rooms leave the unread list")
    reads = c.call("GET", "/v1/sync", bob, query={"cursor": cursor, "timeout": 0}, expect=200).json
    require(r, any(e["type"] == "read" for e in reads["events"]), "a read marker puts a read event in the stream")

    # History.
    h1 = c.call("GET", "/v1/rooms/%d/messages" % group, bob, query={"limit": 3}, expect=200).json
    got, before = list(h1["messages"]), h1.get("next_before")
    while before:
        h = c.call("GET", "/v1/rooms/%d/messages" % group, bob, query={"before": before, "limit": 3}, expect=200).json
        got = h["messages"] + got
        before = h.get("next_before")
    require(r, [m["seq"] for m in got] == list(range(1, g["last_seq"] + 1)), "history pages return every message once")
    ch = c.call("GET", "/v1/rooms/%d/messages" % group, carol, expect=200).json
    require(r, all(m["seq"] > 5 for m in ch["messages"]), "a later member sees history only from the join")
    c.call("GET", "/v1/rooms/%d/messages" % group, bob, query={"limit": 101}, expect=400,
           expect_code="invalid_request", valid_request=False)
    c.call("GET", "/v1/rooms/%d/messages" % secret, carol, expect=403, expect_code="not_member")

    # Read receipts: counts from read markers (readers named in small rooms), and the errors.
    rm = c.call("POST", "/v1/rooms/%d/messages" % secret, alice, {"client_msg_id": "r-1", "body": "read me"},
                expect=201).json
    rc = c.call("GET", "/v1/rooms/%d/receipts" % secret, alice, query={"seq": rm["seq"]}, expect=200).json
    require(r, rc["sender"] == "alice" and rc["read_count"] == 0 and rc.get("readers") == [],
            "an unread message has no readers")
    alice_cursor = c.call("GET", "/v1/conversations", alice, expect=200).json["cursor"]
    c.call("POST", "/v1/rooms/%d/read" % secret, bob, {"seq": rm["seq"]}, expect=200)
    rc = c.call("GET", "/v1/rooms/%d/receipts" % secret, bob, query={"seq": rm["seq"]}, expect=200).json
    require(r, rc["read_count"] == 1 and rc.get("readers") == ["bob"], "a moved read marker counts as a receipt")
    time.sleep(RECEIPTS_WINDOW)
    got = c.call("GET", "/v1/sync", alice, query={"cursor": alice_cursor, "timeout": 0, "limit": 1000},
                 expect=200).json
    require(r, [e for e in got["events"] if e["type"] == "receipts"] == [{"type": "receipts", "room_id": secret}],
            "the sender gets a receipts event for the room")
    alice_cursor = got["cursor"]
    last = c.call("GET", "/v1/rooms/%d" % secret, bob, expect=200).json["last_seq"]
    c.call("GET", "/v1/rooms/%d/receipts" % secret, bob, expect=400, expect_code="invalid_request",
           valid_request=False)
    c.call("GET", "/v1/rooms/%d/receipts" % secret, bob, query={"seq": 0}, expect=400,
           expect_code="invalid_request", valid_request=False)
    c.call("GET", "/v1/rooms/%d/receipts" % secret, bob, query={"seq": "x"}, expect=400,
           expect_code="invalid_request", valid_request=False)
    c.call("GET", "/v1/rooms/%d/receipts" % secret, bob, query={"seq": last + 1}, expect=400,
           expect_code="seq_out_of_range")
    c.call("GET", "/v1/rooms/%d/receipts" % group, carol, query={"seq": 1}, expect=400,
           expect_code="seq_out_of_range")  # carol joined the group after seq 5
    c.call("GET", "/v1/rooms/%d/receipts" % secret, carol, query={"seq": 1}, expect=403, expect_code="not_member")
    c.call("GET", "/v1/rooms/999999/receipts", carol, query={"seq": 1}, expect=404, expect_code="room_not_found")
    c.call("GET", "/v1/rooms/%d/receipts" % secret, None, query={"seq": 1}, expect=401, expect_code="unauthorized")
    c.call("GET", "/v1/rooms/abc/receipts", bob, query={"seq": 1}, expect=400, expect_code="invalid_request",
           valid_request=False)

    # Hot rooms (this server runs with --hot-threshold 3). Team turned hot when Carol made it
    # three; Crowd is hot from its creation.
    require(r, c.call("GET", "/v1/rooms/%d" % group, bob, expect=200).json["hot"] is True,
            "a room that reached the threshold is hot")
    require(r, c.call("GET", "/v1/rooms/%d" % secret, bob, expect=200).json["hot"] is False,
            "a two-member group is not hot")
    crowd_room = c.call("POST", "/v1/rooms", alice, {"name": "Crowd", "members": ["bob", "carol"]}, expect=201).json
    require(r, crowd_room["hot"] is True and crowd_room["member_count"] == 3, "a group created at the threshold is hot")
    crowd = crowd_room["id"]
    bob_start = c.call("GET", "/v1/conversations", bob, expect=200).json["cursor"]

    # A parked long-poll wakes for a hot-room message.
    def hot_poll():
        parked["hot"] = c.call("GET", "/v1/sync", bob, query={"cursor": bob_start, "timeout": POLL_MAX},
                               expect=200, label="parked long-poll (hot room)")

    t = threading.Thread(target=hot_poll)
    t.start()
    time.sleep(0.3)
    h1 = c.call("POST", "/v1/rooms/%d/messages" % crowd, alice, {"client_msg_id": "h-1", "body": "hot 1"},
                expect=201).json
    t.join(POLL_MAX + 10)
    woke = parked.get("hot")
    require(r, woke is not None and woke.elapsed < POLL_MAX - 0.5 and woke.json and
            [e.get("message", {}).get("id") for e in woke.json["events"]] == [h1["id"]],
            "a parked long-poll answers as soon as a hot-room message commits")
    hd = c.call("POST", "/v1/rooms/%d/messages" % direct, alice, {"client_msg_id": "h-dm", "body": "between"},
                expect=201).json
    h2 = c.call("POST", "/v1/rooms/%d/messages" % crowd, alice, {"client_msg_id": "h-2", "body": "hot 2"},
                expect=201).json

    # limit=1 paging merges the inbox and the hot room in commit order, each event once.
    cursor_h, merged, pages = bob_start, [], 0
    while pages < 20:
        page = c.call("GET", "/v1/sync", bob, query={"cursor": cursor_h, "limit": 1, "timeout": 0}, expect=200).json
        merged += page["events"]
        cursor_h = page["cursor"]
        pages += 1
        if not page["has_more"]:
            break
    ids = [e["message"]["id"] for e in merged if e["type"] == "message"]
    require(r, ids == [h1["id"], hd["id"], h2["id"]], "hot-room and inbox messages merge in commit order, once each")
    idle = c.call("GET", "/v1/sync", bob, query={"cursor": cursor_h, "timeout": 0}, expect=200).json
    require(r, idle["events"] == [], "nothing after the merged pages")

    # The first screen lists the hot room by its activity, with its unread count.
    screen = c.call("GET", "/v1/conversations", bob, query={"preview": 2}, expect=200).json
    top = screen["conversations"][0]
    require(r, top["id"] == crowd and top["hot"] is True and top["unread"] == 2 and len(top["preview"]) == 2,
            "the hot room is on top with its unread count and preview")
    # Pages stay stable while messages arrive between the page requests.
    bob_rooms = {direct, group, secret, crowd}
    p = c.call("GET", "/v1/conversations", bob, query={"limit": 1, "preview": 0}, expect=200).json
    listed, token, n = [x["id"] for x in p["conversations"]], p.get("next_page"), 0
    while token and n < 10:
        c.call("POST", "/v1/rooms/%d/messages" % (crowd if n % 2 == 0 else direct), alice,
               {"client_msg_id": "pg-%d" % n, "body": n}, expect=201)
        p = c.call("GET", "/v1/conversations", bob, query={"limit": 1, "preview": 0, "page": token}, expect=200).json
        listed += [x["id"] for x in p["conversations"]]
        token = p.get("next_page")
        n += 1
    require(r, sorted(listed) == sorted(bob_rooms), "conversation pages under concurrent sends list each room once")

    # In a hot room, a membership change reaches only the user concerned.
    c.call("POST", "/v1/admin/users", A, {"name": "dave"}, expect=201)
    dave = device("dave", "phone")
    dave_start = c.call("GET", "/v1/conversations", dave, expect=200).json["cursor"]
    bob_before = c.call("GET", "/v1/sync", bob, query={"cursor": cursor_h, "timeout": 0, "limit": 1000},
                        expect=200).json["cursor"]
    c.call("POST", "/v1/rooms/%d/members" % crowd, alice, {"members": ["dave"]}, expect=200)
    h3 = c.call("POST", "/v1/rooms/%d/messages" % crowd, alice, {"client_msg_id": "h-3", "body": "welcome dave"},
                expect=201).json
    dv = c.call("GET", "/v1/sync", dave, query={"cursor": dave_start, "timeout": 0}, expect=200).json
    require(r, [(e["type"], e.get("action")) for e in dv["events"]] == [("member", "added"), ("message", None)]
            and dv["events"][1]["message"]["id"] == h3["id"],
            "the added user gets the member event, then the hot room's messages from the join")
    bv = c.call("GET", "/v1/sync", bob, query={"cursor": bob_before, "timeout": 0, "limit": 1000}, expect=200).json
    require(r, not any(e["type"] == "member" for e in bv["events"]) and
            any(e["type"] == "message" and e["message"]["id"] == h3["id"] for e in bv["events"]),
            "other members of a hot room get its messages but not its member events")

    # The WebSocket head covers hot rooms: a hot-room send is `mail` with a new cursor.
    check_notify(c, r, dave, lambda: c.call("POST", "/v1/rooms/%d/messages" % crowd, alice,
                                            {"client_msg_id": "h-ws", "body": "ping"}, expect=201),
                 label="notify (hot room)")

    # Receipts in the hot room: three readers within a second make at most two receipts events.
    time.sleep(RECEIPTS_WINDOW)
    alice_now = c.call("GET", "/v1/sync", alice, query={"cursor": alice_cursor, "timeout": 0, "limit": 1000},
                       expect=200).json["cursor"]
    seq = c.call("GET", "/v1/rooms/%d" % crowd, alice, expect=200).json["last_seq"]
    for reader in (bob, carol, dave):
        c.call("POST", "/v1/rooms/%d/read" % crowd, reader, {"seq": seq}, expect=200)
    time.sleep(RECEIPTS_WINDOW + 0.3)  # the coalesced rest is flushed when the window ends
    ra = c.call("GET", "/v1/sync", alice, query={"cursor": alice_now, "timeout": 0, "limit": 1000}, expect=200).json
    n_receipts = len([e for e in ra["events"] if e["type"] == "receipts" and e["room_id"] == crowd])
    require(r, 1 <= n_receipts <= 2, "reads within one window are coalesced into at most two receipts events")
    rc = c.call("GET", "/v1/rooms/%d/receipts" % crowd, carol, query={"seq": seq}, expect=200).json
    require(r, rc["read_count"] == 3 and rc.get("readers") == ["bob", "carol", "dave"],
            "receipts count every reader but the sender")

    # Membership changes.
    c.call("DELETE", "/v1/rooms/%d/members/alice" % group, bob, expect=403, expect_code="forbidden")
    c.call("DELETE", "/v1/rooms/%d/members/bob" % direct, alice, expect=403, expect_code="forbidden")
    c.call("DELETE", "/v1/rooms/%d/members/nobody" % group, alice, expect=404, expect_code="user_not_found")
    c.call("DELETE", "/v1/rooms/%d/members/carol" % secret, alice, expect=400, expect_code="invalid_request")
    c.call("DELETE", "/v1/rooms/%d/members/carol" % group, carol, expect=204)
    c.call("GET", "/v1/rooms/%d/messages" % group, carol, expect=403, expect_code="not_member")
    left = c.call("GET", "/v1/sync", carol, query={"cursor": start_cursor, "timeout": 0, "limit": 1000},
                  expect=200).json
    require(r, any(e["type"] == "member" and e.get("action") == "left" for e in left["events"]),
            "the leaver gets the member event too")

    # Revocation.
    devices = c.call("GET", "/v1/admin/users/alice/devices", A, expect=200).json["devices"]
    laptop_id = next(d["id"] for d in devices if d["name"] == "laptop")
    c.call("DELETE", "/v1/admin/devices/%d" % laptop_id, A, expect=204)
    c.call("DELETE", "/v1/admin/devices/%d" % laptop_id, A, expect=204)
    c.call("GET", "/v1/me", alice_laptop, expect=401, expect_code="unauthorized")
    c.call("DELETE", "/v1/admin/devices/999999", A, expect=404, expect_code="device_not_found")
    c.call("DELETE", "/v1/admin/devices/abc", A, expect=400, expect_code="invalid_request", valid_request=False)
    c.call("DELETE", "/v1/admin/devices/%d" % laptop_id, bob, expect=401, expect_code="unauthorized")

    # The WebSocket notifier: plain-HTTP refusals, then a real upgrade.
    c.call("GET", "/v1/notify", expect=401, expect_code="unauthorized", valid_request=False)
    c.call("GET", "/v1/notify", bob, expect=426, expect_code="upgrade_required", valid_request=False)
    check_notify(c, r, bob, lambda: c.call(
        "POST", "/v1/rooms/%d/messages" % direct, alice, {"client_msg_id": "ws-1", "body": "ping"}, expect=201))

    # Routing errors.
    c.call("GET", "/v1/nowhere", bob, expect=404, expect_code="not_found", valid_request=False)
    c.call("PUT", "/v1/sync", bob, expect=405, expect_code="method_not_allowed", valid_request=False)
    c.call("DELETE", "/v1/rooms/%d" % group, bob, expect=405, expect_code="method_not_allowed", valid_request=False)

    # Offline pushes: the receiver failed its first batch; everything is delivered in the end.
    c.call("GET", "/v1/admin/pushes", bob, expect=401, expect_code="unauthorized")
    c.call("GET", "/v1/admin/pushes", A, expect=200)
    outbox = wait_for_outbox(c, A, lambda o: o["pending"] == 0 and hook.count() >= 2)
    final = c.call("GET", "/v1/admin/pushes", A, expect=200, label="GET /v1/admin/pushes (drained)").json
    require(r, outbox is not None and final["pending"] == 0 and final["dead"] == [],
            "the outbox drains after the webhook's first failure; nothing is dead")
    batches = check_push_batches(c, r, hook, "/push", "main webhook")
    pushes = [(status, p) for status, body in batches for p in body.get("pushes", [])]
    failed_ids = {p["id"] for p in batches[0][1].get("pushes", [])} if batches else set()
    delivered = {p["id"]: p for status, p in pushes if status == 200}
    require(r, bool(batches) and batches[0][0] != 200 and failed_ids and
            all(i in delivered and delivered[i]["attempt"] >= 2 for i in failed_ids),
            "a failed batch is retried with the same push ids and a higher attempt")
    require(r, all(p["attempt"] == 1 for i, p in delivered.items() if i not in failed_ids),
            "pushes that never failed are delivered at their first attempt")

    def pushed(user, client_msg_id):
        return any(p["user"] == user and p["message"]["client_msg_id"] == client_msg_id for _, p in pushes)

    require(r, pushed("bob", "g-0") and pushed("bob", "h-dm"),
            "a member without a live connection gets a push for a normal room's message")
    require(r, not pushed("bob", "m-1"), "no push while the member has a parked long-poll")
    require(r, not pushed("bob", "ws-1"), "no push while the member has an open WebSocket")
    require(r, not any(p["room_id"] == crowd for _, p in pushes), "hot rooms never queue pushes")
    require(r, all(p["user"] != p["message"]["sender"] for _, p in pushes), "the sender gets no push")

    # Last, because a server that mishandles it may not survive it: the WebSocket `receipts`
    # frame. Alice listens and sends; Bob reads (the receipts window for the room has passed).
    time.sleep(RECEIPTS_WINDOW)
    ws = notify_open(c, r, alice, "notify receipts")
    if ws is not None:
        try:
            if notify_read(c, r, ws, "notify receipts", "ready"):
                m = c.call("POST", "/v1/rooms/%d/messages" % secret, alice, {"client_msg_id": "r-ws", "body": "and me"},
                           expect=201).json
                c.call("POST", "/v1/rooms/%d/read" % secret, bob, {"seq": m["seq"]}, expect=200)
                frames = notify_read(c, r, ws, "notify receipts", "receipts")
                require(r, bool(frames) and frames[-1] == {"type": "receipts", "room_id": secret},
                        "a reader's marker sends the sender a receipts frame")
                # One room changed once: exactly one receipts frame for it, and the server still answers.
                ws.sock.settimeout(0.5)
                extra = []
                try:
                    while True:
                        extra.append(json.loads(ws.read_text()))
                except (OSError, ValueError):
                    pass
                require(r, not any(f.get("type") == "receipts" for f in extra),
                        "one receipts frame per change (got %d more)" % len(
                            [f for f in extra if f.get("type") == "receipts"]))
        finally:
            ws.close()
    c.call("GET", "/healthz", expect=200, label="GET /healthz (after the receipts frame)")

    message_changes(c, r, A, device)


# ---------------------------------------------------------------- edits, recalls, reactions, erasure

def pull_all(c, token, cursor, label):
    """Every event after `cursor` (timeout=0, pages followed); (events, cursor)."""
    events = []
    for _ in range(20):
        page = c.call("GET", "/v1/sync", token, query={"cursor": cursor, "timeout": 0, "limit": 1000}, expect=200,
                      label=label).json
        events += page["events"]
        cursor = page["cursor"]
        if not page["has_more"]:
            break
    return events, cursor


def pull_until(c, token, cursor, done, label, timeout=6.0):
    """Pulls (timeout=0) until `done(events)` or `timeout`; the events after `cursor`."""
    deadline = time.monotonic() + timeout
    while True:
        events, _ = pull_all(c, token, cursor, label)
        if done(events) or time.monotonic() > deadline:
            return events
        time.sleep(0.3)


def message_changes(c, r, admin, device):
    """docs/message-changes.md: edits, recalls and reactions (their answers, repeats and
    errors), their events in pulls (normal and hot rooms), unread counting messages only,
    and erasing a user. Run last on the main server (--hot-threshold 3)."""
    A = admin
    for name in ("erin", "frank", "gina", "hank"):
        c.call("POST", "/v1/admin/users", A, {"name": name}, expect=201)
    erin = device("erin", "phone")
    erin_tablet = device("erin", "tablet")
    erin_bad = device("erin", "errors")       # the error cases take send tokens too: their own bucket
    erin_keys = device("erin", "keys")
    frank = device("frank", "phone")
    gina = device("gina", "phone")
    room = c.call("POST", "/v1/rooms", erin, {"name": "Changes", "members": ["frank"]}, expect=201).json["id"]
    frank_start = c.call("GET", "/v1/conversations", frank, expect=200).json["cursor"]
    base = "/v1/rooms/%d/messages" % room

    def key_path(seq, key, in_room=None):
        return "/v1/rooms/%d/messages/%d/reactions/%s" % (in_room or room, seq, urllib.parse.quote(key, safe=""))

    m1 = c.call("POST", base, erin, {"client_msg_id": "e-1", "body": {"text": "frist"}}, expect=201).json
    m2 = c.call("POST", base, erin, {"client_msg_id": "e-2", "body": "wrong room"}, expect=201).json
    f1 = c.call("POST", base, frank, {"client_msg_id": "f-1", "body": "hello erin"}, expect=201).json

    # Edits: the sender, from any device; the same body again changes nothing.
    e = c.call("PATCH", "%s/%d" % (base, m1["seq"]), erin, {"body": {"text": "first"}}, expect=200).json
    require(r, e.get("body") == {"text": "first"} and e.get("edit_count") == 1 and e.get("version") == 1 and
            "edited_at" in e and e["id"] == m1["id"] and e["sent_at"] == m1["sent_at"],
            "an edit answers the message with the new body, edited_at, edit_count 1 and version 1")
    again = c.call("PATCH", "%s/%d" % (base, m1["seq"]), erin_tablet, {"body": {"text": "first"}}, expect=200,
                   label="the same edit again, from the sender's other device").json
    require(r, again == e, "repeating an edit answers the same message (no second change)")
    after_edit = c.call("GET", "/v1/rooms/%d" % room, frank, expect=200).json["last_seq"]
    require(r, after_edit == f1["seq"] + 1, "an edit takes the room's next seq (once)")
    c.call("PATCH", "%s/%d" % (base, m1["seq"]), frank, {"body": "mine now"}, expect=403, expect_code="not_sender")
    c.call("PATCH", "%s/%d" % (base, m1["seq"]), gina, {"body": "let me"}, expect=403, expect_code="not_member")
    c.call("PATCH", "%s/999" % base, erin_bad, {"body": "x"}, expect=404, expect_code="message_not_found")
    c.call("PATCH", "%s/%d" % (base, after_edit), erin_bad, {"body": "x"}, expect=404,
           expect_code="message_not_found", label="PATCH the seq of an edit (a change, not a message)")
    c.call("PATCH", "/v1/rooms/999999/messages/1", erin_bad, {"body": "x"}, expect=404, expect_code="room_not_found")
    c.call("PATCH", "%s/%d" % (base, m1["seq"]), erin_bad, {"text": "no body"}, expect=400,
           expect_code="invalid_request", valid_request=False)
    c.call("PATCH", "%s/%d" % (base, m1["seq"]), erin_bad, raw_body=b"{nope", expect=400, expect_code="invalid_json",
           valid_request=False)
    c.call("PATCH", "%s/%d" % (base, m1["seq"]), erin_bad, {"body": "x" * 17000}, expect=413,
           expect_code="payload_too_large", valid_request=False)
    c.call("PATCH", "%s/%d" % (base, m1["seq"]), erin_bad, raw_body=b"<xml/>", content_type="application/xml",
           expect=415, expect_code="unsupported_media_type", valid_request=False)
    c.call("PATCH", "/v1/rooms/abc/messages/1", erin_bad, {"body": "x"}, expect=400, expect_code="invalid_request",
           valid_request=False)
    c.call("PATCH", "%s/0" % base, erin_bad, {"body": "x"}, expect=400, expect_code="invalid_request",
           valid_request=False)
    c.call("PATCH", "%s/%d" % (base, m1["seq"]), None, {"body": "x"}, expect=401, expect_code="unauthorized")
    c.call("GET", "%s/%d" % (base, m1["seq"]), erin, expect=405, expect_code="method_not_allowed",
           valid_request=False)
    c.call("POST", base, erin, {"client_msg_id": "e-1", "body": {"text": "frist"}}, expect=409,
           expect_code="idempotency_conflict", label="a resend of a message edited since")

    # Reactions: counts at once, `me` as the reader sees it; repeats change nothing.
    up = c.call("PUT", key_path(m1["seq"], "👍"), frank, expect=200).json
    require(r, up.get("reactions") == [{"key": "👍", "count": 1, "me": True}] and up.get("version") == 2,
            "a reaction answers the message with its counts (me: true) and version + 1")
    up2 = c.call("PUT", key_path(m1["seq"], "👍"), frank, expect=200, label="the same reaction again").json
    require(r, up2 == up, "repeating a reaction changes nothing")
    party = c.call("PUT", key_path(m1["seq"], "🎉"), erin, expect=200).json
    # Ordered by the keys' UTF-8 bytes: 🎉 (F0 9F 8E 89) before 👍 (F0 9F 91 8D).
    require(r, party.get("reactions") == [{"key": "🎉", "count": 1, "me": True}, {"key": "👍", "count": 1, "me": False}],
            "reactions are ordered by key's bytes, me per reader")
    gone = c.call("DELETE", key_path(m1["seq"], "🎉"), erin, expect=200).json
    require(r, gone.get("reactions") == [{"key": "👍", "count": 1, "me": False}] and gone.get("version") == 4,
            "taking a reaction back drops a key whose count is 0")
    gone2 = c.call("DELETE", key_path(m1["seq"], "🎉"), erin, expect=200, label="taking it back again").json
    require(r, gone2 == gone, "taking back a reaction that is not there changes nothing")
    c.call("PUT", key_path(m1["seq"], "a b"), erin_bad, expect=400, expect_code="invalid_request",
           valid_request=False, label="PUT a reaction key with a space")
    c.call("PUT", key_path(m1["seq"], "k" * 65), erin_bad, expect=400, expect_code="invalid_request",
           valid_request=False, label="PUT a reaction key of 65 bytes")
    c.call("PUT", key_path(m1["seq"], "\x01"), erin_bad, expect=400, expect_code="malformed_path",
           valid_request=False, label="PUT a reaction key with a control character")
    c.call("PUT", key_path(999, "👍"), erin_bad, expect=404, expect_code="message_not_found")
    c.call("PUT", key_path(m1["seq"], "👍"), gina, expect=403, expect_code="not_member")
    c.call("DELETE", key_path(m1["seq"], "👍"), gina, expect=403, expect_code="not_member")
    c.call("PUT", key_path(1, "👍", in_room=999999), erin_bad, expect=404, expect_code="room_not_found")
    c.call("PUT", key_path(m1["seq"], "👍"), None, expect=401, expect_code="unauthorized")
    for i in range(20):
        c.call("PUT", key_path(f1["seq"], "k%02d" % i), erin_keys, expect=200, label="reaction key %d of 20" % (i + 1))
    c.call("PUT", key_path(f1["seq"], "k20"), erin_keys, expect=409, expect_code="reaction_limit",
           label="a 21st distinct reaction key")
    c.call("PUT", key_path(f1["seq"], "k00"), frank, expect=200, label="a key already there, with 20 keys")

    # Recalls: the sender, or the room's owner for anyone's message; a tombstone is final.
    c.call("DELETE", "%s/%d" % (base, m2["seq"]), frank, expect=403, expect_code="not_sender")
    c.call("DELETE", "%s/%d" % (base, m2["seq"]), gina, expect=403, expect_code="not_member")
    c.call("DELETE", "%s/999" % base, erin_bad, expect=404, expect_code="message_not_found")
    c.call("DELETE", "%s/abc" % base, erin_bad, expect=400, expect_code="invalid_request", valid_request=False)
    t = c.call("DELETE", "%s/%d" % (base, m2["seq"]), erin, expect=200).json
    require(r, t.get("deleted") is True and "deleted_at" in t and "body" not in t and t.get("version") == 1,
            "a recall answers the tombstone: deleted, deleted_at, no body")
    t2 = c.call("DELETE", "%s/%d" % (base, m2["seq"]), erin, expect=200, label="recalling a tombstone again").json
    require(r, t2 == t, "repeating a recall answers the same tombstone")
    owner = c.call("DELETE", "%s/%d" % (base, f1["seq"]), erin, expect=200,
                   label="the room's owner recalls someone else's message").json
    require(r, owner.get("deleted") is True and "reactions" not in owner, "a tombstone has no reactions")
    c.call("PATCH", "%s/%d" % (base, m2["seq"]), erin_bad, {"body": "back"}, expect=409,
           expect_code="message_deleted")
    c.call("PUT", key_path(m2["seq"], "👍"), erin_bad, expect=409, expect_code="message_deleted")
    # Taking a reaction back from a tombstone finds it gone already: the tombstone, 200.
    gone = c.call("DELETE", key_path(m2["seq"], "👍"), erin_bad, expect=200,
                  label="taking a reaction back from a tombstone").json
    require(r, gone.get("deleted") is True and "reactions" not in gone, "the tombstone, without reactions")
    c.call("POST", base, erin, {"client_msg_id": "e-2", "body": "wrong room"}, expect=409,
           expect_code="idempotency_conflict", label="a resend of a recalled message")

    # Frank's stream: the messages as they are now, then one event per change, each after
    # the message it changes; reactions flushed within about a second.
    events = pull_until(c, frank, frank_start, lambda evs: any(x["type"] == "reactions" for x in evs),
                        "frank's pull of the changes")
    kinds = [x["type"] for x in events]
    require(r, {"message", "edit", "delete", "reactions"} <= set(kinds),
            "a pull carries message, edit, delete and reactions events (got %s)" % kinds)
    changes = [x for x in events if x["type"] in ("edit", "delete", "reactions")]
    require(r, all(x["room_id"] == room and x["seq"] > x["message"]["seq"] for x in changes) and
            [x["seq"] for x in changes] == sorted({x["seq"] for x in changes}),
            "each change has its own room seq, after the message it changes, in order")
    require(r, kinds.count("edit") == 1 and kinds.count("delete") == 2,
            "one edit event and one delete event per recall (repeats wrote none)")
    require(r, all(x["message"].get("deleted") is True for x in events if x["type"] == "delete"),
            "delete events carry the tombstone")
    msgs = {x["message"]["seq"]: x["message"] for x in events if x["type"] == "message"}
    require(r, msgs.get(m2["seq"], {}).get("deleted") is True and "body" not in msgs.get(m2["seq"], {}),
            "a message event pulled after the recall carries the tombstone")
    react = [x for x in events if x["type"] == "reactions" and x["message"]["seq"] == m1["seq"]]
    require(r, 1 <= len(react) <= 3 and
            all(x["message"].get("reactions") == [{"key": "👍", "count": 1, "me": True}] for x in react),
            "coalesced reactions events, each with the counts as they are now, me as the puller sees it")

    # Unread counts messages above the marker (a tombstone too), never changes.
    conv = {x["id"]: x for x in c.call("GET", "/v1/conversations", erin, expect=200).json["conversations"]}
    mine = conv.get(room, {})
    require(r, mine.get("unread") == 1 and mine.get("last_seq", 0) - mine.get("read_seq", 0) > 1,
            "unread counts the one message above the marker (a tombstone), not the changes")
    fr = {x["room_id"]: x["unread"] for x in c.call("GET", "/v1/unread", frank, expect=200).json["rooms"]}
    require(r, room not in fr, "changes above the marker are not unread")
    hist = c.call("GET", base, frank, expect=200).json["messages"]
    require(r, [m["seq"] for m in hist] == [m1["seq"], m2["seq"], f1["seq"]] and hist[0].get("edit_count") == 1,
            "history lists the messages as they are now, never change events")

    # A hot room (three members here): a change is stored once and merged into pulls.
    hot = c.call("POST", "/v1/rooms", erin, {"name": "Hot changes", "members": ["frank", "gina"]}, expect=201).json
    require(r, hot["hot"] is True, "a three-member group is hot on this server")
    gina_start = c.call("GET", "/v1/conversations", gina, expect=200).json["cursor"]
    h = c.call("POST", "/v1/rooms/%d/messages" % hot["id"], erin, {"client_msg_id": "e-hot", "body": "hot"},
               expect=201).json
    c.call("PATCH", "/v1/rooms/%d/messages/%d" % (hot["id"], h["seq"]), erin, {"body": "hotter"}, expect=200)
    c.call("PUT", key_path(h["seq"], "🔥", in_room=hot["id"]), frank, expect=200)
    hot_events = pull_until(c, gina, gina_start, lambda evs: any(x["type"] == "reactions" for x in evs),
                            "gina's pull of the hot room")
    require(r, [x["type"] for x in hot_events] == ["message", "edit", "reactions"] and
            all(x["message"].get("body") == "hotter" for x in hot_events),
            "a hot room's message, edit and reactions merge into the pull, each as the message is now")

    # Erasing a user: devices revoked at once, messages recalled and reactions taken back in
    # the background; their rooms go on working.
    hank = device("hank", "phone")
    dm = c.call("POST", "/v1/direct/frank", hank, expect=201).json["id"]
    fm = c.call("POST", "/v1/rooms/%d/messages" % dm, frank, {"client_msg_id": "f-dm", "body": "hi hank"},
                expect=201).json
    frank_dm = c.call("GET", "/v1/conversations", frank, expect=200).json["cursor"]
    for i in range(2):
        c.call("POST", "/v1/rooms/%d/messages" % dm, hank, {"client_msg_id": "h-%d" % i, "body": "hank %d" % i},
               expect=201)
    c.call("PUT", key_path(fm["seq"], "👋", in_room=dm), hank, expect=200)
    c.call("GET", "/v1/admin/users/hank/erasure", A, expect=400, expect_code="invalid_request",
           label="GET the erasure of a user nobody asked to erase")
    c.call("DELETE", "/v1/admin/users/hank", frank, expect=401, expect_code="unauthorized",
           label="DELETE /v1/admin/users/hank with a device token")
    p = c.call("DELETE", "/v1/admin/users/hank", A, expect=202).json
    require(r, p.get("user") == "hank" and p.get("state") in ("running", "done"), "erasing a user answers 202 with its progress")
    c.call("GET", "/v1/me", hank, expect=401, expect_code="unauthorized", label="GET /v1/me as the erased user")
    deadline = time.monotonic() + 15
    while True:
        p = c.call("GET", "/v1/admin/users/hank/erasure", A, expect=200).json
        if p.get("state") == "done" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    require(r, p.get("state") == "done" and p.get("messages_erased") == 2 and p.get("messages_left") == 0 and
            p.get("reactions_left") == 0 and "finished_at" in p,
            "the erasure finishes: two messages erased, nothing left")
    p2 = c.call("DELETE", "/v1/admin/users/hank", A, expect=202, label="erasing the user again").json
    require(r, p2.get("state") == "done" and p2.get("requested_at") == p.get("requested_at"),
            "repeating an erasure answers its progress (the first requested_at)")
    c.call("DELETE", "/v1/admin/users/nobody", A, expect=404, expect_code="user_not_found")
    c.call("GET", "/v1/admin/users/nobody/erasure", A, expect=404, expect_code="user_not_found")
    dm_events = pull_until(c, frank, frank_dm,
                           lambda evs: any(x["type"] == "reactions" and "reactions" not in x["message"] for x in evs),
                           "frank's pull after the erasure")
    dkinds = [x["type"] for x in dm_events]
    require(r, dkinds.count("delete") == 2 and all(x["message"].get("deleted") is True for x in dm_events
                                                  if x.get("message", {}).get("sender") == "hank"),
            "the erased user's messages are tombstones, each with a delete event")
    require(r, any(x["type"] == "reactions" and x["message"]["seq"] == fm["seq"] and "reactions" not in x["message"]
                   for x in dm_events), "the erased user's reaction is taken back, with a reactions event")
    c.call("POST", "/v1/rooms/%d/messages" % dm, frank, {"client_msg_id": "f-dm-2", "body": "still here"},
           expect=201, label="a send in the erased user's room")


LIMITS_SEND_RATE = 1
LIMITS_SEND_BURST = 3
LIMITS_PUSH_ATTEMPTS = 2
LIMITS_ROOM_RATE = 1
LIMITS_ROOM_BURST = 2
LIMITS_CHANGE_WINDOW = 1  # --edit-window and --recall-window of the limits server, seconds


def limits_session(c, r, admin, hook):
    """On a server with small limits: the send bucket, dead pushes, and last (it locks
    127.0.0.1 out of this server for a minute) the failed-authentication bucket."""
    A = admin
    c.call("GET", "/healthz", expect=200)
    for name in ("xena", "yuri"):
        c.call("POST", "/v1/admin/users", A, {"name": name}, expect=201)
    phone = c.call("POST", "/v1/admin/users/xena/devices", A, {"name": "phone"}, expect=201).json["token"]
    tablet = c.call("POST", "/v1/admin/users/xena/devices", A, {"name": "tablet"}, expect=201).json["token"]
    room = c.call("POST", "/v1/direct/yuri", phone, expect=201).json["id"]
    path = "/v1/rooms/%d/messages" % room

    # The device's bucket: `--send-burst` sends at once, then 429 until it refills.
    statuses, ids = [], []
    for i in range(LIMITS_SEND_BURST + 5):
        reply = c.call("POST", path, phone, {"client_msg_id": "burst-%d" % i, "body": i},
                       label="send %d of a burst" % (i + 1))
        statuses.append(reply.status)
        if reply.status == 201:
            ids.append(reply.json["id"])
        if reply.status != 201:
            break
    over = reply
    require(r, statuses[:LIMITS_SEND_BURST] == [201] * LIMITS_SEND_BURST and statuses[-1] == 429 and
            over.code == "rate_limited", "sends over the device's burst get 429 rate_limited (got %s)" % statuses)
    ms = check_retry_after(r, over, 1000 // LIMITS_SEND_RATE, "send limit") if over.status == 429 else 1000
    other = c.call("POST", path, tablet, {"client_msg_id": "tablet-1", "body": "y"}, expect=201,
                   label="a send from the user's other device (its own bucket)").json
    ids.append(other["id"])
    time.sleep(ms / 1000 + 0.05)
    again = c.call("POST", path, phone, {"client_msg_id": "burst-%d" % (len(statuses) - 1),
                                         "body": len(statuses) - 1},
                   expect=201, label="the limited send again after retry_after_ms").json
    require(r, again["duplicate"] is False, "a 429 stored nothing: its retry is the first copy")
    ids.append(again["id"])

    # The device's room bucket (`--room-burst 2`): two groups, then 429 that created nothing.
    for i in range(LIMITS_ROOM_BURST):
        c.call("POST", "/v1/rooms", tablet, {"name": "g%d" % i}, expect=201, label="room %d of a burst" % (i + 1))
    over = c.call("POST", "/v1/rooms", tablet, {"name": "over"}, expect=429, expect_code="rate_limited",
                  label="a room over the device's room burst")
    if over.status == 429:
        check_retry_after(r, over, 1000 // LIMITS_ROOM_RATE, "room limit")
    listed = c.call("GET", "/v1/conversations", tablet, query={"limit": 100, "preview": 0}, expect=200,
                    label="conversations after a limited room creation").json
    require(r, sorted(x["name"] for x in listed["conversations"] if x.get("kind") == "group") == ["g0", "g1"],
            "a room creation answered 429 created nothing")

    # Yuri has no live connection: every message queued a push; this webhook always
    # answers 503, so each dies after --push-max-attempts.
    outbox = wait_for_outbox(c, A, lambda o: o["pending"] == 0 and len(o["dead"]) >= len(ids))
    final = c.call("GET", "/v1/admin/pushes", A, expect=200, label="GET /v1/admin/pushes (dead pushes)").json
    dead = final.get("dead", [])
    require(r, outbox is not None and final["pending"] == 0 and
            sorted(d["message_id"] for d in dead) == sorted(ids) and
            all(d["user"] == "yuri" and d["room_id"] == room and d["attempts"] == LIMITS_PUSH_ATTEMPTS and
                d["last_error"] == "webhook answered 503" for d in dead),
            "pushes the webhook keeps failing are dead after --push-max-attempts, with the last error")
    batches = check_push_batches(c, r, hook, "/push", "failing webhook")
    attempts = {}
    for _, body in batches:
        for p in body.get("pushes", []):
            attempts.setdefault(p["id"], []).append(p["attempt"])
    require(r, sorted(attempts) == sorted(d["id"] for d in dead) and
            all(sorted(a) == list(range(1, LIMITS_PUSH_ATTEMPTS + 1)) for a in attempts.values()),
            "each dead push was tried --push-max-attempts times under one id")

    # The edit and recall windows (`--edit-window` and `--recall-window` are 1 s here): the
    # sender is refused once they passed; the room's owner recalls at any time.
    watch = c.call("POST", "/v1/admin/users/xena/devices", A, {"name": "watch"}, expect=201).json["token"]
    yuri = c.call("POST", "/v1/admin/users/yuri/devices", A, {"name": "phone"}, expect=201).json["token"]
    late = c.call("POST", path, watch, {"client_msg_id": "late-1", "body": "soon too old"}, expect=201).json
    windows = c.call("POST", "/v1/rooms", watch, {"name": "windows", "members": ["yuri"]}, expect=201).json["id"]
    theirs = c.call("POST", "/v1/rooms/%d/messages" % windows, yuri, {"client_msg_id": "y-1", "body": "mine"},
                    expect=201).json
    time.sleep(LIMITS_CHANGE_WINDOW + 0.3)
    c.call("PATCH", "%s/%d" % (path, late["seq"]), watch, {"body": "too late"}, expect=403,
           expect_code="edit_window_closed", label="an edit after --edit-window")
    c.call("DELETE", "%s/%d" % (path, late["seq"]), watch, expect=403, expect_code="recall_window_closed",
           label="the sender's recall after --recall-window")
    c.call("DELETE", "/v1/rooms/%d/messages/%d" % (windows, theirs["seq"]), yuri, expect=403,
           expect_code="recall_window_closed", label="a member's recall of their own message after the window")
    gone = c.call("DELETE", "/v1/rooms/%d/messages/%d" % (windows, theirs["seq"]), watch, expect=200,
                  label="the room's owner recalls a member's message after the window").json
    require(r, gone.get("deleted") is True, "the owner's recall has no window")
    again = c.call("DELETE", "/v1/rooms/%d/messages/%d" % (windows, theirs["seq"]), yuri, expect=200,
                   label="the sender repeats a recall of a tombstone after the window").json
    require(r, again == gone, "a repeat past the window answers the same tombstone")

    # Failed authentication from this address: device and admin guesses share one bucket.
    for i in range(AUTH_FAILURE_BURST):
        if i % 2:
            c.call("GET", "/v1/me", "ph_wrong_%d" % i, expect=401, expect_code="unauthorized")
        else:
            c.call("GET", "/v1/admin/pushes", "pha_wrong_%d" % i, expect=401, expect_code="unauthorized")
    # While the bucket is empty, a wrong token gets 429 instead of 401 ...
    limited = c.call("GET", "/v1/me", "ph_wrong_more", expect=429, expect_code="rate_limited",
                     label="GET /v1/me with a wrong token from a limited address")
    if limited.status == 429:
        check_retry_after(r, limited, 60000, "auth limit")
    c.call("GET", "/v1/admin/pushes", "pha_wrong_more", expect=429, expect_code="rate_limited",
           label="GET /v1/admin/pushes with a wrong admin token from a limited address")
    c.call("POST", path, "ph_wrong_send", {"client_msg_id": "tablet-2", "body": "z"}, expect=429,
           expect_code="rate_limited", label="a send with a wrong token from a limited address")
    c.call("GET", "/v1/sync", "ph_wrong_sync", query={"timeout": 0}, expect=429, expect_code="rate_limited",
           label="GET /v1/sync with a wrong token from a limited address")
    c.call("GET", "/v1/notify", "ph_wrong_ws", expect=429, expect_code="rate_limited", valid_request=False,
           label="GET /v1/notify with a wrong token from a limited address")
    # ... and a right one is never refused for the failures of others at its address.
    c.call("GET", "/v1/me", phone, expect=200, label="GET /v1/me with a right token from a limited address")
    c.call("GET", "/v1/admin/pushes", A, expect=200,
           label="GET /v1/admin/pushes with the right admin token from a limited address")
    c.call("POST", path, tablet, {"client_msg_id": "tablet-2", "body": "z"}, expect=201,
           label="a send with a right token from a limited address")
    c.call("GET", "/healthz", expect=200, label="GET /healthz (no token: never limited)")
    c.call("GET", "/v1/limits", expect=200, label="GET /v1/limits (no token: never limited)")


# ---------------------------------------------------------------- the server

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, workdir, name="server", extra_args=()):
        self.binary = binary
        self.workdir = workdir
        self.name = name
        self.extra_args = list(extra_args)
        self.proc = None
        self.port = None
        self.admin = "pha_conformance_" + os.urandom(12).hex()
        self.log_path = os.path.join(workdir, name + ".log")

    def start(self):
        for _ in range(3):
            self.port = free_port()
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                [self.binary, "serve", "--port", str(self.port),
                 "--data-dir", os.path.join(self.workdir, "data-" + self.name),
                 "--admin-token", self.admin, "--poll-timeout-max", str(POLL_MAX),
                 "--hot-threshold", str(HOT_THRESHOLD), "--log-level", "warn"] + self.extra_args,
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            log.close()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break  # exited (port taken?): try another port
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                    conn.request("GET", "/healthz")
                    if conn.getresponse().status == 200:
                        conn.close()
                        return
                    conn.close()
                except OSError:
                    pass
                time.sleep(0.05)
            self.stop()
        raise RuntimeError("the %s server did not become healthy; log:\n%s" % (self.name, self.log_tail()))

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_tail(self, n=40):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"


def run(server, spec, result, what, body):
    """Starts `server`, runs `body(client)`, stops the server; failures are counted."""
    try:
        server.start()
        client = Client(spec, result, server.port)
        try:
            body(client)
        except SessionError as e:
            print("%s stopped after a failed request: %s" % (what, e), file=sys.stderr)
        except Exception as e:  # a broken assumption in the session itself is a failure too
            import traceback
            traceback.print_exc()
            result.fail(what, ["%s: %s" % (type(e).__name__, e)])
    except RuntimeError as e:
        result.fail("%s: server start" % what, [str(e)])
    finally:
        server.stop()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spec", default=os.path.join(root, "openapi.yaml"))
    ap.add_argument("--binary", default=os.path.join(root, ".build", "debug", "pigeonhole"))
    ap.add_argument("--database-url", action="append", default=[],
                    help="run the servers on PostgreSQL: two fresh, empty databases' URLs (main, limits)")
    args = ap.parse_args()
    if args.database_url and len(args.database_url) != 2:
        print("openapi conformance: --database-url takes two URLs (main, limits)", file=sys.stderr)
        return 2
    databases = [["--database", u] for u in args.database_url] or [[], []]

    if not os.access(args.binary, os.X_OK):
        print("openapi conformance: %s is not built (run swift build first)" % args.binary, file=sys.stderr)
        return 2
    spec = Spec(args.spec)
    result = Result()
    workdir = tempfile.mkdtemp(prefix="pigeonhole-conformance-")
    hook = WebhookReceiver(fail_first=1)
    failing_hook = WebhookReceiver(always_fail=True, fail_status=503)
    server = Server(args.binary, workdir, "main", ["--push-webhook", hook.url] + databases[0])
    limits = Server(args.binary, workdir, "limits", databases[1] + [
        "--send-rate", str(LIMITS_SEND_RATE), "--send-burst", str(LIMITS_SEND_BURST),
        "--auth-failures-per-minute", "1",
        "--room-rate", str(LIMITS_ROOM_RATE), "--room-burst", str(LIMITS_ROOM_BURST),
        "--edit-window", "%ds" % LIMITS_CHANGE_WINDOW, "--recall-window", "%ds" % LIMITS_CHANGE_WINDOW,
        "--push-webhook", failing_hook.url, "--push-max-attempts", str(LIMITS_PUSH_ATTEMPTS)])
    servers = (server, limits)

    def on_signal(signum, _frame):
        for s in servers:
            s.stop()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        run(server, spec, result, "session", lambda c: session(c, result, server.admin, hook))
        run(limits, spec, result, "limits session", lambda c: limits_session(c, result, limits.admin, failing_hook))
    finally:
        for s in servers:
            s.stop()
        hook.stop()
        failing_hook.stop()
        if result.failed:
            for s in servers:
                print("--- %s server log (tail) ---\n%s" % (s.name, s.log_tail()), file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)
    print("openapi conformance: %d passed, %d failed%s" % (result.passed, result.failed,
                                                            " (postgres)" if args.database_url else ""))
    return 0 if result.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
