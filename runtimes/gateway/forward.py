"""Forwarding to runtimes: pooled upstream connections, adapters per target, and the proxy calls.

Runtimes that speak the OpenAI protocol are proxied byte for byte over one pool of
keep-alive connections per upstream origin (``wire.py``); others go through their adapter's methods,
which translate (run in a thread when the adapter is synchronous). Either way the client
sees the asset id as ``model``.

A request's slot is held until its upstream call has ended: cancelling a proxied call closes
its connection before the cancellation goes on, and a call in a thread (which cannot be
interrupted) is waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx

from runtimes.adapters._http import HttpAdapter, error_from_response
from runtimes.binding import RuntimeBinding
from runtimes.gateway.asgi import Call, Send, send_json
from runtimes.gateway.config import GatewayConfig
from runtimes.gateway.jsonbody import Body, answer_model, usage_of
from runtimes.gateway.resolve import Target
from runtimes.gateway.sse import relay
from runtimes.gateway.wire import Pool, Response
from runtimes.registry import accepts_api_key, make_adapter
from runtimes.upstream import UpstreamSecrets

T = TypeVar("T")
AdapterKey = tuple[str, str, str, str | None, str | None]
# An idle upstream connection is kept this long, unless the runtime closes it first (llama-server
# and uvicorn do after 5 s; the pool notices, and retries once a request that met the close).
KEEPALIVE_S = 30.0
BASE_HEADERS = {"accept-encoding": "identity", "user-agent": "hub-gateway"}


class Upstreams:
    """The process's connections to runtimes: one client per origin, one adapter per target."""

    def __init__(self, config: GatewayConfig, secrets: UpstreamSecrets) -> None:
        self.config = config
        self.secrets = secrets
        self._pools: dict[str, Pool] = {}
        self._tls: ssl.SSLContext | None = None
        self._adapters: dict[AdapterKey, HttpAdapter] = {}

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()
        self._pools.clear()
        for adapter in self._adapters.values():
            await adapter.aclose()
        self._adapters.clear()

    def adapter(self, target: Target) -> HttpAdapter:
        key = (target.kind, target.model, target.base_url, target.api_key_env, target.api_key_file)
        adapter = self._adapters.get(key)
        if adapter is None:
            binding = RuntimeBinding(
                kind=target.kind,
                model=target.model,
                base_url=target.base_url,
                api_key_env=target.api_key_env,
                api_key_file=target.api_key_file,
            )
            options = {"secrets": self.secrets} if accepts_api_key(target.kind) else {}
            adapter = make_adapter(binding, **options)
            self._adapters[key] = adapter
        return adapter

    def pool(self, url: str) -> Pool:
        origin = url.split("/", 3)[2]
        pool = self._pools.get(origin)
        if pool is None:
            config = self.config
            https = url.startswith("https:")
            if https and self._tls is None:
                self._tls = httpx.create_ssl_context()  # the trust store httpx used (SSL_CERT_FILE, certifi)
            pool = Pool(
                url,
                max_connections=config.max_connections_per_upstream,
                connect_timeout_s=config.connect_timeout_s,
                read_timeout_s=config.read_timeout_s,
                pool_timeout_s=30.0,
                keepalive_s=KEEPALIVE_S,
                ssl_context=self._tls if https else None,
            )
            self._pools[origin] = pool
        return pool

    @staticmethod
    def headers(adapter: HttpAdapter, content_type: str | None = "application/json") -> dict[str, str]:
        # Never the caller's Authorization: that is a hub token, not the runtime's key. The
        # runtime's own key (if any) is asked for per request: ``secrets`` caches it. Identity
        # encoding: answers (SSE above all) are relayed as their bytes arrive.
        base = {"content-type": content_type} if content_type else {}
        return {**base, **BASE_HEADERS, **adapter.auth_headers()}

    async def _send(
        self, adapter: HttpAdapter, path: str, content: bytes, content_type: str | None
    ) -> Response:
        url = adapter.endpoint_url(path)
        target = url.split("/", 3)
        return await self.pool(url).post(
            url,
            b"/" + (target[3] if len(target) > 3 else "").encode(),
            self.headers(adapter, content_type),
            content,
        )

    async def post(
        self,
        adapter: HttpAdapter,
        path: str,
        content: bytes,
        *,
        content_type: str | None = "application/json",
    ) -> Response:
        """POST to the runtime and read the whole answer; an error status raises ours."""
        response = await self._send(adapter, path, content, content_type)
        try:
            await response.aread()
            if response.status_code >= 400:
                raise error_from_response(as_httpx(response))
        finally:
            if not response.release():  # not read to its end: abort (awaited even if cancelled)
                await asyncio.shield(response.aclose())
        return response

    async def proxy_json(
        self, send: Send, call: Call, adapter: HttpAdapter, path: str, content: bytes
    ) -> None:
        """POST a JSON body; answer the runtime's JSON with the asset id as ``model``."""
        response = await self.post(adapter, path, content)
        if call.upstream_done is not None:  # the runtime is done: its slot may serve the next
            call.upstream_done()
        body = response.content
        usage = usage_of(body)
        if usage is not None:
            call.prompt_tokens, call.completion_tokens = usage
        await send_json(send, call, 200, answer_model(body, call.asset_id))

    @contextlib.asynccontextmanager
    async def stream(
        self, adapter: HttpAdapter, path: str, content: bytes, content_type: str | None = "application/json"
    ) -> AsyncIterator[Response]:
        """POST and yield the streamed answer; an error status raises ours. Closes on exit
        (aborting the connection if the answer was not read to its end)."""
        response = await self._send(adapter, path, content, content_type)
        try:
            if response.status_code >= 400:
                await response.aread()
                raise error_from_response(as_httpx(response))
            yield response
        finally:
            if not response.release():
                await asyncio.shield(response.aclose())

    async def proxy_stream(
        self, send: Send, call: Call, adapter: HttpAdapter, path: str, content: bytes, *, strip_usage: bool
    ) -> None:
        async with self.stream(adapter, path, content) as response:
            await relay(send, call, response, adapter.endpoint_url(path), strip_usage=strip_usage)

    async def proxy_raw(
        self, send: Send, call: Call, adapter: HttpAdapter, path: str, content: bytes, content_type: str
    ) -> None:
        """POST a body; pass the runtime's answer (audio, text, JSON) through as it arrives."""
        async with self.stream(adapter, path, content, content_type) as response:
            call.response_started = True
            headers = [
                (b"content-type", response.headers.get("content-type", "application/octet-stream").encode())
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            async for chunk in response.aiter_bytes():  # decoded: the content-encoding is not passed on
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            call.response_done = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})


# How an operation serves a request (``operations.py``), given the process's upstreams.
Serve = Callable[[Upstreams, Send, Call, Target, Body], Awaitable[None]]


def as_httpx(response: Response) -> httpx.Response:
    """A read answer as an ``httpx.Response``, for the code that names upstream errors."""
    headers = list(response.headers.items())
    request = httpx.Request("POST", response.url)
    return httpx.Response(response.status_code, headers=headers, content=response.content, request=request)


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a thread; if the caller is cancelled, it still waits for the thread to end.

    A synchronous adapter call cannot be interrupted: until it returns, the runtime is
    still working on the request, so its slot stays taken.
    """
    work = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await work
        raise
