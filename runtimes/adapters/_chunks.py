"""A streamed chat answer read line by line, the same way for every protocol, sync or async.

A protocol brings only its :class:`LineParser` (OpenAI's SSE events, Ollama's NDJSON lines);
:func:`read_chunks` and :func:`aread_chunks` do the rest: transport failures become our
errors, and a stream that ends without its end marker raises ``UpstreamError``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Protocol

import httpx

from runtimes.adapters._http import error_from_transport
from runtimes.errors import UpstreamError
from runtimes.protocols.llm import ChatChunk


class LineParser(Protocol):
    """Turns the lines of one streamed answer into chunks (one of them ``done``)."""

    unfinished: str  # how the error names a stream that ended before its end marker

    def feed(self, line: str) -> list[ChatChunk]: ...

    def flush(self) -> list[ChatChunk]: ...


class _Chunks:
    """A parser's chunks, remembering whether the end marker came."""

    def __init__(self, parser: LineParser, url: str) -> None:
        self.parser = parser
        self.url = url
        self.done = False

    def seen(self, chunks: list[ChatChunk]) -> list[ChatChunk]:
        self.done = self.done or any(chunk.done for chunk in chunks)
        return chunks

    def check(self) -> None:
        if not self.done:
            raise UpstreamError(f"{self.url}: stream ended {self.parser.unfinished}")


@contextlib.contextmanager
def transport_errors(url: str) -> Iterator[None]:
    """A transport failure inside becomes ours (``RuntimeTimeout`` or ``UpstreamError``)."""
    try:
        yield
    except httpx.TransportError as exc:
        raise error_from_transport(exc, url) from exc


def read_chunks(
    opened: AbstractContextManager[httpx.Response], url: str, parser: LineParser
) -> Iterator[ChatChunk]:
    """The chunks of the streamed response ``opened`` yields, parsed by ``parser``."""
    chunks = _Chunks(parser, url)
    with transport_errors(url), opened as response:
        for line in response.iter_lines():
            yield from chunks.seen(parser.feed(line))
        yield from chunks.seen(parser.flush())
    chunks.check()


async def aread_chunks(
    opened: AbstractAsyncContextManager[httpx.Response], url: str, parser: LineParser
) -> AsyncIterator[ChatChunk]:
    """:func:`read_chunks` for an async response."""
    chunks = _Chunks(parser, url)
    with transport_errors(url):
        async with opened as response:
            async for line in response.aiter_lines():
                for chunk in chunks.seen(parser.feed(line)):
                    yield chunk
            for chunk in chunks.seen(parser.flush()):
                yield chunk
    chunks.check()
