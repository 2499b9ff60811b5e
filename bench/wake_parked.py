#!/usr/bin/env python3
"""How long one send that wakes many pulls parked by one device delays other clients.

Usage: bench/wake_parked.py URL ADMIN_TOKEN [PULLS] [ROUNDS]

Creates alice and bob (one device), a direct room, and takes bob's cursor. Each of
ROUNDS rounds (default 3): open PULLS connections (default 1,800; the server needs
`--max-connections-per-address 0`) that each park `GET /v1/sync?cursor=C&timeout=30`
with bob's one token and cursor, wait until /metrics shows them parked, then start a
prober in another process: `GET /v1/limits` (needs no database) on a fresh connection
every 2 ms, timed from connect to the last byte. After 0.5 s of baseline alice sends
one message, which wakes all PULLS; this process reads every answer, and the prober
runs 0.3 s past the last. A probe counts in the wake window when it was in flight at
any time between the send and the last answer; its extra latency is its time minus
the baseline median. Prints each round, then `RESULT {json}`: per round the maximum
and p99 extra latency in the window, the time from the 201 to the last answer, and
the medians over the rounds. Python standard library only.
"""
import http.client
import json
import multiprocessing
import resource
import selectors
import socket
import statistics
import sys
import time
import uuid
from urllib.parse import quote, urlparse


def call(host, port, method, path, token, body=None):
    c = http.client.HTTPConnection(host, port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=headers)
    r = c.getresponse()
    raw = r.read()
    c.close()
    return r.status, (json.loads(raw) if raw[:1] in (b"{", b"[") else raw)


def parked(host, port, admin):
    _, text = call(host, port, "GET", "/metrics", admin)
    for line in text.decode().splitlines():
        if line.startswith("pigeonhole_long_polls_parked "):
            return int(float(line.split()[1]))
    return 0


def probe(host, port, stop, out):
    """Fresh-connection GET /v1/limits every 2 ms: (start, seconds) pairs."""
    req = f"GET /v1/limits HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    samples = []
    while not stop.is_set():
        t = time.monotonic()
        s = socket.create_connection((host, port))
        s.sendall(req)
        while s.recv(65536):
            pass
        s.close()
        samples.append((t, time.monotonic() - t))
        time.sleep(0.002)
    out.send(samples)


def answers_complete(buf):
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            return len(body) >= int(v)
    return False


def one_round(host, port, admin, alice, room, bob_token, cursor, pulls, tag, i):
    before = parked(host, port, admin)
    req = (f"GET /v1/sync?cursor={quote(cursor, safe='')}&timeout=30 HTTP/1.1\r\nHost: {host}\r\n"
           f"Authorization: Bearer {bob_token}\r\n\r\n").encode()
    sel = selectors.DefaultSelector()
    bufs = {}
    for _ in range(pulls):
        s = socket.create_connection((host, port))
        s.sendall(req)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        bufs[s] = b""
    deadline = time.monotonic() + 30
    while parked(host, port, admin) < before + pulls:
        if time.monotonic() > deadline:
            sys.exit(f"only {parked(host, port, admin) - before} of {pulls} pulls parked")
        time.sleep(0.05)
    mp = multiprocessing.get_context("spawn")   # not fork: the child must not hold the pulls' sockets
    stop = mp.Event()
    rx, tx = mp.Pipe(False)
    prober = mp.Process(target=probe, args=(host, port, stop, tx))
    prober.start()
    time.sleep(0.5)
    sent_at = time.monotonic()
    status, _ = call(host, port, "POST", f"/v1/rooms/{room}/messages", alice,
                     {"client_msg_id": f"{tag}-{i}", "body": f"wake {i}"})
    acked_at = time.monotonic()
    assert status == 201, status
    left, last_at, new_cursor = pulls, None, None
    while left:
        events = sel.select(timeout=30)
        if not events:
            sys.exit(f"{left} of {pulls} pulls did not answer within 30 s")
        for key, _ in events:
            s = key.fileobj
            data = s.recv(65536)
            if not data:
                sys.exit("a parked pull's connection closed before its answer")
            bufs[s] += data
            if answers_complete(bufs[s]):
                last_at = time.monotonic()
                left -= 1
                sel.unregister(s)
                if new_cursor is None:
                    head, _, body = bufs[s].partition(b"\r\n\r\n")
                    if not head.startswith(b"HTTP/1.1 200"):
                        sys.exit(f"a woken pull answered {head[:40]!r}")
                    new_cursor = json.loads(body)["cursor"]
                s.close()
    time.sleep(0.3)
    stop.set()
    samples = rx.recv()
    prober.join()
    base = [d for t, d in samples if t + d < sent_at]
    window = sorted(d for t, d in samples if t <= last_at and t + d >= sent_at)
    base_ms = statistics.median(base) * 1000
    extra = [max(0.0, d * 1000 - base_ms) for d in window]
    out = {"probes_in_window": len(window), "baseline_p50_ms": round(base_ms, 2),
           "max_extra_ms": round(max(extra), 2) if extra else 0.0,
           "p99_extra_ms": round(extra[min(len(extra) - 1, int(0.99 * len(extra)))], 2) if extra else 0.0,
           "last_answer_after_201_ms": round((last_at - acked_at) * 1000, 2)}
    return out, new_cursor


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    u = urlparse(sys.argv[1])
    host, port, admin = u.hostname, u.port, sys.argv[2]
    pulls = int(sys.argv[3]) if len(sys.argv) > 3 else 1800
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < pulls + 100:
        sys.exit(f"the descriptor limit {hard} is too low for {pulls} connections")
    tag = uuid.uuid4().hex[:8]
    alice_name, bob_name = f"wp-a-{tag}", f"wp-b-{tag}"
    for name in (alice_name, bob_name):
        assert call(host, port, "POST", "/v1/admin/users", admin, {"name": name})[0] == 201
    alice = call(host, port, "POST", f"/v1/admin/users/{alice_name}/devices", admin, {"name": "phone"})[1]["token"]
    bob = call(host, port, "POST", f"/v1/admin/users/{bob_name}/devices", admin, {"name": "phone"})[1]["token"]
    status, room = call(host, port, "POST", f"/v1/direct/{bob_name}", alice)
    assert status in (200, 201), room
    cursor = call(host, port, "GET", "/v1/conversations", bob)[1]["cursor"]
    results = []
    for i in range(rounds):
        r, cursor = one_round(host, port, admin, alice, room["id"], bob, cursor, pulls, tag, i)
        print(f"round {i + 1}: {pulls} woken, last answer {r['last_answer_after_201_ms']} ms after the 201; "
              f"/v1/limits probes in the window: {r['probes_in_window']}, extra latency max {r['max_extra_ms']} ms, "
              f"p99 {r['p99_extra_ms']} ms (baseline p50 {r['baseline_p50_ms']} ms)", flush=True)
        results.append(r)
    med = {k: round(statistics.median(r[k] for r in results), 2)
           for k in ("max_extra_ms", "p99_extra_ms", "last_answer_after_201_ms", "baseline_p50_ms")}
    print("RESULT " + json.dumps({"pulls": pulls, "rounds": results, "median": med}))


if __name__ == "__main__":
    main()
