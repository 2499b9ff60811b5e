#!/usr/bin/env python3
"""WebSocket notifier figures (issue 4): wake latency from a send's 201 to the
`mail` frame on the recipient's socket, and server RSS with N idle sockets.

Usage: bench/notify_bench.py --url http://127.0.0.1:8080 --admin-token T --server-pid PID
                             [--sends 1000] [--idle 10000] [--gap-ms 30]
Needs only the Python standard library (a raw-socket WebSocket client)."""
import argparse, base64, http.client, json, os, resource, socket, statistics, time, urllib.parse

def api(conn, method, path, token, body=None):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = conn.getresponse()
    data = r.read()
    return r.status, (json.loads(data) if data else None)

def ws_connect(host, port, token):
    s = socket.create_connection((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /v1/notify?access_token={token} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk: raise RuntimeError("closed during handshake")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 101"): raise RuntimeError(head.decode(errors="replace"))
    return s, rest

def read_frame(s, buf):
    while True:
        if len(buf) >= 2:
            n = buf[1] & 0x7F; off = 2
            if n == 126:
                if len(buf) < 4: pass
                else: n = int.from_bytes(buf[2:4], "big"); off = 4
            if len(buf) >= off + n and not (buf[1] & 0x7F == 126 and off == 2):
                return buf[0] & 0x0F, buf[off:off + n], buf[off + n:]
        chunk = s.recv(65536)
        if not chunk: raise RuntimeError("socket closed")
        buf += chunk

def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"): return int(line.split()[1])

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True); ap.add_argument("--admin-token", required=True)
    ap.add_argument("--server-pid", type=int); ap.add_argument("--sends", type=int, default=1000)
    ap.add_argument("--idle", type=int, default=10000); ap.add_argument("--gap-ms", type=float, default=30)
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.url); host, port = u.hostname, u.port
    conn = http.client.HTTPConnection(host, port)
    suffix = str(int(time.time() * 1000))
    tokens = {}
    for name in ("sender", "receiver"):
        api(conn, "POST", "/v1/admin/users", a.admin_token, {"name": f"{name}{suffix}"})
        _, d = api(conn, "POST", f"/v1/admin/users/{name}{suffix}/devices", a.admin_token, {"name": "bench"})
        tokens[name] = d["token"]
    _, room = api(conn, "POST", f"/v1/direct/receiver{suffix}", tokens["sender"])
    ws, buf = ws_connect(host, port, tokens["receiver"])
    _, _, buf = read_frame(ws, buf)  # ready
    lat = []; from_send = []
    for i in range(a.sends):
        ts = time.perf_counter()
        status, _ = api(conn, "POST", f"/v1/rooms/{room['id']}/messages", tokens["sender"], {"client_msg_id": f"n{i}", "body": i})
        t0 = time.perf_counter()
        assert status == 201, status
        op, payload, buf = read_frame(ws, buf)
        while op != 1:   # a keep-alive ping: answer it (masked, as a client must) and read on
            if op == 9: ws.sendall(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
            op, payload, buf = read_frame(ws, buf)
        now = time.perf_counter()
        lat.append((now - t0) * 1000); from_send.append((now - ts) * 1000)
        assert json.loads(payload)["type"] == "mail"
        time.sleep(a.gap_ms / 1000)   # past the coalescing window: each send gets its own frame
    for name, xs in (("201 received -> mail frame read", lat), ("send started -> mail frame read", from_send)):
        xs.sort()
        p = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))]
        print(f"wake latency over {len(xs)} sends ({name}): "
              f"median {statistics.median(xs):.3f} ms, p99 {p(0.99):.3f} ms, max {xs[-1]:.3f} ms")
    if a.server_pid and a.idle:
        resource.setrlimit(resource.RLIMIT_NOFILE, (a.idle + 1000, a.idle + 1000))
        before = rss_kb(a.server_pid)
        socks = []
        for _ in range(a.idle):
            s, rest = ws_connect(host, port, tokens["receiver"])
            read_frame(s, rest)
            socks.append(s)
        time.sleep(1)
        after = rss_kb(a.server_pid)
        print(f"idle WebSockets: {a.idle}, server RSS {before} kB -> {after} kB, "
              f"{(after - before) * 1024 / a.idle:.0f} bytes per socket")
        for s in socks: s.close()

if __name__ == "__main__":
    main()
