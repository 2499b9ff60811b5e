#!/usr/bin/env python3
"""WebSocket interop: an independent RFC 6455 client against GET /v1/notify.

Uses the `websockets` package from PyPI (a test-only dependency, never a product
one) against an ALREADY RUNNING server; it starts nothing itself:

    python3 .ci/ws_interop.py --url http://127.0.0.1:8080 --admin-token <token>

Through the admin API it provisions two fresh users (names with a random suffix,
so a server can be reused), a sender and a receiver with a direct room, then checks:

  - the receiver's socket (Authorization: Bearer) opens with a `ready` frame whose
    cursor is the receiver's current head (the first-screen cursor),
  - a send produces a `mail` frame, and a pull from the previous cursor returns the
    message and ends at exactly the mail's cursor,
  - a client ping is answered (`await ws.ping()`),
  - a second socket opened with a single-use `?ticket=` (the browser form) is
    notified too, and a burst of sends is coalesced into fewer `mail` frames whose
    last one carries the final cursor,
  - a bad token or ticket is refused with 401 before any upgrade,
  - a client-initiated close completes with close code 1000.

Prints `websocket interop: N passed, M failed` last; exits 1 on any failure.
"""

import argparse
import asyncio
import json
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

try:
    from websockets.asyncio.client import connect as ws_connect  # websockets >= 13

    HEADERS_KW = "additional_headers"
except ImportError:  # pragma: no cover - older releases
    from websockets import connect as ws_connect

    HEADERS_KW = "extra_headers"
import websockets


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            print(f"  ok    {what}")
        else:
            self.failed += 1
            print(f"  FAIL  {what}" + (f": {detail}" if detail else ""))
        return ok


class API:
    """Plain HTTP/1.1 with the standard library (the client under test is the WebSocket one)."""

    def __init__(self, base, timeout):
        self.base = base.rstrip("/")
        self.timeout = timeout

    def call(self, method, path, token=None, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = None
        return status, doc

    def must(self, method, path, token=None, body=None, ok=(200, 201)):
        status, doc = self.call(method, path, token, body)
        if status not in ok:
            raise RuntimeError(f"{method} {path}: {status} {doc}")
        return doc


def ws_url(base, path):
    u = urllib.parse.urlsplit(base)
    scheme = {"http": "ws", "https": "wss"}.get(u.scheme, u.scheme)
    return urllib.parse.urlunsplit((scheme, u.netloc, path, "", ""))


def connect(url, token=None):
    kwargs = {"open_timeout": 5, "close_timeout": 5, "ping_interval": None}
    if token:
        kwargs[HEADERS_KW] = {"Authorization": f"Bearer {token}"}
    return ws_connect(url, **kwargs)


async def recv_json(ws, timeout):
    raw = await asyncio.wait_for(ws.recv(), timeout)
    return json.loads(raw)


def rejected_status(exc):
    """The HTTP status of a refused handshake, across websockets versions."""
    response = getattr(exc, "response", None)
    if response is not None and hasattr(response, "status_code"):
        return response.status_code
    return getattr(exc, "status_code", None)


async def run(args, c):
    api = API(args.url, args.timeout)
    suffix = secrets.token_hex(4)
    receiver, sender = f"wsi-recv-{suffix}", f"wsi-send-{suffix}"
    admin = args.admin_token
    for name in (receiver, sender):
        api.must("POST", "/v1/admin/users", admin, {"name": name}, ok=(201,))
    recv_tok = api.must("POST", f"/v1/admin/users/{receiver}/devices", admin, {"name": "interop"}, ok=(201,))["token"]
    send_tok = api.must("POST", f"/v1/admin/users/{sender}/devices", admin, {"name": "interop"}, ok=(201,))["token"]
    room = api.must("POST", f"/v1/direct/{receiver}", send_tok)["id"]
    cursor = api.must("GET", "/v1/conversations", recv_tok)["cursor"]
    print(f"provisioned {receiver} and {sender}, direct room {room}")

    def send(msg_id):
        return api.must("POST", f"/v1/rooms/{room}/messages", send_tok,
                        {"client_msg_id": msg_id, "body": {"text": f"interop {msg_id}"}}, ok=(201,))

    def pull(from_cursor):
        return api.must("GET", f"/v1/sync?cursor={urllib.parse.quote(from_cursor)}&timeout=0", recv_tok, ok=(200,))

    url = ws_url(args.url, "/v1/notify")
    async with connect(url, recv_tok) as ws:
        c.check(True, "handshake with Authorization: Bearer (101, Sec-WebSocket-Accept verified by websockets)")
        ready = await recv_json(ws, args.timeout)
        c.check(ready.get("type") == "ready" and ready.get("cursor") == cursor,
                "first frame is ready with the first-screen cursor", ready)

        started = time.perf_counter()
        send("interop-1")
        mail = await recv_json(ws, args.timeout)
        latency_ms = (time.perf_counter() - started) * 1000
        c.check(mail.get("type") == "mail", f"mail after a send ({latency_ms:.1f} ms from the send)", mail)
        page = pull(cursor)
        ids = [e["message"]["client_msg_id"] for e in page.get("events", []) if e.get("type") == "message"]
        c.check(ids == ["interop-1"], "pull from the previous cursor returns the message", ids)
        c.check(page.get("cursor") == mail.get("cursor"), "mail cursor equals the pull's cursor",
                f"mail {mail.get('cursor')} pull {page.get('cursor')}")
        cursor = page.get("cursor")

        pong = await ws.ping(b"interop")
        try:
            rtt = await asyncio.wait_for(pong, args.timeout)
            c.check(True, f"ping answered with a pong ({(rtt or 0) * 1000:.2f} ms)")
        except asyncio.TimeoutError:
            c.check(False, "ping answered with a pong", "no pong")

        # The browser form of authentication, on a second socket of the same user: a
        # single-use ticket in the URL (never the device token).
        ticket = api.must("POST", "/v1/notify/ticket", recv_tok, ok=(201,))["ticket"]
        async with connect(url + "?ticket=" + urllib.parse.quote(ticket)) as tab:
            ready2 = await recv_json(tab, args.timeout)
            c.check(ready2.get("type") == "ready" and ready2.get("cursor") == cursor,
                    "ticket socket opens with ready at the current head", ready2)
            burst = 30
            for i in range(burst):
                send(f"interop-burst-{i}")
            final = pull(cursor)
            while final.get("has_more"):
                final = pull(final["cursor"])
            head = final["cursor"]
            for name, sock in (("bearer socket", ws), ("ticket socket", tab)):
                frames = []
                try:
                    while not frames or frames[-1].get("cursor") != head:
                        frames.append(await recv_json(sock, args.timeout))
                except asyncio.TimeoutError:
                    pass
                c.check(bool(frames) and all(f.get("type") == "mail" for f in frames)
                        and frames[-1].get("cursor") == head and len(frames) < burst,
                        f"{name}: {burst} sends coalesced into {len(frames)} mail frame(s) ending at the final cursor",
                        frames[-3:])

        await ws.close()
        c.check(ws.close_code == 1000, "client close completes with code 1000", ws.close_code)

    # A bad token never upgrades.
    for label, kw in (("header", {"token": "ph_not-a-real-token"}), ("ticket", {})):
        target = url if label == "header" else url + "?ticket=pht_not-a-real-ticket"
        try:
            async with connect(target, **kw):
                c.check(False, f"bad token ({label}) refused", "the upgrade succeeded")
        except Exception as e:  # InvalidStatus (>= 13) or InvalidStatusCode (older)
            status = rejected_status(e)
            c.check(status == 401, f"bad token ({label}) refused with 401 before any upgrade", repr(e))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="base URL of a running server, e.g. http://127.0.0.1:8080")
    p.add_argument("--admin-token", required=True)
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for any one frame or response")
    args = p.parse_args()
    print(f"websocket interop against {args.url} (websockets {websockets.__version__})")
    c = Checks()
    try:
        asyncio.run(run(args, c))
    except Exception as e:  # setup failures and unexpected errors count as a failure
        c.check(False, "interop session ran to the end", f"{type(e).__name__}: {e}")
    print(f"websocket interop: {c.passed} passed, {c.failed} failed")
    sys.exit(1 if c.failed else 0)


if __name__ == "__main__":
    main()
