"""An OpenAI chat server that counts the requests it is working on at every instant.

A request counts from the moment its body has been read until its answer is about to be
written, or until its client closes the connection (checked while it works, and for every
request in flight whenever a new one arrives: a connection the gateway closed before it
sent the next request is never counted twice). Each request's last message names it, so a
test sees the order requests reached the runtime.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _closed(sock: socket.socket) -> bool:
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


@dataclass
class Meter:
    delay: float = 0.05
    delays: dict[str, float] = field(default_factory=dict)  # per request name, instead of ``delay``
    gate: threading.Event | None = None  # when set (not yet released), requests wait for it
    max_inflight: int = 0
    served: int = 0
    aborted: int = 0
    arrivals: list[str] = field(default_factory=list)
    active: set[socket.socket] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def inflight(self) -> int:
        with self.lock:
            return len(self.active)

    def enter(self, sock: socket.socket, label: str) -> None:
        with self.lock:
            self.active = {s for s in self.active if not _closed(s)}
            self.active.add(sock)
            self.max_inflight = max(self.max_inflight, len(self.active))
            self.arrivals.append(label)

    def leave(self, sock: socket.socket, *, served: bool) -> None:
        with self.lock:
            self.active.discard(sock)
            if served:
                self.served += 1
            else:
                self.aborted += 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        meter = self.server.meter
        label = str(((body.get("messages") or [{}])[-1]).get("content", ""))
        meter.enter(self.connection, label)
        deadline = time.monotonic() + meter.delays.get(label, meter.delay)
        while time.monotonic() < deadline or (meter.gate is not None and not meter.gate.is_set()):
            if _closed(self.connection):
                meter.leave(self.connection, served=False)
                self.close_connection = True
                return
            time.sleep(0.005)
        meter.leave(self.connection, served=True)  # before the answer: the work is done
        answer = {
            "id": "chatcmpl-metered",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": label}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        data = json.dumps(answer).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512
    meter: Meter


class MeteredRuntime:
    def __init__(self, meter: Meter) -> None:
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.meter = meter
        self.meter = meter
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
