#!/usr/bin/env python3
"""Crash test for Pigeonhole (issue 6, "crash safety, tested").

Starts the real server binary as a child process, drives concurrent senders and
pullers over HTTP, SIGKILLs the server at random moments, restarts it on the same
data directory and checks, after every restart and once more on the SQLite file
after a final clean stop:

  * every send that got a 2xx exists exactly once, with the room, seq, id and
    client_msg_id of its response (history paging; SQLite at the end);
  * per-room seqs are gapless 1..last_seq: the stored rows of every kind (a message
    change takes the room's next seq as a row of kind edit, delete or reactions) and,
    through the API, the devices' streams (history lists messages only);
  * every member's inbox has each message of a non-hot room exactly once, hot rooms
    only up to hot_since_seq (SQLite), and so each change row of a message after the
    member's join; inbox seqs are gapless per user;
  * a device resumes (pull without a cursor) right after the cursor it acked: the
    union of what it kept across cycles has every message and change event of its
    rooms exactly once, in per-room seq order, nothing skipped, nothing repeated;
    its message events are the room's history, its edit and delete events agree with
    each message's state, and its newest copy of each message is history's (at the
    end, once the reactions flush has written its events, reactions and version too);
  * message changes (docs/message-changes.md): instead of a send, now and then
    (--change-rate, default 10%) a sender edits or recalls one of its own
    acknowledged messages or reacts to a message of one of its rooms. Every
    acknowledged recall is a tombstone (no body, edits or reactions; its row's body
    empty); every acknowledged edit's body is the message's unless a later edit or
    recall was acknowledged; edit_count is the acknowledged edits (one more at most
    for one whose response was lost, which is either done or not, nothing else);
    every acknowledged reaction is counted unless the message was recalled, and
    none that was never made; version is edits plus reactions; part of the lost
    changes are repeated after a restart and must answer as the first would have.
    Stored: edit and delete rows against each message, the reactions table against
    the counts, a reactions row or a pending mark for every reacted message; on
    SQLite, no text of a recalled message left in the database's files;
  * a resend of a send whose response was lost, with the same client_msg_id, is
    201 once or 200 duplicate, never a second message; sends never made leave no
    message; every message in the database is one we sent.

With --database-url (PostgreSQL), several nodes (`--nodes`, default 2) run
`serve --database URL` on that database, which should be fresh (no users yet).
Clients are spread over the nodes; each cycle SIGKILLs one node (in turn) while the
load runs, the clients of the killed node go on against another node (a sender with
new messages, a device with the cursor it holds), the node is restarted under load,
and after the load stops the same checks run through every node (each must show the
same rooms). The final checks on the stored data run the same SQL through
`psql -At` instead of reading the SQLite file (and `amcheck` on the tables and
indexes when the extension can be created). PostgreSQL itself is never killed.

Python 3 standard library only (and the `psql` client with --database-url); it
builds nothing. Usage:

    .ci/crash_test.py --binary .build/debug/pigeonhole [--cycles 12] [--seed N]
    .ci/crash_test.py --binary .build/debug/pigeonhole --database-url postgres://USER@HOST:PORT/DB [--nodes 2]

The last line is `crash test: N kill cycles, M acknowledged messages checked,
K violations` (with ` (postgres, N nodes)` appended in that mode); the exit status
is non-zero on any violation.
"""

import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

ADMIN_TOKEN = "crash-test-admin-token"
HOST = "127.0.0.1"
# Reaction keys as they go in the path (percent-encoded) and as the API shows them.
REACTION_KEYS = {"ok": "ok", "+1": "+1", "%F0%9F%91%8D": "\U0001F44D"}


# --------------------------------------------------------------------------- HTTP

class NotSent(Exception):
    """The connection could not be opened: the request never reached the server."""


class Lost(Exception):
    """The request may or may not have reached the server; no response came back."""


class Client:
    """One keep-alive HTTP/1.1 connection with a bearer token."""

    def __init__(self, port, token, timeout=15.0):
        self.port = port
        self.token = token
        self.timeout = timeout
        self.conn = None

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None

    def request(self, method, path, body=None):
        """Returns (status, headers dict (lower-case names), parsed JSON or None)."""
        if self.conn is None:
            conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
            try:
                conn.connect()
            except OSError as e:
                conn.close()
                raise NotSent(str(e))
            self.conn = conn
        headers = {"Authorization": "Bearer " + self.token}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise Lost("%s: %r" % (type(e).__name__, e))
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        parsed = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
        return resp.status, hdrs, parsed


# ------------------------------------------------------------------------- server

def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """One node. `store_args` name its database: `--data-dir DIR` and `--durability
    full` (SQLite), or `--database URL` (PostgreSQL, durable by the cluster's own
    settings); then the node runs with `cwd` in the test's temp directory."""

    def __init__(self, binary, store_args, log_dir, extra_args, name="server", cwd=None):
        self.binary = binary
        self.store_args = store_args
        self.log_dir = log_dir
        self.extra_args = extra_args
        self.name = name
        self.cwd = cwd
        self.port = free_port()
        self.proc = None
        self.starts = 0
        self.log_path = None

    def start(self):
        """Starts the server and waits until /healthz answers 200."""
        for attempt in range(5):
            self.starts += 1
            self.log_path = os.path.join(self.log_dir, "%s-%03d.log" % (self.name, self.starts))
            log = open(self.log_path, "wb")
            args = [self.binary, "serve", "--host", HOST, "--port", str(self.port)] + self.store_args[:2] + [
                    "--admin-token", ADMIN_TOKEN] + self.store_args[2:] + self.extra_args
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.cwd)
            log.close()
            if self._wait_healthy(timeout=20):
                return
            rc = self.proc.poll()
            if rc is None:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("%s did not become healthy in 20 s; log: %s\n%s" % (self.name, self.log_path, self.log_tail()))
            # Exited at start (e.g. the port was taken meanwhile): another port, again.
            sys.stderr.write("%s exited with %s at start (attempt %d); log tail:\n%s\n"
                             % (self.name, rc, attempt + 1, self.log_tail()))
            self.port = free_port()
            time.sleep(0.2)
        raise RuntimeError("%s failed to start 5 times" % self.name)

    def _wait_healthy(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
                conn.request("GET", "/healthz")
                resp = conn.getresponse()
                resp.read()
                conn.close()
                if resp.status == 200:
                    return True
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.02)
        return False

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        """Graceful stop (SIGTERM); returns the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def log_tail(self, n=20):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return "(no log)"


class PsqlError(Exception):
    pass


class Psql:
    """SQL through the psql client (`psql -At`), one process per statement. Values come
    back as ints where they are integers, 1/0 for booleans (t/f), None for NULL, else
    text."""

    NULL = "\\N"
    SEP = "\x1f"

    def __init__(self, binary, url):
        self.binary = binary
        self.url = url

    def query(self, sql):
        cmd = [self.binary, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-F", self.SEP, "-P", "null=" + self.NULL,
               "-d", self.url, "-c", sql]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise PsqlError("psql: %s" % e)
        if r.returncode != 0:
            raise PsqlError((r.stderr or r.stdout).strip() or "psql exit %d" % r.returncode)
        rows = []
        for line in r.stdout.splitlines():
            if line == "":
                continue
            rows.append(tuple(self.value(v) for v in line.split(self.SEP)))
        return rows

    def value(self, text):
        if text == self.NULL:
            return None
        if text in ("t", "f"):
            return 1 if text == "t" else 0
        try:
            return int(text)
        except ValueError:
            return text


class Route:
    """The node a client talks to. With one node a failed request ends the client (the
    node is being killed); with several, the client fails over to the next node (once:
    one node is killed per cycle, so a failure there is a violation)."""

    def __init__(self, servers, index):
        self.servers = servers
        self.index = index % len(servers)
        self.failovers = 0

    @property
    def port(self):
        return self.servers[self.index].port

    @property
    def name(self):
        return self.servers[self.index].name

    def fail_over(self):
        if self.failovers >= len(self.servers) - 1:
            return False
        self.failovers += 1
        self.index = (self.index + 1) % len(self.servers)
        return True


# ------------------------------------------------------------------------ the test

class Send:
    __slots__ = ("user", "room", "cmid", "body")

    def __init__(self, user, room, cmid, body):
        self.user = user
        self.room = room
        self.cmid = cmid
        self.body = body


class MsgState:
    """An acknowledged message and what its sender did to it: `base` the body as sent,
    `bodies` every body it may have had (as sent, each edit's), `ops` the edits and
    recalls issued, in order, each [kind, body, status] with status "acked" (a 2xx) or
    "lost" (no response: it may or may not have been done). A slot issues no further
    change to a message after a lost one until the lost one is repeated and answered."""

    __slots__ = ("user", "cmid", "base", "bodies", "ops", "slot")

    def __init__(self, user, cmid, base, slot):
        self.user = user
        self.cmid = cmid
        self.base = base
        self.bodies = [base]
        self.ops = []
        self.slot = slot


class Puller:
    """A pulling device and what it kept.

    `kept` is the device's local store of message and change events, in stream
    order, as (room, seq, type, id, client_msg_id, message): `seq` is the event's own
    room seq (a change's, not the message's), `id` and `client_msg_id` are the
    message's (the one a change changes), `message` the message as the event
    carried it. `confirmed` is its length when the device's last explicit ack got
    its 204 (durable); `pending` is the length at an ack whose response was lost (it
    may or may not be durable)."""

    def __init__(self, user, token):
        self.user = user
        self.token = token
        self.kept = []
        self.cursor = None
        self.confirmed = 0
        self.pending = None
        self.rooms = []


class CrashTest:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.violations = []
        self.vlock = threading.Lock()
        self.users = []                 # names
        self.user_ids = {}              # name -> id
        self.send_tokens = {}           # name -> token of the sending device
        self.pullers = {}               # name -> Puller
        self.rooms = {}                 # room id -> {"members": [names], "kind": ..., "hot": bool}
        self.user_rooms = {}            # name -> [room ids]
        self.acked = {}                 # (user, cmid) -> (room, seq, id)
        self.by_room_seq = {}           # (room, seq) -> (id, user, cmid)
        self.states = {}                # (room, seq) -> MsgState of each acknowledged message
        self.history = {}               # room -> {seq: message} as the last check's history showed it
        self.lost = {}                  # (user, cmid) -> Send, response lost, not resolved yet
        self.lost_ever = set()          # (user, cmid) of every send whose response was lost
        self.never_sent = set()         # (user, cmid): the connection was refused
        self.resends = 0
        self.resend_created = 0
        self.resend_duplicate = 0
        self.counter = 0
        self.counter_lock = threading.Lock()
        self.state_lock = threading.Lock()
        self.cycles = 0
        self.sends_during_load = 0
        # Message changes (docs/message-changes.md), by the sender slots during the load.
        self.slot_pool = {}             # sender slot -> [(room, seq)] of its messages it may change next
        self.room_msgs = {}             # room -> [seq] of its acknowledged messages (reaction targets)
        self.recall_issued = set()      # (room, seq) with a recall sent (a reaction may find a tombstone)
        self.reacts = {}                # (room, seq) -> {key: {"acked": set(users), "lost": set(users)}}
        self.lost_changes = []          # [(room, seq), op] of edits and recalls whose response was lost
        self.lost_reacts = []           # (room, seq, user, path key) of reactions whose response was lost
        self.change_counts = {}         # "edit acked", "recall lost", ... -> n
        self.repeats = 0
        self.failovers = 0
        self.servers = []

    # ------------------------------------------------------------ bookkeeping

    def violation(self, text):
        with self.vlock:
            self.violations.append(text)
            if len(self.violations) <= 200:
                print("VIOLATION: " + text, flush=True)

    def next_cmid(self, user):
        with self.counter_lock:
            self.counter += 1
            return "%s-%06d" % (user, self.counter)

    def record_ack(self, user, room, cmid, body, status, js, context, slot=None):
        """A 2xx answer for a send: check it and remember it (`slot`: the sender that
        may change it, None for a resend)."""
        if not isinstance(js, dict) or not isinstance(js.get("seq"), int) or not isinstance(js.get("id"), int):
            self.violation("%s: %s %s/%s answered %s without a message: %r" % (context, user, room, cmid, status, js))
            return
        seq, mid = js["seq"], js["id"]
        if js.get("room_id") != room or js.get("client_msg_id") != cmid or js.get("sender") != user:
            self.violation("%s: %s/%s answered with another message: %r" % (context, user, cmid, js))
        with self.state_lock:
            key = (user, cmid)
            old = self.acked.get(key)
            if old is not None and old != (room, seq, mid):
                self.violation("%s: %s/%s was acknowledged as %r, now as %r" % (context, user, cmid, old, (room, seq, mid)))
                return
            other = self.by_room_seq.get((room, seq))
            if other is not None and other != (mid, user, cmid):
                self.violation("%s: room %d seq %d acknowledged twice: %r and %r"
                               % (context, room, seq, other, (mid, user, cmid)))
                return
            self.acked[key] = (room, seq, mid)
            self.by_room_seq[(room, seq)] = (mid, user, cmid)
            if (room, seq) not in self.states:
                self.states[(room, seq)] = MsgState(user, cmid, body, slot)
                self.room_msgs.setdefault(room, []).append(seq)
                if slot is not None:
                    self.slot_pool.setdefault(slot, []).append((room, seq))

    # ------------------------------------------------------------ provisioning

    def provision(self, port):
        admin = Client(port, ADMIN_TOKEN)
        n = self.args.users
        self.users = ["u%d" % i for i in range(n)]
        for name in self.users:
            st, _, js = admin.request("POST", "/v1/admin/users", {"name": name})
            if st != 201:
                raise RuntimeError("create user %s: %s %r%s" % (name, st, js, " (is the database fresh?)" if st == 409 else ""))
            self.user_ids[name] = js["id"]
            tokens = {}
            for dev in ("sender", "puller"):
                st, _, js = admin.request("POST", "/v1/admin/users/%s/devices" % name, {"name": dev})
                if st != 201:
                    raise RuntimeError("create device %s/%s: %s %r" % (name, dev, st, js))
                tokens[dev] = js["token"]
            self.send_tokens[name] = tokens["sender"]
            self.pullers[name] = Puller(name, tokens["puller"])
        admin.close()

        def client(name):
            return Client(port, self.send_tokens[name])

        # Direct rooms in a ring, and one more across.
        pairs = [(self.users[i], self.users[(i + 1) % n]) for i in range(n)] + [(self.users[0], self.users[n // 2])]
        for a, b in pairs:
            c = client(a)
            st, _, js = c.request("POST", "/v1/direct/%s" % b)
            c.close()
            if st not in (200, 201):
                raise RuntimeError("direct %s-%s: %s %r" % (a, b, st, js))
            self.rooms[js["id"]] = {"members": [a, b], "kind": "direct", "hot": False}
        # A small group (write diffusion) and, when the server has --hot-threshold, a
        # group of everyone that is a hot room (read diffusion).
        groups = [("small", self.users[:4], False)]
        if self.args.hot:
            groups.append(("everyone", list(self.users), True))
        for gname, members, hot in groups:
            c = client(members[0])
            st, _, js = c.request("POST", "/v1/rooms", {"name": gname, "members": members[1:]})
            c.close()
            if st != 201:
                raise RuntimeError("create group %s: %s %r" % (gname, st, js))
            self.rooms[js["id"]] = {"members": members, "kind": "group", "hot": hot}
        for name in self.users:
            self.user_rooms[name] = sorted(r for r, info in self.rooms.items() if name in info["members"])
            self.pullers[name].rooms = self.user_rooms[name]
        # Each pulling device starts from its first screen's cursor and acks it.
        for name, p in self.pullers.items():
            c = Client(port, p.token)
            st, _, js = c.request("GET", "/v1/conversations?limit=100&preview=0")
            if st != 200:
                raise RuntimeError("conversations %s: %s %r" % (name, st, js))
            p.cursor = js["cursor"]
            st, _, js = c.request("POST", "/v1/sync/ack", {"cursor": p.cursor})
            c.close()
            if st != 204:
                raise RuntimeError("ack %s: %s %r" % (name, st, js))
            p.confirmed = 0

    # ------------------------------------------------------------ load

    def fail_over(self, route, c, token, who, error):
        """After a failed request: a client on the next node, or None when the client
        stops (one node: it is being killed; several: the node it failed over to failed
        too, which is a violation)."""
        c.close()
        failed = route.name
        if not route.fail_over():
            if len(route.servers) > 1:
                self.violation("%s: %s failed too after failing over to it: %s" % (who, failed, error))
            return None
        with self.state_lock:
            self.failovers += 1
        return Client(route.port, token)

    def sender_loop(self, route, slot, user, stop, seed):
        rng = random.Random(seed)
        c = Client(route.port, self.send_tokens[user])
        rooms = self.user_rooms[user]
        try:
            while not stop.is_set():
                if rng.random() < self.args.change_rate:
                    done, c = self.change_once(route, c, slot, user, rng)
                    if c is None:
                        return
                    if done:
                        continue
                room = rng.choice(rooms)
                cmid = self.next_cmid(user)
                body = {"text": "%s says %d" % (user, rng.randrange(1 << 30)), "pad": "x" * rng.randrange(0, 300)}
                try:
                    st, _, js = c.request("POST", "/v1/rooms/%d/messages" % room, {"client_msg_id": cmid, "body": body})
                except NotSent as e:
                    with self.state_lock:
                        self.never_sent.add((user, cmid))
                    c = self.fail_over(route, c, self.send_tokens[user], "sender %s" % user, e)
                    if c is None:
                        return
                    continue
                except Lost as e:
                    with self.state_lock:
                        self.lost[(user, cmid)] = Send(user, room, cmid, body)
                        self.lost_ever.add((user, cmid))
                    c = self.fail_over(route, c, self.send_tokens[user], "sender %s" % user, e)
                    if c is None:
                        return
                    continue
                if st == 201:
                    self.record_ack(user, room, cmid, body, st, js, "send", slot)
                    with self.state_lock:
                        self.sends_during_load += 1
                elif st == 200:
                    self.violation("send: a new client_msg_id %s/%s answered 200: %r" % (user, cmid, js))
                else:
                    self.violation("send %s/%s to room %d: unexpected %s %r" % (user, cmid, room, st, js))
                    return
        finally:
            if c is not None:
                c.close()

    def count(self, what):
        with self.state_lock:
            self.change_counts[what] = self.change_counts.get(what, 0) + 1

    def change_once(self, route, c, slot, user, rng):
        """Instead of a send: an edit or a recall of one of the slot's own acknowledged
        messages (a recent one), or a reaction to some message of one of the user's
        rooms. Returns (whether a change was made, the client to go on with or None)."""
        pool = self.slot_pool.get(slot, [])
        r = rng.random()
        if r < 0.65 and pool:
            key = rng.choice(pool[-6:])
            pool.remove(key)            # no other change to it while this one is out
            st = self.states[key]
            kind = "recall" if r < 0.2 else "edit"
            op = [kind, None, "out"]
            if kind == "edit":
                with self.counter_lock:
                    self.counter += 1
                    n = self.counter
                op[1] = {"text": "%s edits %s (%d)" % (user, st.cmid, n), "edit": n}
                st.bodies.append(op[1])
            else:
                self.recall_issued.add(key)
            st.ops.append(op)
            path = "/v1/rooms/%d/messages/%d" % key
            try:
                if kind == "edit":
                    status, _, js = c.request("PATCH", path, {"body": op[1]})
                else:
                    status, _, js = c.request("DELETE", path)
            except NotSent as e:
                st.ops.remove(op)
                if kind == "recall":
                    self.recall_issued.discard(key)
                pool.append(key)
                return True, self.fail_over(route, c, self.send_tokens[user], "sender %s" % user, e)
            except Lost as e:
                op[2] = "lost"
                with self.state_lock:
                    self.lost_changes.append((key, op))
                self.count(kind + " lost")
                return True, self.fail_over(route, c, self.send_tokens[user], "sender %s" % user, e)
            if status != 200 or not isinstance(js, dict):
                self.violation("%s %s of room %d seq %d: unexpected %s %r" % (user, kind, key[0], key[1], status, js))
                return True, None
            self.check_change_answer("%s %s" % (user, kind), key, op, js)
            op[2] = "acked"
            self.count(kind + " acked")
            if kind == "edit":
                pool.append(key)
            return True, c
        rooms = [room for room in self.user_rooms[user] if self.room_msgs.get(room)]
        if not rooms:
            return False, c
        room = rng.choice(rooms)
        key = (room, rng.choice(self.room_msgs[room][-40:]))
        pkey = rng.choice(sorted(REACTION_KEYS))
        with self.state_lock:
            rec = self.reacts.setdefault(key, {}).setdefault(REACTION_KEYS[pkey], {"acked": set(), "lost": set()})
        try:
            status, _, js = c.request("PUT", "/v1/rooms/%d/messages/%d/reactions/%s" % (room, key[1], pkey))
        except NotSent as e:
            return True, self.fail_over(route, c, self.send_tokens[user], "sender %s" % user, e)
        except Lost as e:
            with self.state_lock:
                rec["lost"].add(user)
                self.lost_reacts.append((room, key[1], user, pkey))
            self.count("reaction lost")
            return True, self.fail_over(route, c, self.send_tokens[user], "sender %s" % user, e)
        if not self.check_reaction_answer("%s reaction" % user, key, REACTION_KEYS[pkey], status, js):
            return True, None
        if status == 200:
            with self.state_lock:
                rec["acked"].add(user)
        return True, c

    def check_change_answer(self, who, key, op, js):
        """A 200 to an edit (the message with the new body, edit_count one more than the
        edits acknowledged before it) or to a recall (the tombstone)."""
        st = self.states[key]
        if js.get("room_id") != key[0] or js.get("seq") != key[1] or js.get("client_msg_id") != st.cmid:
            self.violation("%s of room %d seq %d answered another message: %r" % (who, key[0], key[1], js))
        if op[0] == "recall":
            if js.get("deleted") is not True or "body" in js:
                self.violation("%s of room %d seq %d answered no tombstone: %r" % (who, key[0], key[1], js))
            return
        before = sum(1 for o in st.ops if o is not op and o[0] == "edit" and o[2] == "acked")
        if js.get("deleted") is True or js.get("body") != op[1] or js.get("edit_count") != before + 1:
            self.violation("%s of room %d seq %d answered %s, expected body %r, edit_count %d"
                           % (who, key[0], key[1], brief(js), op[1], before + 1))

    def check_reaction_answer(self, who, key, rkey, status, js):
        """A reaction's answer: 200 with the key counted and `me`, or 409 message_deleted
        when a recall of the message was sent. False on anything else (a violation)."""
        if status == 409 and isinstance(js, dict) and js.get("error", {}).get("code") == "message_deleted" \
                and key in self.recall_issued:
            return True
        if status != 200 or not isinstance(js, dict):
            self.violation("%s %s to room %d seq %d: unexpected %s %r" % (who, rkey, key[0], key[1], status, js))
            return False
        mine = [r for r in js.get("reactions", []) if r.get("key") == rkey]
        if js.get("seq") != key[1] or len(mine) != 1 or mine[0].get("me") is not True or mine[0].get("count", 0) < 1:
            self.violation("%s %s to room %d seq %d answered without it: %r" % (who, rkey, key[0], key[1], js))
        return True

    def puller_loop(self, route, p, stop):
        """Pulls with the cursor it holds and acks; after a failure (several nodes) it
        goes on against the next node with the same cursor."""
        c = Client(route.port, p.token)
        try:
            while not stop.is_set():
                try:
                    st, _, js = c.request("GET", "/v1/sync?cursor=%s&timeout=1&limit=%d" % (p.cursor, self.rng_limit(p)))
                except (NotSent, Lost) as e:
                    c = self.fail_over(route, c, p.token, "puller %s" % p.user, e)
                    if c is None:
                        return
                    continue
                if st != 200 or not isinstance(js, dict) or "cursor" not in js:
                    self.violation("pull %s: unexpected %s %r" % (p.user, st, js))
                    return
                msgs = self.messages_of(js, p.user)
                p.kept.extend(msgs)
                if js["cursor"] == p.cursor:
                    continue
                p.cursor = js["cursor"]
                p.pending = len(p.kept)
                try:
                    st, _, js = c.request("POST", "/v1/sync/ack", {"cursor": p.cursor})
                except (NotSent, Lost) as e:
                    c = self.fail_over(route, c, p.token, "puller %s" % p.user, e)
                    if c is None:
                        return
                    continue
                if st != 204:
                    self.violation("ack %s: unexpected %s %r" % (p.user, st, js))
                    return
                p.confirmed = p.pending
                p.pending = None
        finally:
            if c is not None:
                c.close()

    @staticmethod
    def rng_limit(p):
        # Small pages now and then, so cursors land between events of one commit.
        return 7 if (len(p.kept) % 3 == 0) else 100

    CHANGE_TYPES = ("edit", "delete", "reactions")

    def messages_of(self, js, who):
        """The message and change events of a pull, as (room, seq, type, id,
        client_msg_id, message) (Puller.kept). A change event has its own `seq` (the
        change row's) above the seq of the message it carries, in the same room."""
        out = []
        for e in js.get("events", []):
            t = e.get("type")
            if t == "message":
                m = e.get("message")
                try:
                    out.append((m["room_id"], m["seq"], t, m["id"], m["client_msg_id"], m))
                except (KeyError, TypeError):
                    self.violation("pull %s: malformed message event %r" % (who, e))
            elif t in self.CHANGE_TYPES:
                m = e.get("message")
                try:
                    room, seq, mid, cmid, target = e["room_id"], e["seq"], m["id"], m["client_msg_id"], m["seq"]
                    if not (isinstance(seq, int) and isinstance(target, int)) or m["room_id"] != room:
                        raise TypeError
                except (KeyError, TypeError):
                    self.violation("pull %s: malformed %s event %r" % (who, t, e))
                    continue
                if seq <= target:
                    self.violation("pull %s: %s event at room %d seq %d changes seq %d, not an earlier one"
                                   % (who, t, room, seq, target))
                if t == "delete" and (m.get("deleted") is not True or "body" in m):
                    self.violation("pull %s: delete event room %d seq %d carries no tombstone: %r" % (who, room, seq, m))
                out.append((room, seq, t, mid, cmid, m))
        return out

    def run_load(self, duration, cycle=0):
        """Starts the clients (spread over the nodes, shifted by one node per cycle) and
        lets them run for `duration` seconds; the caller stops them."""
        stop = threading.Event()
        threads = []
        for i, user in enumerate(self.users * self.args.senders_per_user):
            route = Route(self.servers, i + cycle)
            threads.append(threading.Thread(target=self.sender_loop, args=(route, i, user, stop, self.rng.randrange(1 << 30)),
                                            daemon=True))
        for i, user in enumerate(self.users):
            route = Route(self.servers, i + cycle + 1)
            threads.append(threading.Thread(target=self.puller_loop, args=(route, self.pullers[user], stop), daemon=True))
        for t in threads:
            t.start()
        time.sleep(duration)
        return stop, threads

    def pick_port(self):
        """A node for one check client: the only one, or any (several nodes)."""
        if len(self.servers) == 1:
            return self.servers[0].port
        return self.rng.choice(self.servers).port

    # ------------------------------------------------------------ after a restart

    def resend_lost(self, fraction):
        """Resends a random part of the sends whose responses were lost, with the same
        client_msg_id and body: 201 (it had not committed) or 200 duplicate (it had)."""
        with self.state_lock:
            keys = sorted(self.lost)
        self.rng.shuffle(keys)
        keys = keys[:int(round(len(keys) * fraction))]
        clients = {}
        for key in keys:
            s = self.lost[key]
            c = clients.get(s.user)
            if c is None:
                c = clients[s.user] = Client(self.pick_port(), self.send_tokens[s.user])
            for attempt in (1, 2):
                try:
                    st, _, js = c.request("POST", "/v1/rooms/%d/messages" % s.room, {"client_msg_id": s.cmid, "body": s.body})
                except (NotSent, Lost) as e:
                    self.violation("resend %s/%s: no response from a healthy server: %s" % (s.user, s.cmid, e))
                    break
                self.resends += 1
                dup = isinstance(js, dict) and js.get("duplicate")
                if attempt == 1 and st == 201 and dup is False:
                    self.resend_created += 1
                elif st == 200 and dup is True:
                    if attempt == 1:
                        self.resend_duplicate += 1
                else:
                    self.violation("resend %s/%s (attempt %d): expected %s, got %s %r"
                                   % (s.user, s.cmid, attempt, "201 or 200 duplicate" if attempt == 1 else "200 duplicate", st, js))
                    break
                self.record_ack(s.user, s.room, s.cmid, s.body, st, js, "resend")
                if attempt == 1:
                    del self.lost[key]
                # Every other one twice: the second must be the same message again.
                if attempt == 1 and self.rng.random() < 0.5:
                    break
        for c in clients.values():
            c.close()

    def repeat_lost_changes(self, fraction):
        """Repeats a random part of the edits, recalls and reactions whose responses were
        lost, as they were: whether the first one was done or not, the answer is the
        same (an edit: its body, edit_count one more than the acknowledged edits before
        it; a recall: the tombstone; a reaction: counted, or message_deleted), and no
        second change is made (the streams and the stored rows are checked after)."""
        with self.state_lock:
            changes, self.lost_changes = self.lost_changes, []
            reacts, self.lost_reacts = self.lost_reacts, []
        self.rng.shuffle(changes)
        self.rng.shuffle(reacts)
        n = int(round(len(changes) * fraction))
        changes, kept = changes[:n], changes[n:]
        n = int(round(len(reacts) * fraction))
        reacts, kept_reacts = reacts[:n], reacts[n:]
        for key, op in changes:
            st = self.states[key]
            c = Client(self.pick_port(), self.send_tokens[st.user])
            path = "/v1/rooms/%d/messages/%d" % key
            try:
                if op[0] == "edit":
                    status, _, js = c.request("PATCH", path, {"body": op[1]})
                else:
                    status, _, js = c.request("DELETE", path)
            except (NotSent, Lost) as e:
                self.violation("repeat of %s's %s of room %d seq %d: no response from a healthy server: %s"
                               % (st.user, op[0], key[0], key[1], e))
                kept.append((key, op))
                continue
            finally:
                c.close()
            self.repeats += 1
            if status != 200 or not isinstance(js, dict):
                self.violation("repeat of %s's %s of room %d seq %d: unexpected %s %r"
                               % (st.user, op[0], key[0], key[1], status, js))
                kept.append((key, op))
                continue
            self.check_change_answer("repeat of %s's %s" % (st.user, op[0]), key, op, js)
            op[2] = "acked"
            if op[0] == "edit" and st.slot is not None:
                self.slot_pool.setdefault(st.slot, []).append(key)
        for room, seq, user, pkey in reacts:
            c = Client(self.pick_port(), self.send_tokens[user])
            try:
                status, _, js = c.request("PUT", "/v1/rooms/%d/messages/%d/reactions/%s" % (room, seq, pkey))
            except (NotSent, Lost) as e:
                self.violation("repeat of %s's reaction to room %d seq %d: no response from a healthy server: %s"
                               % (user, room, seq, e))
                kept_reacts.append((room, seq, user, pkey))
                continue
            finally:
                c.close()
            self.repeats += 1
            rkey = REACTION_KEYS[pkey]
            if self.check_reaction_answer("repeat of %s's reaction" % user, (room, seq), rkey, status, js) and status == 200:
                rec = self.reacts[(room, seq)][rkey]
                rec["acked"].add(user)
                rec["lost"].discard(user)
        self.lost_changes.extend(kept)
        self.lost_reacts.extend(kept_reacts)

    def resume_pullers(self):
        """Each device pulls without a cursor (the server resumes from its acked cursor)
        and drains; what it keeps must continue exactly where its acked cursor was."""
        for name in self.users:
            p = self.pullers[name]
            c = Client(self.pick_port(), p.token)
            failed = False
            try:
                resumed = []
                path = "/v1/sync?timeout=0&limit=%d" % (self.rng.choice([5, 50, 1000]))
                cursor = None
                for _ in range(100000):
                    st, _, js = c.request("GET", path)
                    if st != 200 or not isinstance(js, dict) or "cursor" not in js:
                        self.violation("resume %s: pull %s answered %s %r" % (name, path, st, js))
                        failed = True
                        break
                    resumed.extend(self.messages_of(js, name))
                    cursor = js["cursor"]
                    if not js.get("has_more"):
                        break
                    path = "/v1/sync?cursor=%s&timeout=0&limit=100" % cursor
                if not failed:
                    st, _, js = c.request("POST", "/v1/sync/ack", {"cursor": cursor})
                    if st != 204:
                        self.violation("resume %s: ack answered %s %r" % (name, st, js))
            except (NotSent, Lost) as e:
                self.violation("resume %s: no response from a healthy server: %s" % (name, e))
                failed = True
            finally:
                c.close()
            if failed:
                continue

            # Where did the server resume? Right after the acked cursor: the last 204
            # (confirmed) or, if an ack's response was lost, possibly that one (pending).
            start = p.confirmed
            if p.pending is not None and p.pending != p.confirmed:
                # By (room, seq): a copy pulled again renders the message as it is now.
                between = [m[:2] for m in p.kept[p.confirmed:p.pending]]
                if not (between and [m[:2] for m in resumed[:len(between)]] == between):
                    start = p.pending
            # Events received after the last ack and never acked are not kept: the
            # device pulls them again.
            before = p.kept[:start]
            seen = set((m[0], m[1]) for m in before)
            for m in resumed:
                if (m[0], m[1]) in seen:
                    self.violation("resume %s: room %d seq %d delivered again after the device acked past it "
                                   "(kept %d, confirmed %d, pending %s)" % (name, m[0], m[1], len(p.kept), p.confirmed, p.pending))
                    break
            p.kept = before + resumed
            p.cursor = cursor
            p.confirmed = len(p.kept)
            p.pending = None

    def check_pullers(self, last_before, last_after, context, settled=False):
        """The device's kept stream: per room exactly seqs 1..N, in order, once each, N
        between the room's last_seq read before the device drained and after (a
        reactions flush may add change rows meanwhile). Its message events are the
        room's history (the acknowledged sends as acknowledged), the other seqs change
        events; each message's edit and delete events agree with its state in history,
        and the copy the device keeps of each message (the highest version; a
        tombstone wins) is history's, reactions aside (their events come up to about a
        second after the reaction) unless `settled` (every reactions event written):
        then also its reaction counts and its version."""
        for name in self.users:
            p = self.pullers[name]
            per_room = {}
            msg_seqs = {}
            best = {}
            edits = {}
            deletes = {}
            for room, seq, t, mid, cmid, m in p.kept:
                per_room.setdefault(room, []).append(seq)
                mseq = seq if t == "message" else m["seq"]
                key = (room, mseq)
                if t == "message":
                    msg_seqs.setdefault(room, set()).add(seq)
                elif t == "edit":
                    edits[key] = edits.get(key, 0) + 1
                    if key in deletes:
                        self.violation("%s: %s received an edit of room %d seq %d (at seq %d) after its delete (at seq %d)"
                                       % (context, name, room, mseq, seq, deletes[key][0]))
                elif t == "delete":
                    deletes.setdefault(key, []).append(seq)
                known = self.by_room_seq.get(key)
                if known is not None and (known[0], known[2]) != (mid, cmid):
                    self.violation("%s: %s received room %d seq %d (%s event at seq %d) as id %d %s, acknowledged as %r"
                                   % (context, name, room, mseq, t, seq, mid, cmid, known))
                self.check_copy("%s: %s's %s event at seq %d" % (context, name, t, seq), key, m)
                b = best.get(key)
                if b is None or (b.get("deleted") is not True and
                                 (m.get("deleted") is True or m.get("version", 0) > b.get("version", 0))):
                    best[key] = m
            for room in set(per_room) - set(p.rooms):
                self.violation("%s: %s received messages of room %d, not one of its rooms" % (context, name, room))
            for room in p.rooms:
                seqs = per_room.get(room, [])
                want = list(range(1, len(seqs) + 1))
                if seqs != want or not (last_before[room] <= len(seqs) <= last_after[room]):
                    want = list(range(1, max(last_before[room], min(len(seqs), last_after[room])) + 1))
                    self.violation("%s: %s's stream for room %d is not 1..N once each in order, last_seq %d..%d: %s"
                                   % (context, name, room, last_before[room], last_after[room], describe_seqs(seqs, want)))
                hist = self.history.get(room, {})
                got = msg_seqs.get(room, set())
                if got != set(hist):
                    self.violation("%s: %s's message events of room %d are not its history: missing %s, not in history %s"
                                   % (context, name, room, sorted(set(hist) - got)[:10], sorted(got - set(hist))[:10]))
                for mseq, h in hist.items():
                    key = (room, mseq)
                    deleted = h.get("deleted") is True
                    nd = len(deletes.get(key, []))
                    ne = edits.get(key, 0)
                    if nd != (1 if deleted else 0):
                        self.violation("%s: %s received %d delete events of room %d seq %d, which history shows %s"
                                       % (context, name, nd, room, mseq, "recalled" if deleted else "not recalled"))
                    if not deleted and ne != h.get("edit_count", 0):
                        self.violation("%s: %s received %d edit events of room %d seq %d, history shows edit_count %s"
                                       % (context, name, ne, room, mseq, h.get("edit_count", 0)))
                    b = best.get(key)
                    if b is None:
                        continue
                    if ((b.get("deleted") is True) != deleted or b.get("version", 0) > h.get("version", 0) or
                            (not deleted and (b.get("body") != h.get("body") or
                                              b.get("edit_count", 0) != h.get("edit_count", 0))) or
                            (settled and (b.get("version", 0) != h.get("version", 0) or counts(b) != counts(h)))):
                        self.violation("%s: %s keeps room %d seq %d as %s, history shows %s"
                                       % (context, name, room, mseq, brief(b, counts(b)), brief(h, counts(h))))

    def check_copy(self, where, key, m):
        """A copy of a message (an event's, or history's): a tombstone carries nothing of
        what was said; otherwise the body is one the message had (as sent or as edited)."""
        if m.get("deleted") is True:
            extra = [f for f in ("body", "edited_at", "edit_count", "reactions") if f in m]
            if extra:
                self.violation("%s: room %d seq %d is a tombstone with %s: %r" % (where, key[0], key[1], extra, m))
            return
        if "deleted" in m or "body" not in m:
            self.violation("%s: room %d seq %d: malformed message %r" % (where, key[0], key[1], m))
            return
        st = self.states.get(key)
        if st is not None and m["body"] not in st.bodies:
            self.violation("%s: room %d seq %d has a body it never had: %r" % (where, key[0], key[1], m["body"]))

    def check_history(self, port, context):
        """History of every room: messages only (a change row's seq is not listed), in
        seq order within 1..last_seq, each acknowledged message once, with its id and
        client_msg_id. Returns ({room: last_seq}, {room: {seq: message}})."""
        last_seqs = {}
        history = {}
        for room, info in sorted(self.rooms.items()):
            member = info["members"][-1]
            c = Client(port, self.pullers[member].token)
            try:
                st, _, js = c.request("GET", "/v1/rooms/%d" % room)
                if st != 200:
                    self.violation("%s: GET room %d answered %s %r" % (context, room, st, js))
                    continue
                last = js["last_seq"]
                last_seqs[room] = last
                msgs = []
                before = None
                for _ in range(100000):
                    path = "/v1/rooms/%d/messages?limit=100" % room + ("&before=%d" % before if before else "")
                    st, _, js = c.request("GET", path)
                    if st != 200:
                        self.violation("%s: history %s answered %s %r" % (context, path, st, js))
                        break
                    msgs = js["messages"] + msgs
                    before = js.get("next_before")
                    if before is None:
                        break
            except (NotSent, Lost) as e:
                self.violation("%s: history of room %d: no response: %s" % (context, room, e))
                continue
            finally:
                c.close()
            seqs = [m["seq"] for m in msgs]
            if seqs != sorted(set(seqs)) or (seqs and (seqs[0] < 1 or seqs[-1] > last)):
                self.violation("%s: room %d history seqs are not increasing within 1..%d: %s"
                               % (context, room, last, describe_seqs(seqs, sorted(set(s for s in seqs if 1 <= s <= last)))))
            history[room] = {m["seq"]: m for m in msgs}
            keys = {}
            for m in msgs:
                k = (m["sender"], m["client_msg_id"])
                if k in keys:
                    self.violation("%s: room %d has %s/%s twice (seq %d and %d)" % (context, room, k[0], k[1], keys[k], m["seq"]))
                keys[k] = m["seq"]
                known = self.by_room_seq.get((room, m["seq"]))
                if known is not None and known != (m["id"], m["sender"], m["client_msg_id"]):
                    self.violation("%s: room %d seq %d is %r, acknowledged as %r"
                                   % (context, room, m["seq"], (m["id"], m["sender"], m["client_msg_id"]), known))
                if k in self.never_sent:
                    self.violation("%s: %s/%s exists but was never sent" % (context, k[0], k[1]))
            by_seq = {m["seq"]: m for m in msgs}
            for (r, seq), (mid, user, cmid) in self.by_room_seq.items():
                if r != room:
                    continue
                m = by_seq.get(seq)
                if m is None:
                    self.violation("%s: acknowledged message %s/%s (room %d seq %d id %d) is missing"
                                   % (context, user, cmid, room, seq, mid))
            for m in msgs:
                self.check_copy("%s: history" % context, (room, m["seq"]), m)
                if (room, m["seq"]) in self.states:
                    self.check_state("%s: history" % context, (room, m["seq"]), m, member)
        return last_seqs, history

    def allowed_states(self, key):
        """What the message at `key` may be now, from what its sender did: ("tombstone",)
        or ("body", body, edit_count). Acknowledged edits and recalls are done; the last
        change, when its response was lost, may or may not be."""
        st = self.states[key]
        body, edits, recalled = st.base, 0, False
        for kind, b, status in st.ops:
            if status == "acked":
                if kind == "edit":
                    body, edits = b, edits + 1
                else:
                    recalled = True
        if recalled:
            return [("tombstone",)]
        allowed = [("body", body, edits)]
        if st.ops and st.ops[-1][2] == "lost":
            last = st.ops[-1]
            allowed.append(("tombstone",) if last[0] == "recall" else ("body", last[1], edits + 1))
        return allowed

    def check_state(self, where, key, m, viewer):
        """A message as history shows it against what was done to it: the state its
        acknowledged changes made (or that of a lost last one); its reactions count every
        acknowledged one and none never made (unless it is a tombstone: a recall takes
        them all), `me` for the viewer; and its version is its edits plus its reactions
        (each counts one; reactions are only added here)."""
        state = ("tombstone",) if m.get("deleted") is True else ("body", m.get("body"), m.get("edit_count", 0))
        allowed = self.allowed_states(key)
        if state not in allowed:
            self.violation("%s: room %d seq %d is %s; what was done to it allows only %s"
                           % (where, key[0], key[1], brief(m), " or ".join(
                               "a tombstone" if a[0] == "tombstone" else "body %r, edit_count %d" % a[1:] for a in allowed)))
        if state[0] == "tombstone":
            return
        if (m.get("edit_count", 0) > 0) != ("edited_at" in m):
            self.violation("%s: room %d seq %d: edit_count and edited_at disagree: %r" % (where, key[0], key[1], m))
        shown = {}
        for r in m.get("reactions", []):
            shown[r.get("key")] = r
        rec = self.reacts.get(key, {})
        for rkey, r in sorted(rec.items()):
            if r["acked"] and shown.get(rkey, {}).get("count", 0) < len(r["acked"]):
                self.violation("%s: room %d seq %d counts %s %d times, %d reactions acknowledged (%s)"
                               % (where, key[0], key[1], rkey, shown.get(rkey, {}).get("count", 0), len(r["acked"]),
                                  ", ".join(sorted(r["acked"]))))
        for rkey, x in sorted(shown.items()):
            r = rec.get(rkey, {"acked": set(), "lost": set()})
            maybe = r["acked"] | r["lost"]
            if x.get("count", 0) > len(maybe) or x.get("count", 0) < 1:
                self.violation("%s: room %d seq %d counts %s %s times, but only %d reactions were made (%d acknowledged)"
                               % (where, key[0], key[1], rkey, x.get("count"), len(maybe), len(r["acked"])))
            if (viewer in r["acked"] and x.get("me") is not True) or (viewer not in maybe and x.get("me") is not False):
                self.violation("%s: room %d seq %d shows %s with me=%r to %s"
                               % (where, key[0], key[1], rkey, x.get("me"), viewer))
        version = state[2] + sum(x.get("count", 0) for x in shown.values())
        if m.get("version", 0) != version:
            self.violation("%s: room %d seq %d has version %s, not its %d edits plus %d reactions"
                           % (where, key[0], key[1], m.get("version", 0), state[2], version - state[2]))

    def room_last_seqs(self, context):
        """Each room's last_seq now (GET /v1/rooms/{id} as one of its members)."""
        out = {}
        for room, info in sorted(self.rooms.items()):
            c = Client(self.pick_port(), self.pullers[info["members"][-1]].token)
            try:
                st, _, js = c.request("GET", "/v1/rooms/%d" % room)
            except (NotSent, Lost) as e:
                self.violation("%s: GET room %d: no response: %s" % (context, room, e))
                continue
            finally:
                c.close()
            if st != 200:
                self.violation("%s: GET room %d answered %s %r" % (context, room, st, js))
                continue
            out[room] = js["last_seq"]
        return out

    # ------------------------------------------------------------ final database check

    def check_sqlite(self, db_path):
        uri = "file:%s?mode=ro" % db_path
        db = sqlite3.connect(uri, uri=True)
        try:
            ok = db.execute("PRAGMA integrity_check").fetchall()
            if ok != [("ok",)]:
                self.violation("sqlite: integrity_check: %r" % ok[:10])
            stored = self.check_stored(lambda sql: db.execute(sql).fetchall(), "sqlite", "hex(reactions)")
        finally:
            db.close()
        self.check_recalled_text(db_path)
        return stored

    TEXT = re.compile(rb"u[0-9]+ (?:says [0-9]+|edits u[0-9]+-[0-9]+ \([0-9]+\))")

    def check_recalled_text(self, db_path):
        """SQLite after the clean stop: no text a recalled message had (as sent or as
        edited) is in the database's files (secure_delete, the WAL truncated after a
        recall and at the close: docs/message-changes.md)."""
        recalled = set()
        for key in getattr(self, "stored_tombstones", ()):
            st = self.states.get(key)
            if st is not None:
                recalled.update(b["text"] for b in st.bodies if isinstance(b, dict))
        directory, base = os.path.split(db_path)
        for name in sorted(os.listdir(directory)):
            if not name.startswith(base):
                continue
            with open(os.path.join(directory, name), "rb") as f:
                found = set(t.decode() for t in self.TEXT.findall(f.read())) & recalled
            if found:
                self.violation("sqlite: %s holds %d texts of recalled messages, e.g. %r" % (name, len(found), sorted(found)[:5]))
        print("sqlite: %d texts of %d recalled messages looked for in the files"
              % (len(recalled), len(getattr(self, "stored_tombstones", ()))))

    def check_postgres(self, url):
        """The same checks as on the SQLite file, through psql. Then amcheck on every
        btree index (with the heap) and on every table, when the extension can be
        created (a superuser, postgresql-contrib); otherwise it says so and goes on."""
        psql = Psql(self.args.psql, url)
        stored = self.check_stored(psql.query, "postgres", "encode(convert_to(reactions, 'UTF8'), 'hex')")
        try:
            psql.query("CREATE EXTENSION IF NOT EXISTS amcheck")
        except PsqlError as e:
            print("postgres: amcheck not available, index and heap checks skipped: %s" % e)
            return stored
        try:
            indexes = psql.query(
                "SELECT c.oid, c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_am am ON am.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE am.amname = 'btree' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg_toast%' AND c.relpersistence <> 't' AND i.indisvalid AND i.indisready")
            for oid, name in indexes:
                try:
                    psql.query("SELECT bt_index_check(%d, true)" % oid)
                except PsqlError as e:
                    self.violation("postgres: amcheck on index %s: %s" % (name, e))
            tables = psql.query(
                "SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg_toast%'")
            for oid, name in tables:
                rows = psql.query("SELECT blkno, offnum, msg FROM verify_heapam(%d)" % oid)
                if rows:
                    self.violation("postgres: amcheck on table %s: %r" % (name, rows[:5]))
            print("postgres: amcheck: %d btree indexes and %d tables verified" % (len(indexes), len(tables)))
        except PsqlError as e:
            self.violation("postgres: amcheck failed: %s" % e)
        return stored

    def check_stored(self, query, label, reactions_hex):
        """The stored data against what the clients saw. `query(sql)` returns the rows
        as tuples (ints as ints, NULL as None); the SQL is the same for both stores but
        `reactions_hex`, the expression for messages.reactions in hex (its separators
        are psql's)."""
        names = {uid: name for name, uid in self.user_ids.items()}
        rooms = {r: (last, hot, since) for r, last, hot, since in
                 query("SELECT id, last_seq, hot, hot_since_seq FROM rooms")}
        # Rows of every kind (messages and changes): gapless per room. Messages: each
        # acknowledged one exactly once, as acknowledged.
        rows = query("SELECT id, room_id, seq, sender_id, client_msg_id, kind, target_seq FROM messages")
        per_room = {}
        per_key = {}
        change_targets = {}             # (room, change seq) -> the seq of the message it changes
        for mid, room, seq, sender, cmid, kind, target in rows:
            per_room.setdefault(room, []).append(seq)
            if kind == "message":
                per_key.setdefault((names.get(sender), cmid), []).append((room, seq, mid))
            else:
                change_targets[(room, seq)] = target
        for room, (last, _, _) in rooms.items():
            seqs = sorted(per_room.get(room, []))
            if seqs != list(range(1, last + 1)):
                self.violation("%s: room %d messages are not seqs 1..%d: %s"
                               % (label, room, last, describe_seqs(seqs, list(range(1, last + 1)))))
        for key, (room, seq, mid) in self.acked.items():
            found = per_key.get(key, [])
            if found != [(room, seq, mid)]:
                self.violation("%s: acknowledged %s/%s (room %d seq %d id %d) found as %r"
                               % ((label,) + key + (room, seq, mid, found)))
        for key, found in per_key.items():
            if len(found) > 1:
                self.violation("%s: %s/%s stored %d times: %r" % (label, key[0], key[1], len(found), found))
            if key not in self.acked and key not in self.lost:
                self.violation("%s: %s/%s stored but never acknowledged nor lost%s"
                               % (label, key[0], key[1], " (its connection was refused)" if key in self.never_sent else ""))
        # Inbox: each member, each message of a non-hot room (of a hot room: up to
        # hot_since_seq) after the member joined, exactly once; so each change row (also
        # of kind 'message' in the inbox) whose message is after the member's join.
        counts = {}
        for user, room, rseq, n in query(
                "SELECT user_id, room_id, room_seq, count(*) FROM inbox WHERE kind = 'message' GROUP BY 1, 2, 3"):
            counts[(user, room, rseq)] = n
        expected = set()
        for room, user, joined in query("SELECT room_id, user_id, joined_seq FROM members"):
            last, hot, since = rooms[room]
            upto = last if not hot else (since or 0)
            for s in range(joined + 1, upto + 1):
                target = change_targets.get((room, s))
                if target is None or target > joined:
                    expected.add((user, room, s))
        checked_inbox = 0
        for key in expected:
            n = counts.get(key, 0)
            checked_inbox += 1
            if n != 1:
                self.violation("%s: inbox of user %s has room %d seq %d %d times"
                               % (label, names.get(key[0], key[0]), key[1], key[2], n))
        for key, n in counts.items():
            if key not in expected:
                self.violation("%s: inbox of user %s has room %d seq %d (%d rows) that it should not have"
                               % (label, names.get(key[0], key[0]), key[1], key[2], n))
        self.inbox_rows_checked = checked_inbox
        self.check_stored_changes(query, label, reactions_hex, names)
        # Inbox seqs per user: gapless 1..users.inbox_seq.
        for uid, inbox_seq, n, mx in query(
                "SELECT u.id, u.inbox_seq, count(i.seq), coalesce(max(i.seq), 0) FROM users u "
                "LEFT JOIN inbox i ON i.user_id = u.id GROUP BY u.id"):
            if not (n == inbox_seq == mx):
                self.violation("%s: user %s inbox_seq %d but %d rows up to %d" % (label, names.get(uid, uid), inbox_seq, n, mx))
        for did, uid, acked, inbox_seq in query(
                "SELECT d.id, d.user_id, d.acked_seq, u.inbox_seq FROM devices d JOIN users u ON u.id = d.user_id"):
            if acked > inbox_seq:
                self.violation("%s: device %d acked_seq %d past its user's inbox_seq %d" % (label, did, acked, inbox_seq))
        return len(rows)

    def check_stored_changes(self, query, label, reactions_hex, names):
        """The message changes as stored. A change row (kind edit, delete or reactions)
        changes an earlier message row of its room and holds no text. A message row is
        what its sender's changes made it (as in history); a tombstone keeps nothing
        (body empty, no edits, no reaction counts, no reactions rows). Its edit and delete
        rows agree with it (one delete row for a tombstone, after every edit row; as many
        edit rows as edit_count otherwise, as many as the acknowledged edits, one more at
        most for a lost one). The reactions table holds every acknowledged reaction (but
        of a tombstone) and none never made; the row's counts are the table's, its version
        its edits plus its reactions; and a message with reactions has a `reactions` row
        or a mark for the next flush."""
        # The hex with a letter before it: psql's rows would make an all-digit one a number.
        rows = query("SELECT room_id, seq, kind, target_seq, body, edit_count, edited_at, deleted_at, version, "
                     "'x' || %s, sent_at FROM messages" % reactions_hex)
        msgs = {}
        changes = []
        for row in rows:
            if row[2] == "message":
                msgs[(row[0], row[1])] = row
            else:
                changes.append(row)
        edit_rows, delete_rows, reaction_rows = {}, {}, {}
        for room, seq, kind, target, body, _, _, _, _, _, sent_at in changes:
            key = (room, target)
            if kind not in self.CHANGE_TYPES or body != "" or target is None or target >= seq or key not in msgs:
                self.violation("%s: change row room %d seq %d (%s of seq %s, body %r) is not a change of an earlier message"
                               % (label, room, seq, kind, target, body))
                continue
            by_kind = {"edit": edit_rows, "delete": delete_rows, "reactions": reaction_rows}
            by_kind[kind].setdefault(key, []).append((seq, sent_at))
        reacted = {}
        # The key with a letter before it: psql's rows would make a key "+1" the number 1.
        for room, seq, uid, rkey, created in query("SELECT room_id, seq, user_id, 'k' || key, created_at FROM reactions"):
            reacted.setdefault((room, seq), []).append((names.get(uid, uid), rkey[1:], created))
        marks = set((r, s) for r, s in query("SELECT room_id, seq FROM reaction_marks"))
        self.stored_tombstones = set(k for k, row in msgs.items() if row[7] is not None)
        for key, (room, seq, _, _, body, edit_count, edited_at, deleted_at, version, rhex, _) in sorted(msgs.items()):
            stored_counts = {}
            rhex = (rhex or "x")[1:]
            for part in (bytes.fromhex(rhex).decode("utf-8").split("\x1e") if rhex else []):
                k, _, n = part.partition("\x1f")
                stored_counts[k] = int(n)
            edits = sorted(edit_rows.get(key, []))
            deletes = sorted(delete_rows.get(key, []))
            table = reacted.get(key, [])
            st = self.states.get(key)
            if st is None:
                # Not acknowledged (a lost send never resolved): nobody changed it.
                if deleted_at is not None or edit_count or version or stored_counts or edits or deletes or table:
                    self.violation("%s: room %d seq %d, never acknowledged, has changes (edit_count %s, deleted_at %s, "
                                   "version %s, %d edit rows, %d delete rows, %d reactions)"
                                   % (label, room, seq, edit_count, deleted_at, version, len(edits), len(deletes), len(table)))
                continue
            where = "%s: room %d seq %d (%s/%s)" % (label, room, seq, st.user, st.cmid)
            if deleted_at is not None:
                state = ("tombstone",)
                if body != "" or edit_count or edited_at is not None or rhex or table:
                    self.violation("%s: a tombstone that keeps something: body %r, edit_count %s, edited_at %s, "
                                   "reactions %r, %d reactions rows"
                                   % (where, body, edit_count, edited_at, stored_counts, len(table)))
            else:
                try:
                    state = ("body", json.loads(body), edit_count)
                except ValueError:
                    state = ("body", body, edit_count)
            allowed = self.allowed_states(key)
            if state not in allowed:
                self.violation("%s: stored as %s; what was done to it allows only %s" % (where, state, allowed))
            acked_edits = sum(1 for o in st.ops if o[0] == "edit" and o[2] == "acked")
            lost_edit = 1 if st.ops and st.ops[-1][0] == "edit" and st.ops[-1][2] == "lost" else 0
            if not (acked_edits <= len(edits) <= acked_edits + lost_edit):
                self.violation("%s: %d edit rows for %d acknowledged edits (%d lost)"
                               % (where, len(edits), acked_edits, lost_edit))
            if len(deletes) != (1 if deleted_at is not None else 0):
                self.violation("%s: %d delete rows, deleted_at %s" % (where, len(deletes), deleted_at))
            if deletes and edits and edits[-1][0] > deletes[0][0]:
                self.violation("%s: an edit row (seq %d) after its delete row (seq %d)" % (where, edits[-1][0], deletes[0][0]))
            if deleted_at is not None:
                continue
            if edit_count != len(edits) or (edit_count > 0) != (edited_at is not None):
                self.violation("%s: edit_count %d, edited_at %s, %d edit rows" % (where, edit_count, edited_at, len(edits)))
            by_key = {}
            for user, rkey, _ in table:
                by_key.setdefault(rkey, set()).add(user)
                r = self.reacts.get(key, {}).get(rkey)
                if r is None or user not in (r["acked"] | r["lost"]):
                    self.violation("%s: a reaction %s by %s that was never made" % (where, rkey, user))
            for rkey, r in sorted(self.reacts.get(key, {}).items()):
                if not r["acked"] <= by_key.get(rkey, set()):
                    self.violation("%s: acknowledged reactions %s by %s are not stored"
                                   % (where, rkey, sorted(r["acked"] - by_key.get(rkey, set()))))
            if stored_counts != {k: len(v) for k, v in by_key.items()}:
                self.violation("%s: stored counts %r, reactions table %r"
                               % (where, stored_counts, {k: len(v) for k, v in by_key.items()}))
            if version != edit_count + len(table):
                self.violation("%s: version %d, not its %d edits plus %d reactions" % (where, version, edit_count, len(table)))
            # (Whether the row came after the last reaction is the devices' final check:
            # a unit's timestamp is taken before it waits for the message row's lock.)
            if table and key not in marks and not reaction_rows.get(key):
                self.violation("%s: %d reactions with neither a reactions row nor a mark" % (where, len(table)))

    # ------------------------------------------------------------ main

    def check_nodes(self, context):
        """History through every node; all must show the same messages (no client
        writes now) and rooms at the same last_seq, or later on a node asked later (the
        reactions flush may still write change rows). Returns {room: last_seq} of the
        first and keeps its history in self.history."""
        if len(self.servers) == 1:
            first, self.history = self.check_history(self.servers[0].port, context)
            return first
        first = prev = None
        for server in self.servers:
            last_seqs, history = self.check_history(server.port, "%s via %s" % (context, server.name))
            if first is None:
                first, self.history = last_seqs, history
            else:
                if set(last_seqs) != set(prev) or any(last_seqs[r] < prev[r] for r in prev):
                    self.violation("%s: %s shows rooms at %r, %s (asked after it) at %r"
                                   % (context, self.servers[0].name, prev, server.name, last_seqs))
                if history != self.history:
                    diff = [(r, s) for r in set(history) | set(self.history)
                            for s in set(history.get(r, {})) | set(self.history.get(r, {}))
                            if history.get(r, {}).get(s) != self.history.get(r, {}).get(s)]
                    self.violation("%s: %s and %s show different messages at (room, seq) %r"
                                   % (context, self.servers[0].name, server.name, sorted(diff)[:10]))
            prev = last_seqs
        return first

    def check_all(self, context, settle=False):
        """After the load: history through every node, then each device drains its
        stream, then the streams against history and the rooms' last_seq before and
        after the drain. With `settle` (the final check), first until the reactions
        flush has written its events (no mark left in the store): then each device's
        copy of every message is history's, reactions and version too."""
        if settle:
            deadline = time.monotonic() + 30
            while self.marks_left() and time.monotonic() < deadline:
                time.sleep(0.2)
            if self.marks_left():
                self.violation("%s: reaction marks still not flushed 30 s after the load" % context)
        last_before = self.check_nodes(context)
        self.resume_pullers()
        last_after = self.room_last_seqs(context)
        if len(last_before) == len(self.rooms) == len(last_after):
            self.check_pullers(last_before, last_after, context, settled=settle)

    def marks_left(self):
        """The reaction marks not flushed yet, read in the store (a read-only SQLite
        connection beside the server, or psql)."""
        sql = "SELECT count(*) FROM reaction_marks"
        if self.args.database_url is not None:
            return Psql(self.args.psql, self.args.database_url).query(sql)[0][0]
        db = sqlite3.connect("file:%s?mode=ro" % self.sqlite_path, uri=True, timeout=10)
        try:
            return db.execute(sql).fetchone()[0]
        finally:
            db.close()

    def run(self):
        tmp = tempfile.mkdtemp(prefix="pigeonhole-crash-")
        data_dir = os.path.join(tmp, "data")
        self.sqlite_path = os.path.join(data_dir, "pigeonhole.sqlite")
        keep = self.args.keep
        extra = []
        help_text = subprocess.run([self.args.binary, "serve", "--help"], capture_output=True, text=True).stdout
        if "--send-rate" in help_text:
            extra += ["--send-rate", "0"]          # this test sends as fast as it can on purpose
        if "--auth-failures-per-minute" in help_text:
            extra += ["--auth-failures-per-minute", "0"]
        if "--room-rate" in help_text:
            extra += ["--room-rate", "0", "--member-rate", "0"]   # provisioning makes rooms in a burst
        if "--room-membership-rate" in help_text:
            extra += ["--room-membership-rate", "0"]
        self.args.hot = "--hot-threshold" in help_text
        if self.args.hot:
            extra += ["--hot-threshold", str(self.args.users)]   # the group of everyone is hot
        extra += self.args.serve_arg
        pg = self.args.database_url is not None
        if pg:
            binary = os.path.abspath(self.args.binary)           # the nodes run in the temp directory
            self.servers = [Server(binary, ["--database", self.args.database_url], tmp, extra,
                                   name="node%d" % (i + 1), cwd=tmp) for i in range(self.args.nodes)]
        else:
            self.servers = [Server(self.args.binary, ["--data-dir", data_dir, "--durability", "full"], tmp, extra)]
        server = self.servers[0]
        multi = len(self.servers) > 1
        t0 = time.monotonic()
        try:
            for node in self.servers:          # one after the other: the first one migrates
                node.start()
            self.provision(server.port)
            for cycle in range(1, self.args.cycles + 1):
                duration = self.rng.uniform(0.2, 1.5)
                stop, threads = self.run_load(duration, cycle)
                if multi:
                    # One node (in turn) dies under load; its clients go on against the
                    # others; it comes back while they run.
                    victim = self.servers[(cycle - 1) % len(self.servers)]
                    victim.kill()
                    time.sleep(self.rng.uniform(0.3, 1.0))
                    victim.start()
                    time.sleep(self.rng.uniform(0.1, 0.5))
                    stop.set()
                else:
                    server.kill()
                    stop.set()
                for t in threads:
                    t.join(timeout=30)
                    if t.is_alive():
                        self.violation("cycle %d: a client thread did not finish 30 s after the %s"
                                       % (cycle, "load stopped" if multi else "kill"))
                self.cycles = cycle
                if not multi:
                    server.start()
                context = "cycle %d" % cycle
                self.resend_lost(0.6)
                self.repeat_lost_changes(0.6)
                self.check_all(context)
                if self.args.verbose:
                    print("%s: %.2f s of load%s, %d acknowledged, %d lost pending resend, %d resends, %.1f s elapsed"
                          % (context, duration, (", %s killed, %d client failovers so far" % (victim.name, self.failovers))
                             if multi else "", len(self.acked), len(self.lost), self.resends, time.monotonic() - t0),
                          flush=True)
            # Settle half of what is still unresolved; leave the rest unknown (each
            # must then exist at most once).
            self.resend_lost(0.5)
            self.repeat_lost_changes(0.5)
            self.check_all("final", settle=True)
            for node in self.servers:
                rc = node.stop()
                if rc != 0:
                    self.violation("clean stop%s: exit code %s; log tail:\n%s"
                                   % (" of " + node.name if multi else "", rc, node.log_tail()))
            if pg:
                stored = self.check_postgres(self.args.database_url)
            else:
                stored = self.check_sqlite(os.path.join(data_dir, "pigeonhole.sqlite"))
        except Exception as e:
            self.violation("test aborted: %s: %s\n%s" % (type(e).__name__, e, "\n".join(
                "%s log tail:\n%s" % (node.name, node.log_tail()) for node in self.servers)))
            for node in self.servers:
                if node.proc is not None and node.proc.poll() is None:
                    node.proc.kill()
                    node.proc.wait()
            stored = None
            keep = True
        elapsed = time.monotonic() - t0
        if self.violations:
            keep = True
        print("seed %d; %d messages and changes stored, %d lost responses (%d resent: %d created, %d duplicates; "
              "%d left unresolved), %d inbox entries checked, %.1f s"
              % (self.args.seed, stored or 0, len(self.lost_ever), self.resend_created + self.resend_duplicate,
                 self.resend_created, self.resend_duplicate, len(self.lost),
                 getattr(self, "inbox_rows_checked", 0), elapsed))
        cc = self.change_counts
        reactions = sum(len(k["acked"]) for r in self.reacts.values() for k in r.values())
        print("changes during the load: %d edits, %d recalls, %d reactions acknowledged; %d, %d, %d lost "
              "(%d repeated after a restart)"
              % (cc.get("edit acked", 0), cc.get("recall acked", 0), reactions,
                 cc.get("edit lost", 0), cc.get("recall lost", 0), cc.get("reaction lost", 0), self.repeats))
        if multi:
            print("%d nodes on one PostgreSQL database; %d client failovers to another node"
                  % (len(self.servers), self.failovers))
        if keep:
            print("data and server logs kept in %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        print("crash test: %d kill cycles, %d acknowledged messages checked, %d violations%s"
              % (self.cycles, len(self.acked), len(self.violations),
                 " (postgres, %d nodes)" % len(self.servers) if pg else ""), flush=True)
        return 1 if self.violations else 0


def counts(m):
    """A message's reaction counts, as [(key, count)]."""
    return sorted((r.get("key"), r.get("count")) for r in m.get("reactions", []))


def brief(m, counts=None):
    """A message's state in a few words (with its reaction counts, when given)."""
    if m.get("deleted") is True:
        return "a tombstone (version %s)" % m.get("version", 0)
    return "body %r, edit_count %s, version %s%s" % (m.get("body"), m.get("edit_count", 0), m.get("version", 0),
                                                     ", reactions %r" % counts if counts else "")


def describe_seqs(seqs, want):
    """A short description of how a seq list differs from the wanted one."""
    got = set(seqs)
    missing = [s for s in want if s not in got]
    dups = sorted(set(s for s in seqs if seqs.count(s) > 1)) if len(seqs) < 5000 else []
    extra = sorted(got - set(want))
    order = "" if seqs == sorted(seqs) else ", out of order"
    return "%d seqs, missing %s, repeated %s, unexpected %s%s" % (len(seqs), missing[:10], dups[:10], extra[:10], order)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True, help="the built pigeonhole executable")
    ap.add_argument("--cycles", type=int, default=12, help="SIGKILL/restart cycles (default 12)")
    ap.add_argument("--users", type=int, default=6, help="users, each with a sending and a pulling device (default 6)")
    ap.add_argument("--senders-per-user", type=int, default=2,
                    help="concurrent sending connections per user (default 2)")
    ap.add_argument("--change-rate", type=float, default=0.1,
                    help="the part of the senders' operations that edit, recall or react instead of sending (default 0.1)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: random, printed)")
    ap.add_argument("--keep", action="store_true", help="keep the data directory and logs")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per cycle")
    ap.add_argument("--database-url", default=None, metavar="URL",
                    help="PostgreSQL: run the nodes with `serve --database URL` (a fresh database) and check it with psql")
    ap.add_argument("--nodes", type=int, default=None,
                    help="nodes on the database (default 2 with --database-url; SQLite: 1)")
    ap.add_argument("--psql", default="psql", help="the psql client (default: psql on PATH)")
    ap.add_argument("--serve-arg", action="append", default=[], metavar="ARG",
                    help="one more argument for every `serve` (repeatable; --serve-arg=--flag)")
    args = ap.parse_args()
    if args.nodes is None:
        args.nodes = 2 if args.database_url else 1
    if args.nodes < 1 or (args.nodes > 1 and not args.database_url):
        ap.error("--nodes above 1 needs --database-url (SQLite runs one node)")
    if args.database_url and shutil.which(args.psql) is None:
        ap.error("--database-url needs the psql client (%s not found; apt-get install -y postgresql-client)" % args.psql)
    if args.seed is None:
        args.seed = random.randrange(1 << 31)
    if args.users < 4:
        ap.error("--users must be at least 4")
    if not os.access(args.binary, os.X_OK):
        ap.error("--binary %s is not an executable" % args.binary)
    sys.exit(CrashTest(args).run())


if __name__ == "__main__":
    main()
