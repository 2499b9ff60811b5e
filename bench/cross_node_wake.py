#!/usr/bin/env python3
"""Cross-node wake-up latency: a send on node A wakes a long-poll parked on node B.

Usage: bench/cross_node_wake.py URL_A URL_B ADMIN_TOKEN [SENDS]

Creates two users (alice sends through node A, bob pulls through node B), then SENDS
times (default 200): park bob's pull on B (`GET /v1/sync?timeout=10`), wait until B
reports it parked (its /metrics gauge), send on A, and time from A's 201 to B's
answer. Prints the distribution and a last line `RESULT {json}`. Python stdlib only.
"""
import http.client
import json
import statistics
import sys
import threading
import time
import uuid
from urllib.parse import urlparse


def conn(url):
    u = urlparse(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


def call(c, method, path, token, body=None):
    headers = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=headers)
    r = c.getresponse()
    raw = r.read()
    return r.status, (json.loads(raw) if raw and raw[:1] in b"{[" else raw)


def parked(c, admin):
    status, text = call(c, "GET", "/metrics", admin)
    for line in text.decode().splitlines():
        if line.startswith("pigeonhole_long_polls_parked "):
            return int(float(line.split()[1]))
    return 0


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    a_url, b_url, admin = sys.argv[1:4]
    sends = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    a, b, b_metrics = conn(a_url), conn(b_url), conn(b_url)
    tag = uuid.uuid4().hex[:8]
    alice, bob = f"wake-a-{tag}", f"wake-b-{tag}"
    for name in (alice, bob):
        assert call(a, "POST", "/v1/admin/users", admin, {"name": name})[0] == 201
    _, d = call(a, "POST", f"/v1/admin/users/{alice}/devices", admin, {"name": "phone"})
    alice_token = d["token"]
    _, d = call(b, "POST", f"/v1/admin/users/{bob}/devices", admin, {"name": "phone"})
    bob_token = d["token"]
    status, room = call(a, "POST", f"/v1/direct/{bob}", alice_token)
    assert status in (200, 201), room
    room_id = room["id"]
    status, screen = call(b, "GET", "/v1/conversations", bob_token)
    cursor = screen["cursor"]

    latencies = []
    for i in range(sends):
        result = {}
        before = parked(b_metrics, admin)

        def pull():
            pc = conn(b_url)
            status, page = call(pc, "GET", f"/v1/sync?cursor={cursor}&timeout=10", bob_token)
            result["at"] = time.perf_counter()
            result["status"], result["page"] = status, page
            pc.close()

        t = threading.Thread(target=pull)
        t.start()
        deadline = time.time() + 5
        while parked(b_metrics, admin) <= before and time.time() < deadline:
            time.sleep(0.002)
        while True:   # a server with its default send rate limit answers 429 now and then
            status, _ = call(a, "POST", f"/v1/rooms/{room_id}/messages", alice_token,
                             {"client_msg_id": f"w{i}", "body": f"wake {i}"})
            acked = time.perf_counter()
            if status != 429:
                break
            time.sleep(0.2)
        assert status == 201, status
        t.join(15)
        page = result.get("page") or {}
        events = [e for e in page.get("events", []) if e.get("type") == "message"]
        if result.get("status") != 200 or [e["message"]["client_msg_id"] for e in events] != [f"w{i}"]:
            sys.exit(f"send {i}: the parked pull answered {result.get('status')} {page}")
        latencies.append((result["at"] - acked) * 1000)
        cursor = page["cursor"]

    latencies.sort()
    def pct(p):
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))], 2)
    out = {"sends": sends, "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99), "max_ms": round(latencies[-1], 2),
           "mean_ms": round(statistics.mean(latencies), 2)}
    print(f"cross-node wake (201 on A -> parked pull on B answers): p50 {out['p50_ms']} ms, "
          f"p90 {out['p90_ms']} ms, p99 {out['p99_ms']} ms, max {out['max_ms']} ms over {sends} sends")
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
