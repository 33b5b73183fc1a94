"""What every fake shares: threaded HTTP server, load time, slowness, crashes, counters."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

Route = Callable[["FakeHandler"], None]


@dataclass
class FakeState:
    """Knobs a test turns and counters it reads. Thread-safe through ``lock``."""

    load_time: float = 0.0
    delay: float = 0.0  # before every inference answer
    chunk_delay: float = 0.0  # between streamed chunks
    crash: bool = False  # inference requests die (connection dropped / process exits)
    exit_on_crash: bool = False  # subprocess mode: a crash ends the process
    slots: int = 1
    drop_next: int = 0  # close this many connections unanswered, like a stale keep-alive
    gate: threading.Event | None = None  # when set, inference waits for it: hold slots open
    started_at: float = field(default_factory=time.monotonic)
    inflight: int = 0
    max_inflight: int = 0
    requests: int = 0
    bodies: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def loading(self) -> bool:
        return time.monotonic() - self.started_at < self.load_time

    def restart_loading(self, load_time: float | None = None) -> None:
        if load_time is not None:
            self.load_time = load_time
        self.started_at = time.monotonic()

    @contextlib.contextmanager
    def inference(self, body: Any) -> Iterator[None]:
        with self.lock:
            self.inflight += 1
            self.requests += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
            self.bodies.append(body)
        try:
            yield
        finally:
            with self.lock:
                self.inflight -= 1

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "inflight": self.inflight,
                "max_inflight": self.max_inflight,
                "requests": self.requests,
                "loading": self.loading,
            }


class Crash(Exception):
    """Raised inside a handler to drop the connection like a dying server."""


class FakeServerCore(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 resets connections when many clients (the
    # gateway's pool, a benchmark at concurrency 32) connect at once.
    request_queue_size = 256
    state: FakeState
    options: argparse.Namespace


class FakeHandler(BaseHTTPRequestHandler):
    """Routes by (method, path); subclasses fill ``routes`` with handler methods."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, the body waits for the
    # client's delayed ACK (~40 ms on Linux) on every keep-alive request.
    disable_nagle_algorithm = True
    routes: ClassVar[dict[tuple[str, str], str]] = {}
    server: FakeServerCore

    @property
    def state(self) -> FakeState:
        return self.server.state

    @property
    def options(self) -> argparse.Namespace:
        return self.server.options

    @property
    def path_only(self) -> str:
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _dispatch(self, method: str) -> None:
        if self.path_only == "/_fake/stats":
            self.send_json(200, self.state.stats())
            return
        with self.state.lock:
            drop, self.state.drop_next = self.state.drop_next > 0, max(0, self.state.drop_next - 1)
        if drop:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        name = self.routes.get((method, self.path_only))
        if name is None:
            self.send_json(404, {"error": f"no route {method} {self.path_only}"})
            return
        try:
            getattr(self, name)()
        except Crash:
            self.crash_now()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else {}

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def crash_now(self) -> None:
        if self.state.exit_on_crash:
            os._exit(3)
        # Like a process dying: the socket closes with no (or half an) answer.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(2)

    def slow_down(self, *, crash: bool = True) -> None:
        """Wait ``delay``; then, in crash mode, die (unless the caller dies later itself)."""
        if self.state.delay:
            time.sleep(self.state.delay)
        if self.state.gate is not None:
            self.state.gate.wait(60)
        if crash and self.state.crash:
            raise Crash


class FakeRuntime:
    """A fake server running in a background thread of the test process."""

    handler: ClassVar[type[FakeHandler]]

    def __init__(self, options: argparse.Namespace, state: FakeState) -> None:
        self.server = FakeServerCore((options.host, options.port), self.handler)
        self.server.state = state
        self.server.options = options
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def state(self) -> FakeState:
        return self.server.state

    @property
    def url(self) -> str:
        return f"http://{self.server.options.host}:{self.server.server_address[1]}"

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(description=cls.__doc__)
        parser.add_argument("--host", "--hostname", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=0)
        parser.add_argument("--load-time", type=float, default=0.0)
        parser.add_argument("--delay", type=float, default=0.0)
        parser.add_argument("--chunk-delay", type=float, default=0.0)
        parser.add_argument("--crash", action="store_true")
        parser.add_argument("--slots", type=int, default=1)
        return parser

    @classmethod
    def serve(cls, *args: str, **state: Any) -> FakeRuntime:
        """Parse CLI-style ``args``, apply ``state`` overrides, start in a thread."""
        options, _ = cls.parser().parse_known_args(list(args))
        fake = cls(options, cls.state_from(options, **state))
        fake._thread.start()
        return fake

    @classmethod
    def state_from(cls, options: argparse.Namespace, **overrides: Any) -> FakeState:
        state = FakeState(
            load_time=options.load_time,
            delay=options.delay,
            chunk_delay=options.chunk_delay,
            crash=options.crash,
            slots=options.slots,
        )
        for name, value in overrides.items():
            setattr(state, name, value)
        return state

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @classmethod
    def main(cls, argv: list[str] | None = None) -> None:
        """Entry point for ``python -m tests.fakes.<name>``: serve until SIGTERM."""
        options, _ = cls.parser().parse_known_args(argv)
        fake = cls(options, cls.state_from(options, exit_on_crash=True))
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        print(f"fake {cls.__name__} listening on {fake.url}", flush=True)
        fake.server.serve_forever()


def words(n: int) -> list[str]:
    """The fake model's output: ``n`` short tokens."""
    return [f"tok{i} " for i in range(n)]


def vector(text: str, dim: int) -> list[float]:
    """A deterministic, unit-length vector for ``text``."""
    seed = sum(ord(c) for c in text) or 1
    raw = [((seed * (i + 7)) % 97) / 97.0 + 0.01 for i in range(dim)]
    norm = sum(x * x for x in raw) ** 0.5
    return [x / norm for x in raw]


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(len(str(m.get("content", "")).split()) for m in messages) + 3
