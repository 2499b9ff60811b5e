#!/usr/bin/env python3
"""nginx in front of Pigeonhole nodes, with the example config deploy/nginx/pigeonhole.conf.

Starts the nodes and a real nginx (Debian's) itself, then talks to nginx only:

    .ci/nginx_test.py --binary .build/debug/pigeonhole --database-url postgres://postgres@127.0.0.1:PORT/nginx_test
    .ci/nginx_test.py --binary .build/debug/pigeonhole --sqlite      # one SQLite node (no PostgreSQL)

With --database-url: two `serve --database URL` nodes on that (fresh) database; with
--sqlite: one node on a scratch --data-dir. The example config is rendered into a temp
directory: its upstreams list the nodes' ports, it listens on a free port, it has one
worker (whose round robin alternates between two nodes, so the test knows which node a
long-poll will reach; a send reaches its room's node), and each answer carries the node that served it (X-Pigeonhole-Upstream,
added by this test only). Started as root, nginx's workers run as `nobody`, as they
would from the example (the temp directory is mode 0755 for them). Then through nginx:

  - /healthz answers 200 through the upstream;
  - users and devices are created with the admin API, and a direct room;
  - a parked long-poll (GET /v1/sync) returns the message sent meanwhile, within 3 s;
    with two nodes, half the sends go into a room of the node the poll is parked on and
    half into a room of the other one (a send on one node must wake a poll parked on the
    other);
  - a WebSocket on /v1/notify (Authorization header, and a single-use ?ticket=) gets `ready`
    and then `mail` after each send (with two nodes, also sends on the other node),
    and a pull from the previous cursor returns the message; a bad token is a 401;
  - a long-poll at the server's maximum is not cut by nginx: the nodes run with
    --poll-timeout-max 26 and the config's proxy_read_timeout is lowered by as much as
    the maximum (written for 55; 65 s becomes 36 s), so the config's margin is what is
    tested; timeout=25 and timeout=600 (clamped to 26) both answer 200 with no events
    after the full wait; a WebSocket left idle meanwhile still gets the next `mail`;
  - a 100 KiB send is the server's JSON 413 (nginx lets it through), a 2 MiB one is
    nginx's 413 (client_max_body_size);
  - every request for one room reaches one node (the config routes /v1/rooms/{id}/ by
    the room's id), and with two nodes rooms land on both; a test's send goes into a
    room of the node it wants;
  - with two nodes: one is SIGKILLed and requests through nginx still succeed (GETs, and
    a send into a room of the killed node, stored by the other), then it is restarted;
  - nginx's access log holds no device token and no ticket.

Needs Python 3 with the `websockets` package (CI's venv has it) and nginx. Prints
`nginx test: N passed, M failed (...)` last; exits 1 on any failure.
"""

import argparse
import asyncio
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
import threading
import time
import urllib.parse

try:
    import websockets
    try:
        from websockets.asyncio.client import connect as ws_connect  # websockets >= 13
        HEADERS_KW = "additional_headers"
    except ImportError:  # pragma: no cover - older releases
        from websockets import connect as ws_connect
        HEADERS_KW = "extra_headers"
except ImportError:
    websockets = None

HOST = "127.0.0.1"
ADMIN_TOKEN = "nginx-test-admin-token"
POLL_MAX = 26                 # the nodes' --poll-timeout-max in this test
CONFIG_POLL_MAX = 55          # the server default the example config is written for
UPSTREAM_HEADER = "X-Pigeonhole-Upstream"


# ----------------------------------------------------------------------------- checks

class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            print("  ok    %s" % what, flush=True)
        else:
            self.failed += 1
            print("  FAIL  %s%s" % (what, (": %s" % (detail,)) if detail != "" else ""), flush=True)
        return ok


# ------------------------------------------------------------------------------- HTTP

def http_call(port, method, path, token=None, body=None, raw_body=None, timeout=10.0):
    """One request on a fresh connection. Returns (status, headers (lower-case), JSON or
    None, raw bytes)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    headers = {}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = raw_body
    if body is not None:
        data = json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()
    doc = None
    if raw:
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
    return resp.status, hdrs, doc, raw


def must(port, method, path, token=None, body=None, ok=(200, 201)):
    st, hdrs, doc, raw = http_call(port, method, path, token, body)
    if st not in ok:
        raise RuntimeError("%s %s through nginx: %s %s" % (method, path, st, raw[:300]))
    return doc, hdrs


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(port, proc, timeout, path="/healthz"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            st, _, _, _ = http_call(port, "GET", path, timeout=2)
            if st == 200:
                return True
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.05)
    return False


def tail(path, n=15):
    try:
        with open(path, "rb") as f:
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


# ------------------------------------------------------------------------------ nodes

class Node:
    def __init__(self, name, binary, workdir, store_args, extra):
        self.name = name
        self.binary = binary
        self.workdir = workdir
        self.store_args = store_args
        self.extra = extra
        self.port = free_port()
        self.proc = None
        self.starts = 0
        self.log_path = None

    def start(self):
        self.starts += 1
        self.log_path = os.path.join(self.workdir, "%s-%d.log" % (self.name, self.starts))
        args = [self.binary, "serve", "--host", HOST, "--port", str(self.port), "--admin-token", ADMIN_TOKEN,
                "--poll-timeout-max", str(POLL_MAX), "--log-level", "warn",
                # behind nginx every client has nginx's address
                "--max-connections-per-address", "0", "--auth-failures-per-minute", "0"] + self.store_args + self.extra
        with open(self.log_path, "wb") as log:
            # cwd: anything a node writes next to itself stays in the temp directory
            self.proc = subprocess.Popen(args, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        if not wait_http(self.port, self.proc, 30):
            raise RuntimeError("node %s (port %d) did not become healthy; exit %s; log %s:\n%s"
                               % (self.name, self.port, self.proc.poll(), self.log_path, tail(self.log_path)))

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc is not None else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


# ------------------------------------------------------------------------------ nginx

def render_config(text, listen_port, node_ports):
    """The example config with this test's ports and timeout. Each substitution must
    match what the example holds, so a changed example fails here, loudly."""
    def sub(pattern, repl, s, count_expected, what):
        out, n = re.subn(pattern, repl, s, flags=re.M)
        if n != count_expected:
            raise RuntimeError("example config: expected %d %s, found %d (update .ci/nginx_test.py)"
                               % (count_expected, what, n))
        return out

    # Both upstreams (round robin, and by room) list the nodes.
    names = []
    for name in ("pigeonhole", "pigeonhole_rooms"):
        m = re.search(r"^(\s*)upstream %s \{\n(.*?)^\1\}" % name, text, flags=re.M | re.S)
        if not m:
            raise RuntimeError("example config: no `upstream %s { ... }` block" % name)
        block = m.group(2)
        server_lines = re.findall(r"^\s*server 127\.0\.0\.1:\d+([^;]*);\n", block, flags=re.M)
        if len(server_lines) != 2:
            raise RuntimeError("example config: expected 2 server lines in upstream %s, found %d" % (name, len(server_lines)))
        params = server_lines[0]
        indent = re.search(r"^(\s*)server ", block, flags=re.M).group(1)
        new_servers = "".join("%sserver %s:%d%s;\n" % (indent, HOST, p, params) for p in node_ports)
        # The first server line's place, so directives above it (hash) stay above.
        first = re.search(r"^\s*server 127\.0\.0\.1:\d+[^;]*;\n", block, flags=re.M).start()
        block = block[:first] + new_servers + re.sub(r"^\s*server 127\.0\.0\.1:\d+[^;]*;\n", "", block[first:], flags=re.M)
        text = text[:m.start(2)] + block + text[m.end(2):]
        names.append(name)
    if len(re.findall(r"^\s*upstream \w+ \{", text, flags=re.M)) != len(names):
        raise RuntimeError("example config: an upstream this test does not know (update .ci/nginx_test.py)")

    text = sub(r"^(\s*)listen 127\.0\.0\.1:\d+;", r"\g<1>listen %s:%d;" % (HOST, listen_port), text, 1, "listen lines")
    # Only the server-level read timeout (between `server {` and the first `location`)
    # is tied to --poll-timeout-max: it is lowered by as much as the maximum is, so the
    # config's own margin is tested. /v1/notify's stays.
    start = text.index("    server {")
    end = text.index("location", start)
    m = re.search(r"^(\s*)proxy_read_timeout (\d+)s;", text[start:end], flags=re.M)
    if not m:
        raise RuntimeError("example config: no server-level `proxy_read_timeout Ns;` (update .ci/nginx_test.py)")
    configured = int(m.group(2))
    rendered = configured - (CONFIG_POLL_MAX - POLL_MAX)
    if rendered < 1:
        raise RuntimeError("example config: proxy_read_timeout %ds is far below --poll-timeout-max %d"
                           % (configured, CONFIG_POLL_MAX))
    text = (text[:start + m.start()] + "%sproxy_read_timeout %ds;" % (m.group(1), rendered)
            + text[start + m.end():])
    text = sub(r"^(\s*)(proxy_http_version 1\.1;.*)$",
               r"\g<1>\2\n\g<1>add_header %s $upstream_addr always;   # nginx_test.py only" % UPSTREAM_HEADER,
               text, 1, "`proxy_http_version 1.1;`")
    # One worker: its round robin alternates between the nodes, so the test knows which
    # node a long-poll will reach (Session.long_poll_rounds).
    text = sub(r"^worker_processes [^;]*;", "worker_processes 1;", text, 1, "`worker_processes`")
    return text, rendered


class Nginx:
    def __init__(self, binary, prefix, conf_path):
        self.binary = binary
        self.prefix = prefix
        self.conf_path = conf_path
        self.proc = None
        self.out_path = os.path.join(prefix, "nginx.out")

    def start(self, port):
        t = subprocess.run([self.binary, "-t", "-c", self.conf_path, "-p", self.prefix, "-e", "stderr"],
                           capture_output=True, text=True)
        if t.returncode != 0:
            raise RuntimeError("nginx -t refused the rendered config:\n%s" % (t.stderr + t.stdout))
        with open(self.out_path, "wb") as out:
            self.proc = subprocess.Popen([self.binary, "-c", self.conf_path, "-p", self.prefix, "-e", "stderr"],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        if not wait_http(port, self.proc, 15):
            raise RuntimeError("nginx did not answer /healthz in 15 s; exit %s\n%s\n%s"
                               % (self.proc.poll(), tail(self.out_path), tail(os.path.join(self.prefix, "error.log"))))

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGQUIT)   # graceful: finish open requests
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------- the test

def ws_url(port, path):
    return "ws://%s:%d%s" % (HOST, port, path)


def ws_connect_kw(token=None):
    kw = {"open_timeout": 5, "close_timeout": 5, "ping_interval": None}
    if token:
        kw[HEADERS_KW] = {"Authorization": "Bearer " + token}
    return kw


def ws_upstream(ws):
    """The upstream node of the handshake, from the 101's headers (websockets >= 13 and older)."""
    resp = getattr(ws, "response", None)
    headers = getattr(resp, "headers", None) if resp is not None else getattr(ws, "response_headers", None)
    if headers is None:
        return None
    return headers.get(UPSTREAM_HEADER)


async def recv_json(ws, timeout):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


class Session:
    def __init__(self, args, checks, port, nodes):
        self.args = args
        self.c = checks
        self.port = port                  # nginx
        self.nodes = nodes
        self.multi = len(nodes) > 1
        sfx = secrets.token_hex(3)
        self.alice = "ngx-alice-" + sfx
        self.bob = "ngx-bob-" + sfx
        self.counter = 0

    def call(self, *a, **kw):
        return http_call(self.port, *a, **kw)

    def send(self, text, node=None):
        """Alice sends `text` into the room whose requests nginx routes to `node` (any
        node's room when None); returns (client_msg_id, message, node that stored it)."""
        self.counter += 1
        cmid = "ngx-%04d" % self.counter
        room = self.rooms_by_node.get(node, self.room)
        doc, hdrs = must(self.port, "POST", "/v1/rooms/%d/messages" % room, self.alice_tok,
                         {"client_msg_id": cmid, "body": {"text": text}}, ok=(201,))
        return cmid, doc, hdrs.get(UPSTREAM_HEADER.lower())

    def head_cursor(self):
        """Bob's current head: pull from the last cursor with timeout=0 until drained."""
        cursor = self.cursor
        while True:
            doc, _ = must(self.port, "GET", "/v1/sync?cursor=%s&timeout=0" % urllib.parse.quote(cursor), self.bob_tok, ok=(200,))
            cursor = doc["cursor"]
            if not doc.get("has_more"):
                break
        self.cursor = cursor
        return cursor

    # -------------------------------------------------------------------- provisioning

    def provision(self):
        c = self.c
        st, hdrs, _, _ = self.call("GET", "/healthz")
        c.check(st == 200 and bool(hdrs.get(UPSTREAM_HEADER.lower())),
                "GET /healthz through nginx answers 200 from a node (%s)" % hdrs.get(UPSTREAM_HEADER.lower()), st)
        for name in (self.alice, self.bob):
            must(self.port, "POST", "/v1/admin/users", ADMIN_TOKEN, {"name": name}, ok=(201,))
        self.alice_tok = must(self.port, "POST", "/v1/admin/users/%s/devices" % self.alice, ADMIN_TOKEN,
                              {"name": "phone"}, ok=(201,))[0]["token"]
        self.bob_tok = must(self.port, "POST", "/v1/admin/users/%s/devices" % self.bob, ADMIN_TOKEN,
                            {"name": "laptop"}, ok=(201,))[0]["token"]
        me, _ = must(self.port, "GET", "/v1/me", self.bob_tok, ok=(200,))
        c.check(me.get("user", {}).get("name") == self.bob, "admin API through nginx: users and devices created", me)
        self.room = must(self.port, "POST", "/v1/direct/%s" % self.bob, self.alice_tok, ok=(200, 201))[0]["id"]
        self.rooms_by_node = {}
        self.room_routes()
        self.cursor = must(self.port, "GET", "/v1/conversations", self.bob_tok, ok=(200,))[0]["cursor"]

    def room_node(self, room):
        """The node that answered GET /v1/rooms/{room} (None if it was not a 200)."""
        st, hdrs, _, _ = self.call("GET", "/v1/rooms/%d" % room, self.bob_tok)
        return hdrs.get(UPSTREAM_HEADER.lower()) if st == 200 else None

    def room_routes(self):
        """nginx routes every /v1/rooms/{id}/ request by the room's id: one room's requests
        all reach one node, and (two nodes) rooms land on both. Alice creates groups with
        Bob until a room of each node is known (`rooms_by_node`), so a test can send on
        the node it wants."""
        c = self.c
        seen = []                       # (room, the nodes that answered its 4 requests)
        room = self.room
        while True:
            nodes = {self.room_node(room) for _ in range(4)}
            seen.append((room, nodes))
            if len(nodes) == 1 and None not in nodes:
                self.rooms_by_node.setdefault(next(iter(nodes)), room)
            if len(self.rooms_by_node) >= len(self.nodes) or len(seen) >= 24:
                break
            room = must(self.port, "POST", "/v1/rooms", self.alice_tok,
                        {"name": "ngx-room-%d" % len(seen), "members": [self.bob]}, ok=(201,))[0]["id"]
        c.check(all(len(n) == 1 and None not in n for _, n in seen),
                "requests for one room all reach one node (%d rooms, 4 requests each)" % len(seen),
                [(r, sorted(map(str, n))) for r, n in seen if len(n) != 1 or None in n])
        if self.multi:
            c.check(len(self.rooms_by_node) == len(self.nodes),
                    "rooms are spread over the nodes (%d rooms: %s)" % (len(seen), sorted(self.rooms_by_node)),
                    "every room on one node")

    # ---------------------------------------------------------------------- long-poll

    def probe(self):
        """GET /healthz through nginx; returns the node that answered."""
        st, hdrs, _, _ = self.call("GET", "/healthz")
        return hdrs.get(UPSTREAM_HEADER.lower()) if st == 200 else None

    def other_node(self, node):
        addrs = ["%s:%d" % (HOST, n.port) for n in self.nodes]
        others = [a for a in addrs if a != node]
        return others[0] if others else node

    def long_poll_rounds(self):
        """Rounds of: park a long-poll, send, the poll must answer with the message within
        3 s. With two nodes the sends alternate between the poll's node and the other one."""
        c = self.c
        plan = ["same", "other", "same", "other"] if self.multi else ["same", "same", "same"]
        failures, cross_ok, cross_tried = [], 0, 0
        for i, where in enumerate(plan, 1):
            result = {}
            started = threading.Event()

            def poll(cursor=self.cursor):
                t0 = time.monotonic()
                started.set()
                try:
                    result["st"], result["hdrs"], result["doc"], result["raw"] = self.call(
                        "GET", "/v1/sync?cursor=%s&timeout=20" % urllib.parse.quote(cursor), self.bob_tok, timeout=30)
                except Exception as e:   # reported below
                    result["error"] = repr(e)
                result["elapsed"] = time.monotonic() - t0

            # The poll's node is known only from its answer; it is the one after the
            # last probe's in the alternation.
            last = self.probe()
            poll_node_expected = self.other_node(last) if self.multi else last
            t = threading.Thread(target=poll, daemon=True)
            t.start()
            started.wait(5)
            time.sleep(0.4)              # parked by now
            if not t.is_alive():
                failures.append("round %d: the poll answered before the send: %r" % (i, result))
                continue
            target = poll_node_expected if where == "same" else self.other_node(poll_node_expected)
            sent_at = time.monotonic()
            cmid, msg, send_node = self.send("long-poll round %d" % i, node=target if self.multi else None)
            t.join(timeout=25)
            woke_ms = (time.monotonic() - sent_at) * 1000
            doc = result.get("doc") or {}
            cmids = [e["message"]["client_msg_id"] for e in doc.get("events", []) if e.get("type") == "message"]
            poll_node = (result.get("hdrs") or {}).get(UPSTREAM_HEADER.lower())
            cross = bool(poll_node and send_node and poll_node != send_node)
            cross_tried += cross
            ok = result.get("st") == 200 and cmids == [cmid] and woke_ms <= 3000
            print("        round %d: poll parked on %s, send on %s: %s after %.0f ms"
                  % (i, poll_node, send_node, "woken" if ok else "answered %s %s" % (result.get("st"), cmids), woke_ms),
                  flush=True)
            if result.get("st") == 200 and "cursor" in doc:
                self.cursor = doc["cursor"]
            if not ok:
                failures.append("round %d: poll on %s, send on %s: %s %s after %.0f ms (events %s)"
                                % (i, poll_node, send_node, result.get("st"), result.get("error", ""), woke_ms, cmids))
                if len(failures) >= 2:   # each costs the poll's 20 s
                    break
                continue
            cross_ok += cross
        c.check(not failures, "%d parked long-polls through nginx returned the message sent meanwhile, each within 3 s"
                % len(plan), "; ".join(failures))
        if self.multi:
            c.check(cross_tried >= 1 and cross_ok == cross_tried,
                    "a send on one node woke a long-poll parked on the other (%d of %d such rounds)" % (cross_ok, cross_tried),
                    "no round had the poll and the send on different nodes" if cross_tried == 0 else "")

    # ---------------------------------------------------------------------- websocket

    async def websocket_rounds(self):
        c = self.c
        url = ws_url(self.port, "/v1/notify")
        loop = asyncio.get_running_loop()
        async with ws_connect(url, **ws_connect_kw(self.bob_tok)) as ws:
            head = await loop.run_in_executor(None, self.head_cursor)
            ready = await recv_json(ws, 5)
            node = ws_upstream(ws)
            c.check(ready.get("type") == "ready" and ready.get("cursor") == head and (node or not self.multi),
                    "WebSocket /v1/notify through nginx (Authorization header): ready at the head (node %s)" % node, ready)
            failures, cross_ok, cross_tried = [], 0, 0
            plan = ["other", "same", "other"] if self.multi else ["same", "same"]
            for i, where in enumerate(plan, 1):
                prev = self.cursor
                target = node if where == "same" else self.other_node(node)
                cmid, _, send_node = await loop.run_in_executor(
                    None, lambda: self.send("websocket round %d" % i, node=target if self.multi else None))
                cross = bool(node and send_node and node != send_node)
                cross_tried += cross
                try:
                    mail = await recv_json(ws, 5)
                except asyncio.TimeoutError:
                    failures.append("round %d (socket on %s, send on %s): no frame within 5 s" % (i, node, send_node))
                    print("        round %d: socket on %s, send on %s: no mail" % (i, node, send_node), flush=True)
                    await loop.run_in_executor(None, self.head_cursor)
                    continue
                print("        round %d: socket on %s, send on %s: %s" % (i, node, send_node, mail.get("type")), flush=True)
                if mail.get("type") != "mail":
                    failures.append("round %d: expected mail, got %r" % (i, mail))
                    continue
                doc, _ = await loop.run_in_executor(None, lambda: must(
                    self.port, "GET", "/v1/sync?cursor=%s&timeout=0" % urllib.parse.quote(prev), self.bob_tok, ok=(200,)))
                cmids = [e["message"]["client_msg_id"] for e in doc.get("events", []) if e.get("type") == "message"]
                if cmids != [cmid]:
                    failures.append("round %d: the pull after mail brought %s, expected [%s]" % (i, cmids, cmid))
                    continue
                self.cursor = doc["cursor"]
                cross_ok += cross
            c.check(not failures, "%d sends through nginx each gave a `mail` frame, and the pull returned the message"
                    % len(plan), "; ".join(failures))
            if self.multi:
                c.check(cross_tried >= 1 and cross_ok == cross_tried,
                        "a send on one node gave mail on a socket held by the other (%d of %d such sends)"
                        % (cross_ok, cross_tried),
                        "no send landed on the other node" if cross_tried == 0 else "")
        # The browser's form: a single-use ticket in the query string (fetched through
        # nginx, so possibly from the other node: tickets work on any node).
        ticket = must(self.port, "POST", "/v1/notify/ticket", self.bob_tok, ok=(201,))[0]["ticket"]
        async with ws_connect(url + "?ticket=" + urllib.parse.quote(ticket), **ws_connect_kw()) as tab:
            ready = await recv_json(tab, 5)
            c.check(ready.get("type") == "ready", "WebSocket with ?ticket= through nginx opens with ready", ready)
            target = ws_upstream(tab) if self.multi else None   # nginx is under test here, not nodes
            cmid, _, _ = await loop.run_in_executor(None, lambda: self.send("ticket socket", node=target))
            try:
                mail = await recv_json(tab, 5)
            except asyncio.TimeoutError:
                mail = None
            c.check(isinstance(mail, dict) and mail.get("type") == "mail", "... and gets mail after a send", mail)
            await loop.run_in_executor(None, self.head_cursor)
        # A bad token is refused before any upgrade, through nginx too.
        try:
            async with ws_connect(url, **ws_connect_kw("ph_not-a-real-token")):
                status = 101
        except Exception as e:
            resp = getattr(e, "response", None)
            status = getattr(resp, "status_code", None) if resp is not None else getattr(e, "status_code", None)
        c.check(status == 401, "WebSocket with a bad token: 401 through nginx", status)

    # -------------------------------------------------------- long-poll at the maximum

    async def long_poll_at_max(self):
        """Two polls at the maximum wait and an idle WebSocket, all at once."""
        c = self.c
        loop = asyncio.get_running_loop()
        head = await loop.run_in_executor(None, self.head_cursor)
        url = ws_url(self.port, "/v1/notify")
        results = {}

        def poll(label, timeout):
            t0 = time.monotonic()
            try:
                st, hdrs, doc, raw = self.call("GET", "/v1/sync?cursor=%s&timeout=%d" % (urllib.parse.quote(head), timeout),
                                               self.bob_tok, timeout=POLL_MAX + 40)
                results[label] = (st, doc, raw[:200], time.monotonic() - t0, hdrs.get(UPSTREAM_HEADER.lower()))
            except Exception as e:
                results[label] = (None, None, repr(e), time.monotonic() - t0, None)

        async with ws_connect(url, **ws_connect_kw(self.bob_tok)) as ws:
            ready = await recv_json(ws, 5)
            asked = POLL_MAX - 1
            print("        polls with timeout=%d and timeout=600 (the nodes clamp to %d), a WebSocket idle meanwhile ..."
                  % (asked, POLL_MAX), flush=True)
            await asyncio.gather(loop.run_in_executor(None, poll, "near", asked),
                                 loop.run_in_executor(None, poll, "over", 600))
            for label, want in (("near", asked), ("over", POLL_MAX)):
                st, doc, raw, elapsed, node = results[label]
                shape_ok = (isinstance(doc, dict) and set(doc) == {"events", "cursor", "has_more"} and doc["events"] == []
                            and doc["has_more"] is False and isinstance(doc["cursor"], str) and doc["cursor"] != "")
                c.check(st == 200 and shape_ok and want - 1.0 <= elapsed <= want + 5.0,
                        "long-poll timeout=%s through nginx answers 200 with no events after the full wait "
                        "(%.1f s; node %s; nginx read timeout %d s)"
                        % ("600" if label == "over" else asked, elapsed, node, self.read_timeout),
                        "%s %r after %.1f s, wanted 200 {events: [], cursor, has_more: false} after about %d s"
                        % (st, raw, elapsed, want))
            # The socket sat idle for the whole wait; it still carries the next mail (sent
            # to the socket's node: nginx is under test here, not the nodes).
            target = ws_upstream(ws) if self.multi else None
            cmid, _, _ = await loop.run_in_executor(None, lambda: self.send("after the idle wait", node=target))
            try:
                mail = await recv_json(ws, 5)
            except (asyncio.TimeoutError, websockets.exceptions.ConnectionClosed) as e:
                mail = repr(e)
            c.check(isinstance(mail, dict) and mail.get("type") == "mail" and ready.get("type") == "ready",
                    "a WebSocket idle for %d s through nginx still gets mail" % POLL_MAX, mail)
            await loop.run_in_executor(None, self.head_cursor)

    # -------------------------------------------------------------------- body limits

    def body_limits(self):
        c = self.c
        big = json.dumps({"client_msg_id": "ngx-big", "body": {"text": "x" * (100 * 1024)}}).encode()
        st, _, doc, raw = self.call("POST", "/v1/rooms/%d/messages" % self.room, self.alice_tok, raw_body=big)
        code = (doc or {}).get("error", {}).get("code") if isinstance(doc, dict) else None
        c.check(st == 413 and code == "payload_too_large",
                "a 100 KiB send passes nginx and gets the server's JSON 413 payload_too_large", (st, raw[:120]))
        huge = b"{" + b" " * (2 * 1024 * 1024) + b"}"
        st, _, doc, raw = self.call("POST", "/v1/rooms/%d/messages" % self.room, self.alice_tok, raw_body=huge)
        c.check(st == 413 and doc is None, "a 2 MiB body is refused by nginx itself (client_max_body_size)", (st, raw[:80]))

    # ----------------------------------------------------------------------- failover

    def failover(self):
        c = self.c
        victim = self.nodes[0]
        victim.kill()
        statuses = []
        try:
            for _ in range(6):
                st, hdrs, _, _ = self.call("GET", "/v1/me", self.bob_tok)
                statuses.append((st, hdrs.get(UPSTREAM_HEADER.lower())))
            c.check(all(s == 200 for s, _ in statuses),
                    "node on port %d killed: 6 GETs through nginx all answered 200 by the other" % victim.port, statuses)
            prev = self.cursor
            try:
                # Into a room nginx routes to the killed node: it goes to the other one.
                cmid, msg, node = self.send("while a node is down", node="%s:%d" % (HOST, victim.port))
                ok = True
            except Exception as e:
                ok, node = False, repr(e)
            doc, _ = must(self.port, "GET", "/v1/sync?cursor=%s&timeout=0" % urllib.parse.quote(prev), self.bob_tok, ok=(200,))
            cmids = [e["message"]["client_msg_id"] for e in doc.get("events", []) if e.get("type") == "message"]
            # $upstream_addr lists every node nginx tried: the killed one, then the one that answered.
            stored_by = (node or "").split(", ")[-1]
            c.check(ok and cmids == [cmid] and stored_by not in ("", "%s:%d" % (HOST, victim.port)),
                    "... a send into a room of the killed node is stored once, by the other (nginx tried %s)" % node, cmids)
            self.cursor = doc["cursor"]
        finally:
            victim.start()
        st, _, _, _ = self.call("GET", "/healthz")
        c.check(st == 200, "the killed node restarted", st)


async def run_async(session):
    await session.websocket_rounds()
    await session.long_poll_at_max()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True, help="the built pigeonhole executable")
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--database-url", help="a fresh PostgreSQL database for two nodes (postgres://...)")
    mode.add_argument("--sqlite", action="store_true", help="one node on a scratch SQLite data directory")
    ap.add_argument("--nodes", type=int, default=2, help="nodes with --database-url (default 2)")
    ap.add_argument("--config", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy", "nginx",
                                                     "pigeonhole.conf"), help="the example nginx config")
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx", help="the nginx binary")
    ap.add_argument("--serve-arg", action="append", default=[], metavar="ARG",
                    help="one more argument for every `serve` (repeatable; --serve-arg=--flag)")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory (configs, logs)")
    args = ap.parse_args()

    c = Checks()
    if not os.access(args.binary, os.X_OK):
        ap.error("--binary %s is not an executable" % args.binary)
    args.binary = os.path.abspath(args.binary)     # the nodes run in the temp directory
    args.config = os.path.abspath(args.config)
    if websockets is None:
        print("nginx test: the Python package `websockets` is missing (CI's venv has it)")
        print("nginx test: 0 passed, 1 failed (not run)")
        sys.exit(1)
    if not os.access(args.nginx, os.X_OK):
        print("nginx test: no nginx at %s (apt-get install -y nginx)" % args.nginx)
        print("nginx test: 0 passed, 1 failed (not run)")
        sys.exit(1)

    tmp = tempfile.mkdtemp(prefix="pigeonhole-nginx-")
    os.chmod(tmp, 0o755)
    nodes = []
    nginx = None
    mode = "sqlite, 1 node" if args.sqlite else "postgres, %d nodes" % args.nodes
    print("nginx test (%s) in %s" % (mode, tmp), flush=True)
    try:
        if args.sqlite:
            nodes.append(Node("node1", args.binary, tmp, ["--data-dir", os.path.join(tmp, "data")], args.serve_arg))
        else:
            for i in range(args.nodes):
                nodes.append(Node("node%d" % (i + 1), args.binary, tmp, ["--database", args.database_url], args.serve_arg))
        for n in nodes:            # one after the other: the first one migrates the database
            n.start()
        print("nodes on ports %s" % ", ".join(str(n.port) for n in nodes), flush=True)

        nginx_port = free_port()
        with open(args.config) as f:
            example = f.read()
        rendered, read_timeout = render_config(example, nginx_port, [n.port for n in nodes])
        conf_path = os.path.join(tmp, "nginx.conf")
        with open(conf_path, "w") as f:
            f.write(rendered)
        nginx = Nginx(args.nginx, tmp, conf_path)
        nginx.start(nginx_port)
        print("nginx on port %d (%s)" % (nginx_port, conf_path), flush=True)

        s = Session(args, c, nginx_port, nodes)
        s.read_timeout = read_timeout
        s.provision()
        s.long_poll_rounds()
        asyncio.run(run_async(s))
        s.body_limits()
        if len(nodes) > 1:
            s.failover()
        for n in nodes:
            if n.proc.poll() is not None:
                c.check(False, "node %s still running" % n.name, "exited %s; log %s" % (n.proc.returncode, n.log_path))
        try:
            with open(os.path.join(tmp, "access.log")) as f:
                access = f.read()
        except OSError as e:
            access = None
        c.check(access is not None and "/v1/notify" in access and s.bob_tok not in access and "pht_" not in access,
                "nginx's access log names /v1/notify but holds no token or ticket", "no access log" if access is None else
                [line for line in access.splitlines() if "pht_" in line or s.bob_tok in line][:2])
    except Exception as e:
        c.check(False, "the session ran to the end", "%s: %s" % (type(e).__name__, e))
        for n in nodes:
            print("--- %s log tail (%s)\n%s" % (n.name, n.log_path, tail(n.log_path)))
        if nginx is not None:
            print("--- nginx error.log tail\n%s" % tail(os.path.join(tmp, "error.log")))
    finally:
        if nginx is not None:
            nginx.stop()
        for n in nodes:
            if n.proc is None:
                continue
            running = n.proc.poll() is None
            rc = n.stop()
            if running and rc != 0:
                c.check(False, "node %s stops cleanly on SIGTERM" % n.name, "exit %s; log %s" % (rc, n.log_path))
    keep = args.keep or c.failed
    if keep:
        print("configs and logs kept in %s" % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print("nginx test: %d passed, %d failed (%s)" % (c.passed, c.failed, mode), flush=True)
    sys.exit(1 if c.failed else 0)


if __name__ == "__main__":
    main()
