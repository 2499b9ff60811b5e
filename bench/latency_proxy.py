#!/usr/bin/env python3
"""A latency-injecting TCP proxy for the benchmark (a bench tool, not part of the product).

    bench/latency_proxy.py --listen PORT --target HOST:PORT --delay-ms D [--start-undelayed]
    bench/latency_proxy.py --measure-pg postgres://user@HOST:PORT/DB [--count N]
    bench/latency_proxy.py --measure-echo --delay-ms D [--count N]

Proxy: listens on 127.0.0.1:PORT and forwards every connection to HOST:PORT, holding
each chunk D milliseconds in each direction (so a round trip gains about 2 x D:
`--delay-ms 0.25` for about 0.5 ms, `--delay-ms 10` for about 20 ms). Prints
`listening on PORT` once it accepts. With `--start-undelayed` it forwards at once
until SIGUSR1 turns the delay on (SIGUSR2 turns it off again), so a benchmark can
provision over a fast path and then measure over a slow one; a change applies to
chunks that arrive after it.

How it works: each accepted connection gets an upstream connection and two pipes (one
per direction), each a reader thread and a writer thread around a deque of
(due time, bytes). The reader stamps each chunk with `arrival + delay` as it comes off
the socket and appends it; the writer sends the head once it is due, together with
every later chunk already due. So order is kept, a chunk's delay runs from its own
arrival (not after the previous chunk's), and throughput is not limited (about 64 MiB
may wait per direction before the reader pauses). End of stream travels the same queue:
the FIN is passed on (shutdown(SHUT_WR)) after the same delay; when both directions
have ended, or on any error (a reset), both sockets are closed and the four threads
end. TCP_NODELAY on both sides, so nothing waits in Nagle's algorithm.

Sub-millisecond delays: epoll/asyncio timeouts are whole milliseconds, so the writer
does not use them. It sleeps with time.sleep (clock_nanosleep, nanosecond resolution)
until the due time, with the thread's timer slack set to 1 ns (prctl PR_SET_TIMERSLACK;
Linux otherwise lets a sleep overrun by up to 50 us), then spins for at most
`--spin-us` (default 0: no spinning, which would burn a core on this 2-core machine).
What the scheduler adds on a busy machine is real, and shows in the measurement.

Measurement: `--measure-pg URL` opens one PostgreSQL session (trust authentication,
the simple query protocol, standard library only) and times COUNT (default 1000)
`SELECT 1` round trips after 50 warm-up ones; point it at the proxy's port, and at the
database's own port for the direct figure. `--measure-echo` runs the same proxy code in
this process in front of an in-process echo server and times one-byte ping-pongs, with
and without the proxy. Both print one line and then `RESULT {json}` (median, p99,
mean, min, max in ms).
"""
import argparse
import collections
import ctypes
import json
import os
import signal
import socket
import statistics
import struct
import sys
import threading
import time
from urllib.parse import urlparse

MAX_QUEUED = 64 << 20
CHUNK = 256 << 10


class Delay:
    """The current one-way delay in seconds (read by every reader thread)."""

    def __init__(self, armed, on):
        self.armed = armed
        self.value = armed if on else 0.0


def low_timer_slack():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(29, 1, 0, 0, 0)   # PR_SET_TIMERSLACK, 1 ns, this thread only
    except Exception:
        pass


class Pipe:
    """One direction: src -> (held `delay`) -> dst."""

    def __init__(self, conn, src, dst, delay, spin):
        self.conn, self.src, self.dst, self.delay, self.spin = conn, src, dst, delay, spin
        self.queue = collections.deque()
        self.queued = 0
        self.cond = threading.Condition()

    def start(self):
        threading.Thread(target=self.read, daemon=True).start()
        threading.Thread(target=self.write, daemon=True).start()

    def read(self):
        try:
            while not self.conn.closed:
                data = self.src.recv(CHUNK)
                due = time.monotonic() + self.delay.value
                with self.cond:
                    self.queue.append((due, data))
                    self.queued += len(data)
                    self.cond.notify()
                    while self.queued > MAX_QUEUED and not self.conn.closed:
                        self.cond.wait(0.1)
                if not data:
                    return
        except OSError:
            self.conn.close()

    def write(self):
        low_timer_slack()
        try:
            while True:
                with self.cond:
                    while not self.queue and not self.conn.closed:
                        self.cond.wait()
                    if self.conn.closed:
                        return
                    due = self.queue[0][0]
                wait = due - time.monotonic()
                if wait > self.spin:
                    time.sleep(wait - self.spin)
                while time.monotonic() < due:
                    pass
                with self.cond:   # the head and every later chunk already due
                    now = time.monotonic()
                    parts, eof = [], False
                    while self.queue and self.queue[0][0] <= now:
                        _, data = self.queue.popleft()
                        if not data:
                            eof = True
                            break
                        parts.append(data)
                        self.queued -= len(data)
                    self.cond.notify()
                if parts:
                    self.dst.sendall(b"".join(parts) if len(parts) > 1 else parts[0])
                if eof:
                    self.dst.shutdown(socket.SHUT_WR)
                    self.conn.ended()
                    return
        except OSError:
            self.conn.close()


class Connection:
    def __init__(self, client, upstream, delay, spin, stats):
        self.client, self.upstream, self.stats = client, upstream, stats
        self.closed = False
        self.lock = threading.Lock()
        self.ends = 0
        self.pipes = [Pipe(self, client, upstream, delay, spin), Pipe(self, upstream, client, delay, spin)]

    def start(self):
        for p in self.pipes:
            p.start()

    def ended(self):
        with self.lock:
            self.ends += 1
            both = self.ends == 2
        if both:
            self.close()

    def close(self):
        with self.lock:
            if self.closed:
                return
            self.closed = True
            self.stats["open"] -= 1
        for s in (self.client, self.upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        for p in self.pipes:
            with p.cond:
                p.cond.notify_all()


def serve(listener, target, delay, spin, stats, stop=None):
    while stop is None or not stop.is_set():
        try:
            client, _ = listener.accept()
        except OSError:
            if stop is not None and stop.is_set():
                return
            raise
        try:
            upstream = socket.create_connection(target, timeout=10)
            upstream.settimeout(None)
        except OSError as e:
            print(f"latency_proxy: cannot reach {target[0]}:{target[1]}: {e}", file=sys.stderr)
            client.close()
            continue
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        stats["open"] += 1
        stats["accepted"] += 1
        Connection(client, upstream, delay, spin, stats).start()


def listen(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(512)
    return s


def summary(label, samples_s):
    ms = sorted(x * 1000 for x in samples_s)
    out = {"count": len(ms), "median_ms": round(statistics.median(ms), 3),
           "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 3),
           "mean_ms": round(statistics.mean(ms), 3), "min_ms": round(ms[0], 3), "max_ms": round(ms[-1], 3)}
    print(f"{label}: median {out['median_ms']} ms, p99 {out['p99_ms']} ms, min {out['min_ms']} ms, "
          f"max {out['max_ms']} ms over {out['count']} round trips")
    return out


# --- PostgreSQL: one session, SELECT 1 round trips (trust authentication only) ---

def pg_read_until_ready(sock, buf):
    """Reads messages until ReadyForQuery; returns the rest of the buffer."""
    while True:
        while len(buf) >= 5:
            kind = buf[0:1]
            n = struct.unpack("!I", buf[1:5])[0]
            if len(buf) < 1 + n:
                break
            body, buf = buf[5:1 + n], buf[1 + n:]
            if kind == b"E":
                raise SystemExit(f"latency_proxy: PostgreSQL error: {body!r}")
            if kind == b"R" and struct.unpack("!I", body[:4])[0] != 0:
                raise SystemExit("latency_proxy: --measure-pg needs trust authentication")
            if kind == b"Z":
                return buf
        data = sock.recv(65536)
        if not data:
            raise SystemExit("latency_proxy: PostgreSQL closed the session")
        buf += data


def measure_pg(url, count):
    u = urlparse(url)
    sock = socket.create_connection((u.hostname or "127.0.0.1", u.port or 5432), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    params = b"user\0" + (u.username or "postgres").encode() + b"\0database\0" + \
        (u.path.lstrip("/") or "postgres").encode() + b"\0\0"
    sock.sendall(struct.pack("!II", 8 + len(params), 196608) + params)
    buf = pg_read_until_ready(sock, b"")
    q = b"SELECT 1\0"
    query = b"Q" + struct.pack("!I", 4 + len(q)) + q
    samples = []
    for i in range(50 + count):
        t = time.perf_counter()
        sock.sendall(query)
        buf = pg_read_until_ready(sock, buf)
        if i >= 50:
            samples.append(time.perf_counter() - t)
    sock.sendall(b"X\0\0\0\4")
    sock.close()
    return samples


def ping_pong(port, count):
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    samples = []
    for i in range(50 + count):
        t = time.perf_counter()
        sock.sendall(b"x")
        if sock.recv(16) != b"x":
            raise SystemExit("latency_proxy: the echo answered wrong")
        if i >= 50:
            samples.append(time.perf_counter() - t)
    sock.close()
    return samples


def measure_echo(delay_ms, count, spin):
    echo = listen(0)

    def run_echo():
        while True:
            c, _ = echo.accept()
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def loop(c=c):
                while (d := c.recv(65536)):
                    c.sendall(d)
                c.close()
            threading.Thread(target=loop, daemon=True).start()
    threading.Thread(target=run_echo, daemon=True).start()
    proxy = listen(0)
    stats = {"open": 0, "accepted": 0}
    threading.Thread(target=serve, args=(proxy, ("127.0.0.1", echo.getsockname()[1]),
                                         Delay(delay_ms / 1000, True), spin, stats), daemon=True).start()
    direct = summary("echo direct", ping_pong(echo.getsockname()[1], count))
    through = summary(f"echo through the proxy (--delay-ms {delay_ms})", ping_pong(proxy.getsockname()[1], count))
    return {"direct": direct, "proxy": through, "injected_median_ms": round(through["median_ms"] - direct["median_ms"], 3)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", type=int, help="port on 127.0.0.1 to accept on")
    ap.add_argument("--target", help="HOST:PORT to forward to")
    ap.add_argument("--delay-ms", type=float, default=0.0, help="one-way delay per chunk, each direction (ms)")
    ap.add_argument("--start-undelayed", action="store_true", help="no delay until SIGUSR1 (SIGUSR2: off again)")
    ap.add_argument("--spin-us", type=float, default=0.0, help="busy-wait at most this long before a chunk is due")
    ap.add_argument("--measure-pg", metavar="URL", help="time SELECT 1 round trips over one session to URL")
    ap.add_argument("--measure-echo", action="store_true", help="time ping-pongs through an in-process proxy")
    ap.add_argument("--count", type=int, default=1000, help="round trips to time (default 1000)")
    a = ap.parse_args()
    spin = a.spin_us / 1e6
    if a.measure_pg:
        out = summary(f"SELECT 1 over {urlparse(a.measure_pg).port}", measure_pg(a.measure_pg, a.count))
        print("RESULT " + json.dumps(out))
        return
    if a.measure_echo:
        print("RESULT " + json.dumps(measure_echo(a.delay_ms, a.count, spin)))
        return
    if a.listen is None or not a.target:
        ap.error("--listen and --target are needed (or --measure-pg / --measure-echo)")
    host, _, port = a.target.rpartition(":")
    delay = Delay(a.delay_ms / 1000, not a.start_undelayed)

    def arm(on):
        def handler(_sig, _frame):
            delay.value = delay.armed if on else 0.0
        return handler
    signal.signal(signal.SIGUSR1, arm(True))
    signal.signal(signal.SIGUSR2, arm(False))
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    listener = listen(a.listen)
    print(f"listening on {listener.getsockname()[1]}, forwarding to {host}:{port}, "
          f"{delay.value * 1000:g} ms each way" + (f" (armed: {a.delay_ms:g} ms on SIGUSR1)" if a.start_undelayed else ""),
          flush=True)
    serve(listener, (host or "127.0.0.1", int(port)), delay, spin, {"open": 0, "accepted": 0})


if __name__ == "__main__":
    main()
