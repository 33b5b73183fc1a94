"""A small HTTP/1.1 client for the gateway's proxy path: pooled keep-alive connections per
origin, on the event loop, parsed by ``httptools`` (the parser uvicorn serves with).

It does what forwarding needs and no more: a POST with a body, the answer's status and
headers, and its body whole or as it arrives (chunked or sized). ``httpx`` did the same
for about three times the CPU per request. Failures raise ``httpx``'s transport
exceptions, so callers name them as before (``error_from_transport``).

- A connection is reused while the runtime keeps it open and for ``keepalive_s`` idle; one
  the runtime closed is noticed (the loop keeps reading idle connections) and dropped. A
  reused connection that closes before any byte of an answer (the runtime's own idle
  timeout, just then) is retried once on a new one. Connections idle past ``keepalive_s``
  are closed in the background, never on a request's path.
- A response closed before its end (the client left, an error) aborts its connection, and
  :meth:`Response.aclose` returns once the socket is closed: the runtime sees the request
  cancelled before the caller frees its slot.
- At most ``max_connections`` per origin; beyond that a request waits up to ``pool_timeout_s``.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
import zlib
from collections.abc import AsyncIterator
from typing import cast
from urllib.parse import urlsplit

import httptools
import httpx

# Reading pauses when this much of an answer waits unread (a slow client behind a fast runtime).
HIGH_WATER = 256 * 1024


class Response:
    """One answer, read once: :meth:`aread` for the whole body, :meth:`aiter_raw` as it comes."""

    def __init__(self, conn: Connection, url: str) -> None:
        self._conn = conn
        self.url = url
        self.status_code = 0
        self.headers: dict[str, str] = {}
        self.content = b""
        self.complete = False
        self.keep_alive = False
        self.received = False  # any byte of the answer
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    # fed by the connection

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > HIGH_WATER:
            self._conn.pause()
        self._wake()

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        self._wake()

    # read by the caller

    async def _wait(self) -> None:
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = loop.call_later(self._conn.read_timeout_s, self._timed_out, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def _timed_out(self, waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            waiter.set_exception(httpx.ReadTimeout(f"no data for {self._conn.read_timeout_s:g}s"))

    async def _head(self) -> None:
        while self.status_code == 0:
            if self._error is not None:
                raise self._error
            await self._wait()

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive (chunked encoding undone, content encoding kept)."""
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._buffered <= HIGH_WATER:
                    self._conn.resume()
                yield chunk
            elif self.complete:
                return
            elif self._error is not None:
                raise self._error
            else:
                await self._wait()

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body decoded (``gzip`` / ``deflate`` undone)."""
        encoding = self.headers.get("content-encoding", "identity").lower()
        if encoding in ("", "identity"):
            async for chunk in self.aiter_raw():
                yield chunk
            return
        decoder = zlib.decompressobj(wbits=47 if encoding == "gzip" else zlib.MAX_WBITS)
        async for chunk in self.aiter_raw():
            yield decoder.decompress(chunk)
        yield decoder.flush()

    async def aread(self) -> bytes:
        if not self.complete or self._chunks:
            self.content = b"".join([chunk async for chunk in self.aiter_bytes()])
        return self.content

    def release(self) -> bool:
        """Give the connection back if the answer was read to its end (or say it is closed
        already): ``True``. ``False``: it must be aborted, by :meth:`aclose`."""
        if self._closed:
            return True
        if self.complete and self.keep_alive and self._error is None:
            self._closed = True
            self._conn.done()
            return True
        return False

    async def aclose(self) -> None:
        """Give the connection back when the answer was read to its end; else close it (and
        return once its socket is closed)."""
        if not self.release():
            self._closed = True
            await self._conn.abort()


def _ends_at_close(headers: dict[str, str]) -> bool:
    return "content-length" not in headers and "chunked" not in headers.get("transfer-encoding", "").lower()


class Connection(asyncio.Protocol):
    """One keep-alive connection to a runtime; answers one request at a time."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.read_timeout_s = pool.read_timeout_s
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.response: Response | None = None
        self.closed = False
        self.idle_since = 0.0
        self.uses = 0
        self._lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._paused = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio's subclasses

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None:  # nothing was asked: a runtime that talks out of turn is dropped
            self.close()
            return
        response.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            response._fail(httpx.RemoteProtocolError(f"malformed answer: {exc}"))
            self.close()

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        response = self.response
        if response is not None and not response.complete:
            if response.status_code and _ends_at_close(response.headers):
                response.complete = True  # an answer without a length ends with its connection
                response._wake()
            else:
                error = f"the runtime closed the connection{f': {exc}' if exc else ''}"
                response._fail(httpx.ReadError(error))
        if not self._lost.done():
            self._lost.set_result(None)

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.response is not None
        self.response.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        response = self.response
        assert response is not None
        response.status_code = self.parser.get_status_code()
        response._wake()

    def on_body(self, body: bytes) -> None:
        assert self.response is not None
        self.response._feed(body)

    def on_message_complete(self) -> None:
        response = self.response
        assert response is not None
        response.complete = True
        response.keep_alive = self.parser.should_keep_alive()
        response._wake()

    # used by the pool and the response

    def send(self, head: bytes, body: bytes, url: str) -> Response:
        assert self.transport is not None
        self.response = response = Response(self, url)
        self.uses += 1
        if len(body) < 64 * 1024:
            self.transport.write(head + body)
        else:
            self.transport.writelines([head, body])
        return response

    def pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def done(self) -> None:
        self.response = None
        self.resume()
        self.pool.put_back(self)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.abort()

    async def abort(self) -> None:
        self.close()
        if self.transport is not None:
            await asyncio.shield(self._lost)


class Pool:
    """The keep-alive connections to one origin (scheme, host, port)."""

    def __init__(
        self,
        origin: str,
        *,
        max_connections: int,
        connect_timeout_s: float,
        read_timeout_s: float,
        pool_timeout_s: float,
        keepalive_s: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(origin)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.authority = parts.netloc.rsplit("@", 1)[-1].encode("latin-1")
        self.max_connections = max_connections
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.pool_timeout_s = pool_timeout_s
        self.keepalive_s = keepalive_s
        self.ssl_context = ssl_context if self.https else None
        self._idle: list[Connection] = []
        self._open: set[Connection] = set()
        self._connecting = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._sweep: asyncio.TimerHandle | None = None

    async def post(self, url: str, path: bytes, headers: dict[str, str], body: bytes) -> Response:
        """Send a POST; return once the answer's status and headers are in."""
        head = self._head(path, headers, len(body))
        for attempt in (1, 2):
            conn = await self._acquire()
            reused = conn.uses > 0
            response = conn.send(head, body, url)
            try:
                await response._head()
                return response
            except httpx.ReadError:
                await response.aclose()
                if attempt == 2 or not reused or response.received:
                    raise  # a fresh connection, or the runtime had begun answering: no retry
            except BaseException:
                await asyncio.shield(response.aclose())
                raise
        raise AssertionError("unreachable")

    def _head(self, path: bytes, headers: dict[str, str], length: int) -> bytes:
        lines = [b"POST ", path, b" HTTP/1.1\r\nhost: ", self.authority, b"\r\n"]
        for name, value in headers.items():
            lines += [name.encode("latin-1"), b": ", value.encode("latin-1"), b"\r\n"]
        lines += [b"content-length: ", str(length).encode(), b"\r\n\r\n"]
        return b"".join(lines)

    async def _acquire(self) -> Connection:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()  # the most recently used: the one least likely to be closing
            if not conn.closed and now - conn.idle_since < self.keepalive_s:
                return conn
            conn.close()
        deadline = now + self.pool_timeout_s
        while len(self._open) + self._connecting >= self.max_connections:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise httpx.PoolTimeout(f"no free connection to {self.host}:{self.port}") from None
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            if self._idle:
                return await self._acquire()
        return await self._connect()

    async def _connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        self._connecting += 1
        try:
            transport, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: Connection(self),
                    self.host,
                    self.port,
                    ssl=self.ssl_context,
                    server_hostname=self.host if self.ssl_context else None,
                ),
                self.connect_timeout_s,
            )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"no connection within {self.connect_timeout_s:g}s") from None
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        finally:
            self._connecting -= 1
            self._wake_one()
        conn.transport = transport
        self._open.add(conn)
        return conn

    def put_back(self, conn: Connection) -> None:
        if conn.closed:
            return
        conn.idle_since = time.monotonic()
        self._idle.append(conn)
        self._wake_one()
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(self.keepalive_s, self._close_stale)

    def _close_stale(self) -> None:
        """Close the connections idle for ``keepalive_s`` (the oldest are first in ``_idle``)."""
        self._sweep = None
        cutoff = time.monotonic() - self.keepalive_s
        while self._idle and self._idle[0].idle_since <= cutoff:
            self._idle.pop(0).close()
        if self._idle:
            delay = self._idle[0].idle_since - cutoff
            self._sweep = asyncio.get_running_loop().call_later(delay, self._close_stale)

    def forget(self, conn: Connection) -> None:
        self._open.discard(conn)
        if conn in self._idle:
            self._idle.remove(conn)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def aclose(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        conns = list(self._open)
        for conn in conns:
            conn.close()
        for conn in conns:
            await conn.abort()
