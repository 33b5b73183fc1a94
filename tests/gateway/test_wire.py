"""The gateway's HTTP/1.1 client (``runtimes/gateway/wire.py``) against real loopback servers:
sized and chunked answers, keep-alive reuse, a connection the server closed, aborting an
answer, timeouts, the connection limit, and what it sends."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import httpx
import pytest
import uvloop

from runtimes.gateway.wire import Pool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Runner = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Runner:
    """Each test on both event loops: the gateway serves on uvloop, whose transports differ."""
    return asyncio.run if request.param == "asyncio" else uvloop.run


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One request's head and body (content-length framed)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length)


class Server:
    """A loopback TCP server running ``handler`` per connection; counts connections."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.closed = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self.closed.set()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


def pool_for(url: str, **overrides: float) -> Pool:
    options: dict[str, float] = {
        "max_connections": 10,
        "connect_timeout_s": 2.0,
        "read_timeout_s": 2.0,
        "pool_timeout_s": 2.0,
        "keepalive_s": 5.0,
    }
    options.update(overrides)
    return Pool(url, **options)  # type: ignore[arg-type]


async def post(pool: Pool, url: str, body: bytes = b"{}") -> tuple[int, bytes]:
    response = await pool.post(url + "/v1/x", b"/v1/x", {"content-type": "application/json"}, body)
    try:
        return response.status_code, await response.aread()
    finally:
        await response.aclose()


def sized(body: bytes, status: bytes = b"200 OK", extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n"
        + extra
        + b"\r\n"
        + body
    )


def test_sized_answers_reuse_one_connection(run: Runner) -> None:
    seen: list[tuple[bytes, bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, body = await read_request(reader)
            seen.append((head, body))
            writer.write(sized(b'{"n": %d}' % len(seen)))
            await writer.drain()

    async def main() -> None:
        server = Server(handler)
        async with server as url:
            pool = pool_for(url)
            assert await post(pool, url, b'{"a": 1}') == (200, b'{"n": 1}')
            assert await post(pool, url, b'{"b": 2}') == (200, b'{"n": 2}')
            assert await post(pool, url) == (200, b'{"n": 3}')
            assert server.connections == 1
            await pool.aclose()

    run(main())
    head, body = seen[0]
    assert head.startswith(b"POST /v1/x HTTP/1.1\r\n")
    assert b"\r\nhost: 127.0.0.1:" in head
    assert b"\r\ncontent-type: application/json\r\n" in head
    assert b"\r\naccept-encoding" not in head  # only what the caller names, besides host and length
    assert body == b'{"a": 1}'


def test_a_chunked_answer_arrives_chunk_by_chunk(run: Runner) -> None:
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/event-stream\r\n\r\n"
        )
        writer.write(b"6\r\ndata 1\r\n")
        await writer.drain()
        await release.wait()  # the first chunk must reach the client before the second is sent
        writer.write(b"6\r\ndata 2\r\n0\r\n\r\n")
        await writer.drain()
        await reader.read()

    async def main() -> list[bytes]:
        async with Server(handler) as url:
            pool = pool_for(url)
            response = await pool.post(url, b"/", {}, b"")
            assert response.headers["content-type"] == "text/event-stream"
            got = []
            async for chunk in response.aiter_raw():
                got.append(chunk)
                release.set()
            await response.aclose()
            await pool.aclose()
            return got

    assert run(main()) == [b"data 1", b"data 2"]


def test_a_connection_the_server_closed_is_not_reused(run: Runner) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(sized(b"once"))  # then close: one answer per connection
        await writer.drain()

    async def main() -> int:
        server = Server(handler)
        async with server as url:
            pool = pool_for(url)
            for _ in range(3):
                assert await post(pool, url) == (200, b"once")
                await asyncio.sleep(0.05)  # the close reaches the idle connection
            await pool.aclose()
            return server.connections

    assert run(main()) == 3


def test_a_reused_connection_closed_before_answering_is_retried_once_on_a_new_one(run: Runner) -> None:
    answered = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        await read_request(reader)
        answered += 1
        writer.write(sized(b"ok"))
        await writer.drain()
        await read_request(reader)  # the second request on this connection: hang up unanswered

    async def main() -> None:
        server = Server(handler)
        async with server as url:
            pool = pool_for(url)
            assert await post(pool, url) == (200, b"ok")
            assert await post(pool, url) == (200, b"ok")
            assert server.connections == 2
            await pool.aclose()

    run(main())
    assert answered == 2


def test_a_fresh_connection_closed_before_answering_fails_with_a_read_error(run: Runner) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async def main() -> None:
        async with Server(handler) as url:
            pool = pool_for(url)
            with pytest.raises(httpx.ReadError):
                await post(pool, url)
            await pool.aclose()

    run(main())


def test_closing_an_answer_before_its_end_closes_the_connection_at_once(run: Runner) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        assert await reader.read() == b""  # the client hung up

    async def main() -> None:
        server = Server(handler)
        async with server as url:
            pool = pool_for(url)
            response = await pool.post(url, b"/", {}, b"")
            async for chunk in response.aiter_raw():
                assert chunk == b"first"
                break
            await response.aclose()
            await asyncio.wait_for(server.closed.wait(), 2)  # the server saw the client hang up
            await pool.aclose()

    run(main())


def test_no_answer_in_time_is_a_read_timeout(run: Runner) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()

    async def main() -> None:
        async with Server(handler) as url:
            pool = pool_for(url, read_timeout_s=0.2)
            with pytest.raises(httpx.ReadTimeout):
                await post(pool, url)
            await pool.aclose()

    run(main())


def test_nothing_listening_is_a_connect_error(run: Runner) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"

    async def main() -> None:
        pool = pool_for(url)
        with pytest.raises(httpx.ConnectError):
            await post(pool, url)

    run(main())


def test_requests_beyond_the_connection_limit_wait_for_a_free_one(run: Runner) -> None:
    in_flight = 0
    most = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal in_flight, most
        while True:
            await read_request(reader)
            in_flight += 1
            most = max(most, in_flight)
            await asyncio.sleep(0.05)
            in_flight -= 1
            writer.write(sized(b"ok"))
            await writer.drain()

    async def main() -> None:
        server = Server(handler)
        async with server as url:
            pool = pool_for(url, max_connections=2)
            answers = await asyncio.gather(*(post(pool, url) for _ in range(8)))
            assert answers == [(200, b"ok")] * 8
            assert server.connections == 2
            await pool.aclose()

    run(main())
    assert most == 2


def test_a_gzip_answer_is_decoded_and_one_without_length_ends_with_its_connection(run: Runner) -> None:
    packed = gzip.compress(b'{"hello": "world"}')

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\nconnection: close\r\n\r\n" + packed)
        await writer.drain()

    async def main() -> tuple[int, bytes]:
        async with Server(handler) as url:
            pool = pool_for(url)
            answer = await post(pool, url)
            await pool.aclose()
            return answer

    assert run(main()) == (200, b'{"hello": "world"}')


def test_connections_idle_past_the_keepalive_are_closed_in_the_background(run: Runner) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(sized(b"ok"))
        await writer.drain()
        assert await reader.read() == b""  # the client closed it, unasked

    async def main() -> None:
        server = Server(handler)
        async with server as url:
            pool = pool_for(url, keepalive_s=0.2)
            assert await post(pool, url) == (200, b"ok")
            await asyncio.wait_for(server.closed.wait(), 2)
            assert server.connections == 1
            await pool.aclose()

    run(main())
