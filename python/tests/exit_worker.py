"""Helper for test_exit.py: exits the interpreter while daemon threads are inside libneedle.

    python exit_worker.py MODE DELAY_S

MODE ``calls``: daemon threads loop over ``run`` (JSON string and Python-object tools),
``run_batch(threads=2)`` and ``run_stream`` (a trivial callback and one that spends its
time in Python bytecode); ``http``: a ``ThreadingHTTPServer`` whose handlers call ``run`` /
``run_stream`` while daemon client threads keep requests in flight, shut down mid-request.
The main thread waits until every worker is busy, sleeps DELAY_S and returns: the process
must then exit with status 0, whatever the threads were doing.
"""

from __future__ import annotations

import http.client
import http.server
import json
import pathlib
import sys
import threading
import time
from typing import Any, Callable

import libneedle

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEMO = ROOT / "models" / "needle-demo"
ENGINE = libneedle.Engine.load(DEMO / "needle.safetensors", DEMO / "vocab.txt")
TOOLS = (ROOT / "examples" / "tools.json").read_text(encoding="utf-8")
TOOLS_OBJ: Any = json.loads(TOOLS)
QUERY = "What's the weather in Paris?"


def forever(barrier: threading.Barrier, call: Callable[[], object]) -> Callable[[], None]:
    def loop() -> None:
        barrier.wait()
        while True:
            call()

    return loop


def busy_callback(token_id: int, piece: str) -> None:
    sum(i * i for i in range(2000))  # time spent in bytecode, inside the callback


def calls_mode(delay: float) -> None:
    e = ENGINE
    workers: list[Callable[[], object]] = [
        lambda: e.run(QUERY, TOOLS),
        lambda: e.run(QUERY, TOOLS_OBJ),
        lambda: e.run_batch([(QUERY, TOOLS)] * 4, threads=2),
        lambda: e.run_stream(QUERY, TOOLS, lambda i, p: None),
        lambda: e.run_stream(QUERY, TOOLS_OBJ, busy_callback),
        lambda: e.encoder_input(QUERY, TOOLS_OBJ),
    ]
    barrier = threading.Barrier(len(workers) + 1, timeout=60)
    for w in workers:
        threading.Thread(target=forever(barrier, w), daemon=True).start()
    barrier.wait()
    time.sleep(delay)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        if self.path == "/stream":

            def cb(token_id: int, piece: str) -> None:
                self.wfile.write(piece.encode("utf-8"))

            ENGINE.run_stream(QUERY, TOOLS, cb)
        else:
            self.wfile.write(ENGINE.run(QUERY, TOOLS_OBJ).to_json().encode("utf-8"))


def http_mode(delay: float) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def client(path: str) -> Callable[[], object]:
        def get() -> object:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", path)
                return conn.getresponse().read()
            except OSError:
                return None

        return get

    paths = ["/run", "/stream", "/run", "/stream"]
    barrier = threading.Barrier(len(paths) + 1, timeout=60)
    for p in paths:
        threading.Thread(target=forever(barrier, client(p)), daemon=True).start()
    barrier.wait()
    time.sleep(delay)
    server.shutdown()  # requests stay in flight on the handler threads (daemon threads)


if __name__ == "__main__":
    mode, delay = sys.argv[1], float(sys.argv[2])
    {"calls": calls_mode, "http": http_mode}[mode](delay)
