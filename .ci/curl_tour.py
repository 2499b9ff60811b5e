#!/usr/bin/env python3
"""Runs the curl sessions of the docs against a live server and checks that each
prints what its doc says it prints: the tour of docs/curl-tour.md and the README's
taste of the API.

A session is a doc's first ```sh block that sets `PH=http://127.0.0.1:8080`, and its
output the first ```text block after it. Each runs against its own fresh server on a
free port, in a fresh directory (a session reads `data/admin-token` from its working
directory, as the docs' `swift run pigeonhole serve` leaves it), so the one change made
to the commands is the port. Timestamps are compared as shapes; everything else byte
for byte.

    python3 .ci/curl_tour.py --binary .build/debug/pigeonhole [--doc FILE ...]
"""
import argparse
import difflib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

TIMESTAMP = re.compile(r'"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d\d\dZ"')


def session(path):
    """The doc's commands and the output it shows for them."""
    text = open(path, encoding="utf-8").read()
    blocks = [(m.group(1), m.group(2), m.end())
              for m in re.finditer(r"^```(\w*)\n(.*?)^```$", text, flags=re.M | re.S)]
    for i, (lang, body, _) in enumerate(blocks):
        if lang == "sh" and "PH=http://127.0.0.1:8080" in body:
            output = next((b for (l, b, _) in blocks[i + 1:] if l == "text"), None)
            if output is None:
                sys.exit("curl tour: %s shows no ```text output after its session" % path)
            return body, output
    sys.exit("curl tour: %s has no ```sh block setting PH=http://127.0.0.1:8080" % path)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port, server):
    deadline = time.time() + 20
    while time.time() < deadline:
        if server.poll() is not None:
            sys.exit("curl tour: the server exited with %d" % server.returncode)
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    sys.exit("curl tour: no healthy server on port %d after 20 s" % port)


def run(binary, path):
    commands, expected = session(path)
    work = tempfile.mkdtemp(prefix="ph-curl-tour-")
    port = free_port()
    server = subprocess.Popen([binary, "serve", "--port", str(port), "--log-level", "warn"],
                              cwd=work, stdin=subprocess.DEVNULL)
    try:
        wait_healthy(port, server)
        script = "set -euo pipefail\n" + commands.replace("http://127.0.0.1:8080", "http://127.0.0.1:%d" % port)
        done = subprocess.run(["bash", "-c", script], cwd=work, capture_output=True, text=True, timeout=60)
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    if done.returncode != 0:
        sys.exit("curl tour: %s: the commands failed (exit %d):\n%s%s"
                 % (path, done.returncode, done.stdout, done.stderr))
    got = TIMESTAMP.sub('"<timestamp>"', done.stdout).splitlines()
    want = TIMESTAMP.sub('"<timestamp>"', expected).splitlines()
    if got != want:
        diff = "\n".join(difflib.unified_diff(want, got, path + " says", "the server printed", lineterm=""))
        sys.exit("curl tour: %s: the output differs from the doc's:\n%s" % (path, diff))
    print("curl tour: %s: %d lines of output as documented" % (path, len(want)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=".build/debug/pigeonhole")
    ap.add_argument("--doc", action="append", help="default: docs/curl-tour.md and README.md")
    args = ap.parse_args()
    for tool in ("curl", "jq"):
        if shutil.which(tool) is None:
            sys.exit("curl tour: needs %s" % tool)
    for path in args.doc or ["docs/curl-tour.md", "README.md"]:
        run(os.path.abspath(args.binary), path)


if __name__ == "__main__":
    main()
