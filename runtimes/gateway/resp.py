"""A lean asyncio Redis client for the gateway's hot path: one connection, RESP2, pipelined.

redis-py's asyncio client spends more CPU per command than the gateway spends on the rest of
a request (a pool checkout and return, command packing in Python, a parser per connection).
The hot path only needs a few commands (its Lua scripts, an XADD, a GET), so this sends them
on one long-lived connection, packed by ``hiredis.pack_command`` and parsed by
``hiredis.Reader``, without waiting: replies come back in order and are matched to their
callers through a queue of futures. Redis serves one command at a time anyway, so one
connection carries the whole process's traffic.

- Writes: a command on an idle connection is written at once; the ones issued while replies
  are pending are gathered and written together, once per event-loop turn.
- Errors: a Redis error reply is raised (:meth:`RespClient.execute`) or returned in place
  (:meth:`RespClient.execute_many`) as redis-py's exception for it (``ResponseError``,
  ``NoScriptError``, …), so callers handle them as they did with redis-py.
- A lost connection fails the commands waiting on it with ``redis.exceptions.ConnectionError``;
  the next command connects again (within ``connect_timeout_s``, or ``ConnectionError``).
- URLs: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://…`` (TLS with the system's
  trust store, certificate and host name verified) and ``unix://[[user]:password@]/path``;
  ``?db=N`` is the one query parameter understood: any other is refused when the client is
  built (say, redis-py's TLS options), rather than silently ignored. AUTH and SELECT are sent
  on every connect. Pub/sub and blocking commands are not for this client (their replies do
  not follow the one-reply-per-command order); those stay on redis-py.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

import hiredis
from redis.exceptions import (
    AuthenticationError,
    BusyLoadingError,
    ConnectionError,
    NoPermissionError,
    NoScriptError,
    ReadOnlyError,
    RedisError,
    ResponseError,
)

Arg = str | bytes | int | float
Command = Sequence[Arg]

DEFAULT_PORT = 6379
CONNECT_TIMEOUT_S = 5.0

# The error codes callers tell apart, as redis-py names them (the rest: ResponseError).
_ERRORS: dict[str, type[RedisError]] = {
    "ERR": ResponseError,
    "NOSCRIPT": NoScriptError,
    "NOAUTH": AuthenticationError,
    "WRONGPASS": AuthenticationError,
    "NOPERM": NoPermissionError,
    "LOADING": BusyLoadingError,
    "READONLY": ReadOnlyError,
}


def reply_error(message: str) -> RedisError:
    """redis-py's exception for an error reply (the code word dropped, as redis-py does)."""
    code, _, rest = message.partition(" ")
    kind = _ERRORS.get(code)
    return ResponseError(message) if kind is None else kind(rest, status_code=code)


@dataclass(frozen=True)
class Endpoint:
    """Where and how to connect, from a Redis URL."""

    host: str = "localhost"
    port: int = DEFAULT_PORT
    path: str | None = None  # a unix socket
    tls: bool = False
    username: str | None = None
    password: str | None = None
    db: int = 0

    @classmethod
    def from_url(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme not in {"redis", "rediss", "unix"}:
            raise ValueError(f"Redis URL {url!r}: the scheme must be redis://, rediss:// or unix://")
        query = parse_qs(parts.query)
        unknown = sorted(set(query) - {"db"})
        if unknown:
            raise ValueError(
                f"Redis URL: the gateway's Redis client does not understand {', '.join(unknown)} (only ?db=N)"
            )
        db_text = query["db"][-1] if "db" in query else ""
        if parts.scheme != "unix" and parts.path.strip("/"):
            db_text = parts.path.strip("/")
        try:
            db = int(db_text or 0)
        except ValueError:
            raise ValueError(f"Redis URL: {db_text!r} is not a database number") from None
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        if parts.scheme == "unix":
            return cls(path=unquote(parts.path), username=username, password=password, db=db)
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or DEFAULT_PORT,
            tls=parts.scheme == "rediss",
            username=username,
            password=password,
            db=db,
        )

    def handshake(self) -> list[Command]:
        """What to send first on every connection."""
        commands: list[Command] = []
        if self.password is not None:
            user: list[Arg] = [self.username] if self.username else []
            commands.append(["AUTH", *user, self.password])
        if self.db:
            commands.append(["SELECT", self.db])
        return commands

    def __str__(self) -> str:
        return self.path or f"{self.host}:{self.port}"


class Script:
    """A Lua script, called by its SHA1 (loaded on the server when it is missing)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()

    def command(self, keys: Sequence[Arg], args: Sequence[Arg]) -> list[Arg]:
        return ["EVALSHA", self.sha, len(keys), *keys, *args]


class _Many:
    """The replies of one :meth:`RespClient.execute_many`, gathered as they come."""

    __slots__ = ("count", "future", "replies")

    def __init__(self, future: asyncio.Future[list[Any]], count: int) -> None:
        self.future = future
        self.replies: list[Any] = []
        self.count = count


_INCOMPLETE = object()


def _pack(command: Sequence[Arg]) -> bytes:
    packed: bytes = hiredis.pack_command(tuple(command))  # type: ignore[arg-type]  # its stub: a 1-tuple
    return packed


class _Connection(asyncio.Protocol):
    """One connection: commands go out in order and each reply settles the oldest waiter."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader(replyError=reply_error, notEnoughData=_INCOMPLETE)
        self.waiters: deque[asyncio.Future[Any] | _Many] = deque()
        self.unsent: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self, payload: bytes, waiter: asyncio.Future[Any] | _Many) -> None:
        """Queue ``payload``: written now on an idle connection, else at the end of this turn."""
        assert self.transport is not None
        self.waiters.append(waiter)
        if self.unsent:
            self.unsent.append(payload)
        elif len(self.waiters) == 1:
            self.transport.write(payload)
        else:
            self.unsent.append(payload)
            asyncio.get_running_loop().call_soon(self._write)

    def _write(self) -> None:
        payload = b"".join(self.unsent)
        self.unsent.clear()
        if not self.closed and self.transport is not None:
            self.transport.write(payload)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        waiters = self.waiters
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as exc:
                self.close(ConnectionError(f"Redis protocol error: {exc}"))
                return
            if reply is _INCOMPLETE:
                return
            if not waiters:
                self.close(ConnectionError("Redis sent a reply nobody asked for"))
                return
            waiter = waiters[0]
            if isinstance(waiter, _Many):
                waiter.replies.append(reply)
                if len(waiter.replies) < waiter.count:
                    continue
                waiters.popleft()
                if not waiter.future.done():
                    waiter.future.set_result(waiter.replies)
            else:
                waiters.popleft()
                if not waiter.done():
                    waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f": {exc}" if exc is not None else ""
        self._fail(ConnectionError(f"Connection to Redis lost{reason}"))
        if not self.lost.done():
            self.lost.set_result(None)

    def close(self, error: ConnectionError | None = None) -> None:
        self._fail(error or ConnectionError("Connection to Redis closed"))
        if self.transport is not None:
            self.transport.close()

    def _fail(self, error: ConnectionError) -> None:
        self.closed = True
        self.unsent.clear()
        while self.waiters:
            waiter = self.waiters.popleft()
            future = waiter.future if isinstance(waiter, _Many) else waiter
            if not future.done():
                future.set_exception(error)


class RespClient:
    """The process's pipelined connection to Redis (opened on first use, reopened after a loss)."""

    def __init__(self, url: str, *, connect_timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        self.endpoint = Endpoint.from_url(url)
        self.connect_timeout_s = connect_timeout_s
        self._connection: _Connection | None = None
        self._opening: asyncio.Future[_Connection] | None = None

    async def execute(self, *command: Arg) -> Any:
        """Send one command and return its reply; an error reply is raised."""
        connection = self._connection
        if connection is None or connection.closed:
            connection = await self._connect()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        connection.send(_pack(command), future)
        reply = await future
        if isinstance(reply, RedisError):
            raise reply
        return reply

    async def execute_many(self, commands: Sequence[Command]) -> list[Any]:
        """Send ``commands`` in one write; their replies in order, an error reply as its exception."""
        if not commands:
            return []
        connection = self._connection
        if connection is None or connection.closed:
            connection = await self._connect()
        return await self._send_many(connection, commands)

    def send_many(self, commands: Sequence[Command]) -> asyncio.Future[list[Any]]:
        """:meth:`execute_many` without awaiting it: the future of the replies. Sent at once
        when the connection is open; else once it is (a task opens it)."""
        connection = self._connection
        if connection is None or connection.closed:
            return asyncio.ensure_future(self.execute_many(commands))
        return self._send_many(connection, commands)

    @staticmethod
    def _send_many(connection: _Connection, commands: Sequence[Command]) -> asyncio.Future[list[Any]]:
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        payload = b"".join([_pack(command) for command in commands])
        connection.send(payload, _Many(future, len(commands)))
        return future

    async def evalsha(self, script: Script, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """Run ``script`` by its SHA1; when Redis has lost it (a restart, SCRIPT FLUSH), once more
        by its text, which loads it again."""
        try:
            return await self.execute(*script.command(keys, args))
        except NoScriptError:
            return await self.execute("EVAL", script.text, len(keys), *keys, *args)

    async def get(self, key: str) -> Any:
        return await self.execute("GET", key)

    async def aclose(self) -> None:
        """Close the connection (a later command opens a new one)."""
        if self._opening is not None:
            self._opening.cancel()
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
            await asyncio.wait([connection.lost], timeout=self.connect_timeout_s)

    async def _connect(self) -> _Connection:
        """The connection, once open: the callers waiting meanwhile share one attempt (and its
        failure: under an outage, each waits one connect timeout at most)."""
        opening = self._opening
        if opening is None:
            opening = self._opening = asyncio.ensure_future(self._open())
            opening.add_done_callback(self._opened)
        return await asyncio.shield(opening)

    def _opened(self, opening: asyncio.Future[_Connection]) -> None:
        if self._opening is opening:
            self._opening = None
        if not opening.cancelled() and opening.exception() is None:
            self._connection = opening.result()

    async def _open(self) -> _Connection:
        endpoint = self.endpoint
        loop = asyncio.get_running_loop()
        connection: _Connection | None = None
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                if endpoint.path is not None:
                    _, connection = await loop.create_unix_connection(_Connection, endpoint.path)
                else:
                    context = ssl.create_default_context() if endpoint.tls else None
                    _, connection = await loop.create_connection(
                        _Connection, endpoint.host, endpoint.port, ssl=context
                    )
                handshake = endpoint.handshake()
                if handshake:
                    future: asyncio.Future[list[Any]] = loop.create_future()
                    payload = b"".join([_pack(command) for command in handshake])
                    connection.send(payload, _Many(future, len(handshake)))
                    for reply in await future:
                        if isinstance(reply, Exception):
                            raise reply
        except TimeoutError:
            if connection is not None:
                connection.close()
            raise ConnectionError(
                f"no connection to Redis at {endpoint} within {self.connect_timeout_s:g}s"
            ) from None
        except OSError as exc:
            raise ConnectionError(f"Error connecting to Redis at {endpoint}: {exc}") from exc
        except BaseException:
            if connection is not None:
                connection.close()
            raise
        return connection
