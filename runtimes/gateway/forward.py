"""Forwarding to runtimes: pooled upstream clients, adapters per target, and the proxy calls.

Runtimes that speak the OpenAI protocol are proxied byte for byte over one pooled
``httpx.AsyncClient`` per upstream origin; others go through their adapter's methods,
which translate (run in a thread when the adapter is synchronous). Either way the client
sees the asset id as ``model``.

A request's slot is held until its upstream call has ended: cancelling a proxied call closes
its connection before the cancellation goes on, and a call in a thread (which cannot be
interrupted) is waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import httpx

from runtimes.adapters._http import HttpAdapter, answered, error_from_response
from runtimes.binding import RuntimeBinding
from runtimes.gateway.asgi import Call, Send, send_json
from runtimes.gateway.config import GatewayConfig
from runtimes.gateway.jsonbody import answer_model, usage_of
from runtimes.gateway.resolve import Target
from runtimes.gateway.sse import relay
from runtimes.registry import accepts_api_key, make_adapter
from runtimes.upstream import UpstreamSecrets

T = TypeVar("T")
AdapterKey = tuple[str, str, str, str | None, str | None]


class Upstreams:
    """The process's connections to runtimes: one client per origin, one adapter per target."""

    def __init__(self, config: GatewayConfig, secrets: UpstreamSecrets) -> None:
        self.config = config
        self.secrets = secrets
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._adapters: dict[AdapterKey, HttpAdapter] = {}

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
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

    def client(self, url: str) -> httpx.AsyncClient:
        origin = url.split("/", 3)[2]
        client = self._clients.get(origin)
        if client is None:
            config = self.config
            client = httpx.AsyncClient(
                timeout=httpx.Timeout(
                    connect=config.connect_timeout_s, read=config.read_timeout_s, write=30.0, pool=30.0
                ),
                limits=httpx.Limits(
                    max_connections=config.max_connections_per_upstream,
                    max_keepalive_connections=config.max_connections_per_upstream,
                    keepalive_expiry=2.0,  # under runtimes' own idle timeouts (llama-server: 5 s)
                ),
            )
            self._clients[origin] = client
        return client

    @staticmethod
    def headers(adapter: HttpAdapter, content_type: str | None = "application/json") -> dict[str, str]:
        # Never the caller's Authorization: that is a hub token, not the runtime's key. The
        # runtime's own key (if any) is asked for per request: ``secrets`` caches it.
        base = {"content-type": content_type} if content_type else {}
        return {**base, **adapter.auth_headers()}

    async def post(
        self, adapter: HttpAdapter, path: str, *, content_type: str | None = "application/json", **kwargs: Any
    ) -> httpx.Response:
        """POST to the runtime and read the whole answer; an error status raises ours."""
        url = adapter.endpoint_url(path)
        response = await self.client(url).post(url, headers=self.headers(adapter, content_type), **kwargs)
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    async def proxy_json(
        self, send: Send, call: Call, adapter: HttpAdapter, path: str, content: bytes
    ) -> None:
        """POST a JSON body; answer the runtime's JSON with the asset id as ``model``."""
        response = await self.post(adapter, path, content=content)
        if call.upstream_done is not None:  # the runtime is done: its slot may serve the next
            call.upstream_done()
        body = response.content
        usage = usage_of(body)
        if usage is not None:
            call.prompt_tokens, call.completion_tokens = usage
        await send_json(send, call, 200, answer_model(body, call.asset_id))

    @contextlib.asynccontextmanager
    async def stream(
        self, adapter: HttpAdapter, path: str, content: bytes, content_type: str = "application/json"
    ) -> AsyncIterator[httpx.Response]:
        """POST and yield the streamed answer; an error status raises ours. Closes on exit."""
        url = adapter.endpoint_url(path)
        client = self.client(url)
        upstream = client.build_request(
            "POST", url, content=content, headers=self.headers(adapter, content_type)
        )
        async with answered(await client.send(upstream, stream=True)) as response:
            yield response

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
