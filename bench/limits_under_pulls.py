#!/usr/bin/env python3
"""A database-free request's latency while devices pull in a loop.

Usage: bench/limits_under_pulls.py URL ADMIN_TOKEN [DEVICES] [REQUESTS] [--arm-pid PID]

Creates DEVICES users (default 40) with one device each and takes each device's
cursor (GET /v1/conversations). With `--arm-pid`, then sends SIGUSR1 to that process
(bench/latency_proxy.py started with --start-undelayed: the node's database moves
away only now, so provisioning is not timed at the slow path's pace) and waits 1 s.
Then another process runs DEVICES threads, each pulling in a loop on its own
keep-alive connection (`GET /v1/sync?cursor=C&timeout=0`, the returned cursor next);
after 2 s of that, this process sends REQUESTS (default 200) `GET /v1/limits`, one
every 10 ms (or right after the previous answer when that is slower) on one
keep-alive connection of its own (stopping after 15 s if the node is that slow), and
times each; the pulls per second are counted over those at least 2 s. Prints the
latency distribution, the pulls per second meanwhile, and `RESULT {json}`. Python
standard library only.
"""
import http.client
import json
import multiprocessing
import os
import signal
import statistics
import sys
import threading
import time
import uuid
from urllib.parse import quote, urlparse


def call(c, method, path, token, body=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=headers)
    r = c.getresponse()
    raw = r.read()
    return r.status, (json.loads(raw) if raw[:1] in (b"{", b"[") else raw)


def pullers(host, port, devices, stop, count):
    errors = []

    def loop(token, cursor):
        c = http.client.HTTPConnection(host, port, timeout=120)
        try:
            while not stop.is_set():
                status, page = call(c, "GET", f"/v1/sync?cursor={quote(cursor, safe='')}&timeout=0", token)
                if status != 200:
                    errors.append(status)
                    return
                cursor = page["cursor"]
                with count.get_lock():
                    count.value += 1
        except Exception as e:
            errors.append(repr(e))
    threads = [threading.Thread(target=loop, args=d, daemon=True) for d in devices]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        print(f"pullers: {len(errors)} errors, first {errors[0]}", file=sys.stderr)


def main():
    args = [a for a in sys.argv[1:]]
    arm = None
    if "--arm-pid" in args:
        i = args.index("--arm-pid")
        arm = int(args[i + 1])
        del args[i:i + 2]
    if len(args) < 2:
        sys.exit(__doc__)
    u = urlparse(args[0])
    host, port, admin = u.hostname, u.port, args[1]
    n = int(args[2]) if len(args) > 2 else 40
    requests = int(args[3]) if len(args) > 3 else 200
    tag = uuid.uuid4().hex[:8]
    devices = [None] * n

    def provision(k):
        c = http.client.HTTPConnection(host, port, timeout=120)
        name = f"lp-{tag}-{k}"
        assert call(c, "POST", "/v1/admin/users", admin, {"name": name})[0] == 201
        token = call(c, "POST", f"/v1/admin/users/{name}/devices", admin, {"name": "phone"})[1]["token"]
        devices[k] = (token, call(c, "GET", "/v1/conversations", token)[1]["cursor"])
        c.close()
    ts = [threading.Thread(target=provision, args=(k,)) for k in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert all(devices), "provisioning failed"
    if arm:
        os.kill(arm, signal.SIGUSR1)
        time.sleep(1)
    mp = multiprocessing.get_context("spawn")
    stop, count = mp.Event(), mp.Value("q", 0)
    p = mp.Process(target=pullers, args=(host, port, devices, stop, count))
    p.start()
    time.sleep(2)
    c = http.client.HTTPConnection(host, port, timeout=120)
    call(c, "GET", "/v1/limits", None)   # the connection, opened before timing
    pulled0, t0 = count.value, time.monotonic()
    samples = []
    for i in range(requests):
        if samples and time.monotonic() - t0 > 15:   # a slow baseline: at most 15 s of samples
            break
        # Paced, so the pulls are counted over a window of seconds even when every
        # answer is fast (200 answers of 0.1 ms are no window at all).
        wait = t0 + i * 0.010 - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        t = time.perf_counter()
        status, _ = call(c, "GET", "/v1/limits", None)
        samples.append((time.perf_counter() - t) * 1000)
        assert status == 200, status
    pulls_per_s = (count.value - pulled0) / (time.monotonic() - t0)
    stop.set()
    p.join(60)
    if p.is_alive():
        p.terminate()
    samples.sort()

    def pct(q):
        return round(samples[min(len(samples) - 1, int(q / 100 * len(samples)))], 2)
    out = {"devices": n, "requests": len(samples), "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
           "max_ms": round(samples[-1], 2), "pulls_per_s": round(pulls_per_s, 1)}
    print(f"GET /v1/limits while {n} devices pull in a loop ({out['pulls_per_s']} pulls/s): p50 {out['p50_ms']} ms, "
          f"p90 {out['p90_ms']} ms, p99 {out['p99_ms']} ms, max {out['max_ms']} ms over {len(samples)} requests")
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
