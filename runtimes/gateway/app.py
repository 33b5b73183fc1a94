"""The OpenAI-compatible gateway: a raw ASGI app in front of Django for ``/v1/``.

``/v1/chat/completions`` (SSE streamed through event by event as it arrives),
``/v1/embeddings`` and ``/v1/models`` (the assets servable now or on wake), authenticated
with an API token holding the ``inference`` scope. For each request: check the token (cached), find the model's
running runtime (cached; a sleeping on-demand model is woken and waited for up to
``HUB_GATEWAY_WAKE_WAIT_S``), take a concurrency lease (held until the last byte, renewed
while streaming), forward the body with the runtime's model name over a pooled
``httpx.AsyncClient`` per upstream, then record one usage event. A client that
disconnects cancels the upstream request and frees its lease.

Runtimes that speak the OpenAI protocol (their adapter mixes in ``OpenAIChat`` /
``OpenAIEmbeddings``) are proxied byte for byte; others go through their adapter's
methods, which translate. Either way the client sees the asset id as ``model``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any, TypeVar

import httpx
from django.core.exceptions import ObjectDoesNotExist
from redis.asyncio import BlockingConnectionPool
from redis.asyncio import Redis as AsyncRedis

from models_admin import credentials
from models_admin.limits import json_too_deep
from runtimes.adapters._http import HttpAdapter, error_from_response, error_from_transport
from runtimes.adapters._openai import CHAT_PATH, EMBEDDINGS_PATH, OpenAIChat, OpenAIEmbeddings
from runtimes.binding import RuntimeBinding
from runtimes.errors import (
    InternalError,
    ModelLoading,
    RuntimeAdapterError,
    RuntimeBusy,
    UpstreamError,
)
from runtimes.gateway.batch import Batcher
from runtimes.gateway.cache import ALL, Invalidator, TTLCache
from runtimes.gateway.errors import (
    AuthenticationFailed,
    BadRequest,
    PayloadTooLarge,
    PermissionDenied,
    RouteNotFound,
    error_body,
)
from runtimes.gateway.resolve import Target, forget, inspect
from runtimes.leases import AsyncLeases, Lease, LeaseRefused
from runtimes.lifecycle.activity import mark_request_finished
from runtimes.lifecycle.policy import policy_for, wake_refusal
from runtimes.protocols.embedding import EmbeddingRequest, TextEmbeddingRuntime
from runtimes.protocols.llm import AsyncLLMRuntime, ChatRequest, LLMRuntime
from runtimes.upstream import DEFAULT_SECRET_TTL_S, UpstreamSecrets
from runtimes.usage import UsageEvent

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
T = TypeVar("T")

LLM = "llm-runtime"
EMBEDDING = "embedding-runtime"
JSON_HEADERS = [(b"content-type", b"application/json")]
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


@dataclass(frozen=True)
class GatewayConfig:
    redis_url: str
    wake_wait_s: float = 30.0
    wake_poll_s: float = 0.25
    target_ttl_s: float = 5.0
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 300.0
    max_connections_per_upstream: int = 1000
    redis_max_connections: int = 256
    redis_pool_timeout_s: float = 5.0
    mark_request_every_s: float = 10.0
    secrets_dir: str | None = None  # HUB_RUNTIME_SECRETS_DIR: where upstream key files may live
    secret_ttl_s: float = DEFAULT_SECRET_TTL_S  # a rotated key file is used within this time
    max_body_bytes: int = 32 * 1024 * 1024
    max_depth: int = 64

    @classmethod
    def from_settings(cls) -> GatewayConfig:
        from django.conf import settings

        from hub.env import env_float, env_int

        return cls(
            redis_url=settings.REDIS_URL,
            wake_wait_s=env_float("HUB_GATEWAY_WAKE_WAIT_S", 30.0),
            target_ttl_s=env_float("HUB_GATEWAY_CACHE_TTL_S", 5.0),
            read_timeout_s=env_float("HUB_GATEWAY_READ_TIMEOUT_S", 300.0),
            redis_max_connections=env_int("HUB_GATEWAY_REDIS_CONNECTIONS", 256),
            secrets_dir=settings.HUB_RUNTIME_SECRETS_DIR,
            secret_ttl_s=settings.HUB_RUNTIME_SECRET_CACHE_S,
            max_body_bytes=settings.HUB_GATEWAY_MAX_BODY_BYTES,
            max_depth=settings.HUB_MAX_JSON_DEPTH,
        )


@dataclass
class _Call:
    """One proxied request's bookkeeping (for the usage event)."""

    started_at: float
    started: float
    asset_id: str = ""
    interface: str = ""
    status: int = 200
    prompt_tokens: int = 0
    completion_tokens: int = 0
    input_count: int = 0
    first_token: float | None = None
    last_token: float | None = None
    response_started: bool = False
    response_done: bool = False
    client_gone: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class ClientGone(Exception):
    pass


class Gateway:
    """The ASGI application. One per process; start it with :meth:`startup`."""

    def __init__(self, config: GatewayConfig | None = None) -> None:
        self._config = config
        self._started = False
        self._start_lock: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._adapters: dict[tuple[str, str, str, str | None, str | None], HttpAdapter] = {}
        self._waits: dict[str, asyncio.Future[tuple[Target, bool]]] = {}
        self._last_mark: dict[str, float] = {}
        self._retry_after: dict[str, float] = {}
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gateway-db")

    @property
    def config(self) -> GatewayConfig:
        if self._config is None:
            self._config = GatewayConfig.from_settings()
        return self._config

    async def startup(self) -> None:
        if self._started:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._started:
                return
            config = self.config
            # A blocking pool: a burst beyond its size waits for a free connection instead of
            # failing with "Too many connections" (redis-py's default pool raises at once).
            self.redis = AsyncRedis(
                connection_pool=BlockingConnectionPool.from_url(
                    config.redis_url,
                    max_connections=config.redis_max_connections,
                    timeout=config.redis_pool_timeout_s,
                )
            )
            self.leases = AsyncLeases(self.redis)
            self.targets: TTLCache[Target] = TTLCache(config.target_ttl_s)
            self.models_list: TTLCache[bytes] = TTLCache(config.target_ttl_s)
            self.secrets = UpstreamSecrets(config.secrets_dir, ttl_s=config.secret_ttl_s)
            self.batcher = Batcher(self.redis, self.leases)
            self.batcher.start()
            self.invalidator = Invalidator(self.redis, self._invalidate)
            self.invalidator.start()
            self._started = True

    async def shutdown(self) -> None:
        if not self._started:
            return
        await self.invalidator.stop()
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)
        await self.batcher.stop()
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        for adapter in self._adapters.values():
            await adapter.aclose()
        self._adapters.clear()
        await self.redis.aclose()
        self._started = False

    def _invalidate(self, key: str) -> None:
        if key == ALL:
            self.targets.clear()
            credentials.forget_tokens()
            self.secrets.forget()
        else:
            self.targets.pop(key)
        self.models_list.clear()
        forget(key)

    async def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a database function in the gateway's small thread pool."""

        def call() -> T:
            from django.db import close_old_connections

            close_old_connections()
            try:
                return fn(*args, **kwargs)
            finally:
                close_old_connections()

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._spawned_done)

    def _spawned_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("gateway: background task failed: %r", task.exception())

    # ASGI entry point

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if not self._started:
            await self.startup()
        call = _Call(started_at=time.time(), started=time.perf_counter())
        try:
            await self._route(scope, receive, send, call)
        except ClientGone:
            call.status = 499
        except RuntimeAdapterError as exc:
            call.status = exc.http_status
            if not call.response_started:
                await self._send_error(send, exc)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not call.client_gone or task is None:
                raise
            task.uncancel()
            call.status = 499
        except Exception:
            log.exception("gateway: unexpected error on %s", scope.get("path"))
            call.status = 500
            if not call.response_started:
                await self._send_error(send, InternalError("internal error in the gateway"))
        if call.asset_id:
            self._record(call)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _route(self, scope: Scope, receive: Receive, send: Send, call: _Call) -> None:
        path = scope["path"].rstrip("/")
        method = scope["method"]
        if path == "/v1/models" and method == "GET":
            await self._authenticate(scope)
            await self._list_models(send)
            return
        if path == "/v1/chat/completions" and method == "POST":
            call.interface = LLM
        elif path == "/v1/embeddings" and method == "POST":
            call.interface = EMBEDDING
        else:
            raise RouteNotFound(f"no route {method} {scope['path']}")
        principal, token = await self._authenticate(scope)
        body = await _read_body(receive, self.config.max_body_bytes)
        request = _Body.parse(body, max_depth=self.config.max_depth)
        model = request.data.get("model")
        if not isinstance(model, str) or not model:
            raise BadRequest("model: a model id is required", field="model")
        if call.interface == LLM:
            _check_chat(request.data)
        else:
            call.input_count = _check_embeddings(request.data)
        target = await self._target(model, call.interface, lambda: self._actor(principal, token))
        call.asset_id = target.asset_id
        lease = await self._acquire(target)
        if lease is None:
            await self._forwarding(scope, receive, send, call, target, request)
            return
        # A timer, not a task: most requests end long before the first renewal is due.
        renewal = _Renewal(self, lease, target.lease_ttl_s)
        try:
            await self._forwarding(scope, receive, send, call, target, request)
        finally:
            renewal.cancel()
            self.batcher.release(lease.lease_id)  # sent right after the response, with its usage event

    # Authentication

    async def _authenticate(self, scope: Scope) -> tuple[credentials.Principal, Any]:
        header = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        secret = credentials.bearer_secret(header)
        if secret is None:
            raise AuthenticationFailed("missing bearer token: send 'Authorization: Bearer <token>'")
        remote = (scope.get("client") or (None,))[0]
        key = credentials.cache_key(secret, remote)
        generation = await credentials.generation_async(self.redis)
        hit = credentials.cached(key, generation)
        if hit is None:
            hit = await self._db(credentials.authenticate, secret, remote, generation)
            if hit is None:
                raise AuthenticationFailed("invalid, expired or revoked API token")
            credentials.remember(key, hit, generation)
        if not hit[0].has_scope("inference"):
            raise PermissionDenied("this token lacks the 'inference' scope")
        return hit

    @staticmethod
    def _actor(principal: credentials.Principal, token: Any) -> Any:
        from models_admin.audit import Actor

        return Actor.for_token(token)

    # Resolving

    async def _target(self, model: str, interface: str, actor: Callable[[], Any]) -> Target:
        target, _ = await self.resolve(model, interface, actor, self.config.wake_wait_s)
        return target

    async def resolve(
        self, model: str, interface: str | None, actor: Callable[[], Any], wait_s: float
    ) -> tuple[Target, bool]:
        """The running target of ``model`` and whether it had to be woken (``just_started``).

        Waits up to ``wait_s`` for a waking model (waiters on one model share one poll),
        then raises ``ModelLoading`` with a ``Retry-After`` estimate.
        """
        cached = self.targets.get(model)
        if cached is not None:
            target, just_started = cached, False
        else:
            waiter = self._waits.get(model)
            if waiter is None:
                try:
                    target, just_started = (
                        await self._db(inspect, model, None, wake=True, actor=actor()),
                        False,
                    )
                    self.targets.put(model, target)
                except ModelLoading as exc:
                    self._retry_after[model] = exc.retry_after or 5
                    if wait_s <= 0:
                        raise
                    waiter = self._waits.get(model)
                    if waiter is None:
                        waiter = asyncio.ensure_future(self._wait_running(model))
                        self._waits[model] = waiter
                        waiter.add_done_callback(lambda done: self._end_wait(model, done))
            if waiter is not None:
                try:
                    target, just_started = await asyncio.wait_for(asyncio.shield(waiter), max(wait_s, 0.0))
                except TimeoutError:
                    raise ModelLoading(
                        f"model {model!r} is starting; retry later",
                        retry_after=self._retry_after.get(model, 5),
                    ) from None
        if interface is not None:
            target.check_interface(interface)
        return target, just_started

    def _end_wait(self, model: str, waiter: asyncio.Future[tuple[Target, bool]]) -> None:
        self._waits.pop(model, None)
        if not waiter.cancelled():
            waiter.exception()  # read here: every caller may have stopped waiting before it ended

    async def _wait_running(self, model: str) -> tuple[Target, bool]:
        """Poll resolve until the (already woken) model runs; errors other than loading end it."""
        deadline = time.monotonic() + max(self.config.wake_wait_s, 60.0)
        while True:
            await asyncio.sleep(self.config.wake_poll_s)
            try:
                target = await self._db(inspect, model, None, wake=False)
            except ModelLoading as exc:
                self._retry_after[model] = exc.retry_after or 5
                if time.monotonic() >= deadline:
                    raise
                continue
            self.targets.put(model, target)
            return target, True

    # Leases

    async def _acquire(self, target: Target) -> Lease | None:
        """A lease on one of the target's slots (None: no limit), or ``RuntimeBusy`` (429)."""
        if not target.max_concurrency:
            return None
        got = await self.leases.try_acquire(target.asset_id, target.max_concurrency, target.lease_ttl_s)
        if isinstance(got, LeaseRefused):
            raise RuntimeBusy(
                f"model {target.asset_id!r} is serving its maximum of {target.max_concurrency} requests",
                retry_after=got.retry_after,
            )
        return got

    # Forwarding

    async def _forwarding(
        self, scope: Scope, receive: Receive, send: Send, call: _Call, target: Target, request: _Body
    ) -> None:
        """Forward while watching for the client to go away; then cancel the work."""
        task = asyncio.current_task()
        assert task is not None

        async def watch() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    if not call.response_done:
                        call.client_gone = True
                        task.cancel()
                    return

        watcher = asyncio.ensure_future(watch())
        try:
            await self._forward(send, call, target, request)
        except httpx.TransportError as exc:
            self.targets.pop(target.asset_id)  # the runtime may have moved or died: re-resolve next time
            raise error_from_transport(exc, target.base_url) from exc
        finally:
            watcher.cancel()

    def _adapter(self, target: Target) -> HttpAdapter:
        key = (target.kind, target.model, target.base_url, target.api_key_env, target.api_key_file)
        adapter = self._adapters.get(key)
        if adapter is None:
            from runtimes.registry import accepts_api_key, make_adapter

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

    @staticmethod
    def _upstream_headers(adapter: HttpAdapter) -> dict[str, str]:
        # Never the caller's Authorization: that is a hub token, not the runtime's key. The
        # runtime's own key (if any) is asked for per request: ``self.secrets`` caches it.
        return {"content-type": "application/json", **adapter.auth_headers()}

    def _client(self, url: str) -> httpx.AsyncClient:
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

    async def _forward(self, send: Send, call: _Call, target: Target, body: _Body) -> None:
        adapter = self._adapter(target)
        request = body.data
        stream = call.interface == LLM and bool(request.get("stream"))
        if call.interface == LLM and isinstance(adapter, OpenAIChat):
            if stream:
                injected = "stream_options" not in request
                content = body.forward(target.model, stream_options=injected)
                await self._proxy_stream(send, call, adapter, content, strip_usage=injected)
            else:
                await self._proxy_json(send, call, adapter, CHAT_PATH, body.forward(target.model))
        elif call.interface == EMBEDDING and isinstance(adapter, OpenAIEmbeddings):
            await self._proxy_json(send, call, adapter, EMBEDDINGS_PATH, body.forward(target.model))
        elif call.interface == LLM and stream and isinstance(adapter, AsyncLLMRuntime):
            request["model"] = target.model
            await self._adapter_stream(send, call, adapter, request)
        elif call.interface == LLM and isinstance(adapter, LLMRuntime):
            request["model"] = target.model
            response = await asyncio.to_thread(adapter.chat, ChatRequest(body=request))
            if response.usage is not None:
                call.prompt_tokens = response.usage.prompt_tokens
                call.completion_tokens = response.usage.completion_tokens
            answer = {**response.body, "model": call.asset_id}
            await self._send_json(send, call, 200, json.dumps(answer).encode())
        elif call.interface == EMBEDDING and isinstance(adapter, TextEmbeddingRuntime):
            inputs = request["input"]
            texts = [inputs] if isinstance(inputs, str) else inputs
            if not all(isinstance(t, str) for t in texts):
                raise BadRequest("input: this runtime embeds text only", field="input")
            extra = {k: v for k, v in request.items() if k not in {"model", "input", "dimensions"}}
            embedded = await asyncio.to_thread(
                adapter.embed,
                EmbeddingRequest(inputs=texts, dimensions=request.get("dimensions"), extra=extra),
            )
            if embedded.usage is not None:
                call.prompt_tokens = embedded.usage.prompt_tokens
            answer = {**embedded.as_openai(), "model": call.asset_id}
            await self._send_json(send, call, 200, json.dumps(answer).encode())
        else:
            raise InternalError(f"{target.kind} runtime cannot serve {call.interface}")

    async def _proxy_json(
        self, send: Send, call: _Call, adapter: HttpAdapter, path: str, content: bytes
    ) -> None:
        url = adapter.endpoint_url(path)
        response = await self._client(url).post(url, content=content, headers=self._upstream_headers(adapter))
        if response.status_code >= 400:
            raise error_from_response(response)
        content = response.content
        usage = _usage_of(content)
        if usage is not None:
            call.prompt_tokens, call.completion_tokens = usage
        await self._send_json(send, call, 200, _answer_model(content, call.asset_id))

    async def _proxy_stream(
        self, send: Send, call: _Call, adapter: HttpAdapter, content: bytes, *, strip_usage: bool
    ) -> None:
        url = adapter.endpoint_url(CHAT_PATH)
        client = self._client(url)
        upstream = client.build_request("POST", url, content=content, headers=self._upstream_headers(adapter))
        response = await client.send(upstream, stream=True)
        try:
            if response.status_code >= 400:
                await response.aread()
                raise error_from_response(response)
            call.response_started = True
            await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
            model = json.dumps(call.asset_id).encode()
            pending = b""
            try:
                async for raw in response.aiter_raw():
                    if b"\r" in raw:
                        raw = raw.replace(b"\r\n", b"\n")
                    pending += raw
                    end = pending.rfind(b"\n\n")
                    if end < 0:
                        continue
                    events, pending = pending[: end + 2], pending[end + 2 :]
                    events = _with_model(self._observe_events(call, events, strip_usage), model)
                    if events:
                        await send({"type": "http.response.body", "body": events, "more_body": True})
            except httpx.TransportError as exc:
                error = error_from_transport(exc, url)
                call.status = error.http_status
                pending += b"data: " + json.dumps(error_body(error)).encode() + b"\n\n"
            call.response_done = True
            await send(
                {"type": "http.response.body", "body": _with_model(pending, model), "more_body": False}
            )
        finally:
            await response.aclose()

    def _observe_events(self, call: _Call, events: bytes, strip_usage: bool) -> bytes:
        """Note token timing and usage; drop the usage-only event the client did not ask for."""
        now = time.perf_counter()
        if call.first_token is None:
            call.first_token = now
        call.last_token = now
        if b'"usage"' not in events:
            return events
        kept = []
        for event in events.split(b"\n\n"):
            if not event:
                continue
            if b'"usage"' in event and event.startswith(b"data:"):
                with contextlib.suppress(ValueError, AttributeError, TypeError):
                    payload = json.loads(event[5:])
                    usage = payload.get("usage")
                    if usage:
                        call.prompt_tokens = int(usage.get("prompt_tokens") or 0)
                        call.completion_tokens = int(usage.get("completion_tokens") or 0)
                        if strip_usage and not payload.get("choices"):
                            continue
            kept.append(event + b"\n\n")
        return b"".join(kept)

    async def _adapter_stream(
        self, send: Send, call: _Call, adapter: AsyncLLMRuntime, request: dict[str, Any]
    ) -> None:
        chunks = adapter.achat_stream(ChatRequest(body=request))
        model = json.dumps(call.asset_id).encode()
        try:
            async for chunk in chunks:
                if not call.response_started:
                    call.response_started = True
                    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
                if chunk.usage is not None:
                    call.prompt_tokens = chunk.usage.prompt_tokens
                    call.completion_tokens = chunk.usage.completion_tokens
                now = time.perf_counter()
                call.first_token = call.first_token or now
                call.last_token = now
                await send(
                    {"type": "http.response.body", "body": _with_model(chunk.sse, model), "more_body": True}
                )
        except UpstreamError as exc:
            if not call.response_started:
                raise
            call.status = exc.http_status
            await send(
                {
                    "type": "http.response.body",
                    "body": b"data: " + json.dumps(error_body(exc)).encode() + b"\n\n",
                    "more_body": True,
                }
            )
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]
        call.response_done = True
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    # Responses

    async def _send_json(self, send: Send, call: _Call, status: int, body: bytes) -> None:
        call.response_started = True
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*JSON_HEADERS, (b"content-length", str(len(body)).encode())],
            }
        )
        call.response_done = True
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _send_error(self, send: Send, exc: RuntimeAdapterError) -> None:
        body = json.dumps(error_body(exc)).encode()
        headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in exc.response_headers().items()]
        await send({"type": "http.response.start", "status": exc.http_status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _list_models(self, send: Send) -> None:
        body = self.models_list.get("")
        if body is None:
            body = json.dumps({"object": "list", "data": await self._db(_live_models)}).encode()
            self.models_list.put("", body)
        await self._send_json(send, _Call(0, 0), 200, body)

    # Usage

    def _record(self, call: _Call) -> None:
        generation_ms = None
        if call.first_token is not None and call.last_token is not None:
            generation_ms = (call.last_token - call.first_token) * 1000
        event = UsageEvent(
            asset_id=call.asset_id,
            interface=call.interface,
            started_at=call.started_at,
            duration_ms=(time.perf_counter() - call.started) * 1000,
            status=call.status,
            prompt_tokens=call.prompt_tokens,
            completion_tokens=call.completion_tokens,
            input_count=call.input_count,
            generation_ms=generation_ms,
        )
        self.batcher.usage(event)
        now = time.monotonic()
        if now - self._last_mark.get(call.asset_id, 0.0) >= self.config.mark_request_every_s:
            self._last_mark[call.asset_id] = now
            self._spawn(self._db(mark_request_finished, call.asset_id))


class _Renewal:
    """Renews a lease every third of its TTL while a (long, streamed) request holds it."""

    def __init__(self, gateway: Gateway, lease: Lease, ttl_s: float) -> None:
        self.gateway = gateway
        self.lease = lease
        self.ttl_s = ttl_s
        self.loop = asyncio.get_running_loop()
        self.handle: asyncio.TimerHandle | None = self.loop.call_later(ttl_s / 3, self._due)

    def _due(self) -> None:
        self.gateway._spawn(self._renew())
        self.handle = self.loop.call_later(self.ttl_s / 3, self._due)

    async def _renew(self) -> None:
        with contextlib.suppress(Exception):
            await self.gateway.leases.renew(self.lease.lease_id, self.ttl_s)

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _parse_json(body: bytes) -> dict[str, Any]:
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the request body is not valid JSON") from None
    if not isinstance(request, dict):
        raise BadRequest("the request body must be a JSON object")
    return request


_DECODER = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_STREAM_OPTIONS = ',"stream_options":{"include_usage":true}'


class _Body:
    """A request body parsed once, remembering where its top-level ``model`` value sits.

    Forwarding swaps the model name (and may add ``stream_options``) by splicing the
    client's own bytes rather than serializing the parsed object again: a long chat
    history costs one parse on the way through, not a parse and a dump.
    """

    __slots__ = ("_raw", "_span", "_text", "data")

    def __init__(self, data: dict[str, Any], raw: bytes, text: str, span: tuple[int, int] | None) -> None:
        self.data = data
        self._raw = raw
        self._text = text
        self._span = span

    @classmethod
    def parse(cls, raw: bytes, *, max_depth: int) -> _Body:
        """Parse ``raw``; :class:`BadRequest` if it is not a JSON object or nests too deeply.

        The depth is checked before parsing: the json module's C decoder recurses, and
        would raise ``RecursionError`` on a body nested some thousand levels deep.
        """
        if json_too_deep(raw, max_depth):
            raise BadRequest(f"the request body is nested more than {max_depth} levels deep")
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            text = ""
        start = _WHITESPACE.match(text).end()  # type: ignore[union-attr]
        if not text.startswith("{", start):  # not UTF-8, or not an object: json.loads judges
            return cls(_parse_json(raw), raw, "", None)
        try:
            data, span = _scan_object(text, start)
        except ValueError:
            raise BadRequest("the request body is not valid JSON") from None
        return cls(data, raw, text, span)

    def forward(self, model: str, *, stream_options: bool = False) -> bytes:
        """The body for the runtime: ``model`` set to its name there; usage asked for if told."""
        if self._span is None:  # no (or a repeated) "model" key: serialize afresh
            data = {**self.data, "model": model}
            if stream_options:
                data["stream_options"] = {"include_usage": True}
            return json.dumps(data).encode()
        start, end = self._span
        if len(self._text) == len(self._raw):  # ASCII: text offsets are byte offsets
            out = self._raw[:start] + json.dumps(model).encode() + self._raw[end:]
        else:
            out = (self._text[:start] + json.dumps(model) + self._text[end:]).encode()
        if stream_options:
            close = out.rindex(b"}")
            out = out[:close] + _STREAM_OPTIONS.encode() + out[close:]
        return out


def _scan_object(text: str, idx: int) -> tuple[dict[str, Any], tuple[int, int] | None]:
    """``json.loads`` of the object at ``text[idx]``, plus the span of its one ``model`` value.

    Each top-level value is decoded by the json module's C scanner; only the handful of
    top-level keys are walked here. Raises ``ValueError`` on anything ``json.loads`` rejects.
    """
    data: dict[str, Any] = {}
    span: tuple[int, int] | None = None
    models = 0
    idx = _WHITESPACE.match(text, idx + 1).end()  # type: ignore[union-attr]
    if text.startswith("}", idx):
        idx += 1
    else:
        while True:
            if not text.startswith('"', idx):
                raise ValueError("expected a key")
            key, idx = scanstring(text, idx + 1)
            idx = _WHITESPACE.match(text, idx).end()  # type: ignore[union-attr]
            if not text.startswith(":", idx):
                raise ValueError("expected ':'")
            idx = _WHITESPACE.match(text, idx + 1).end()  # type: ignore[union-attr]
            value, end = _DECODER.raw_decode(text, idx)
            if key == "model":
                span, models = (idx, end), models + 1
            data[key] = value
            idx = _WHITESPACE.match(text, end).end()  # type: ignore[union-attr]
            if text.startswith(",", idx):
                idx = _WHITESPACE.match(text, idx + 1).end()  # type: ignore[union-attr]
                continue
            if text.startswith("}", idx):
                idx += 1
                break
            raise ValueError("expected ',' or '}'")
    if _WHITESPACE.match(text, idx).end() != len(text):  # type: ignore[union-attr]
        raise ValueError("extra data after the object")
    return data, span if models == 1 else None


def _usage_of(content: bytes) -> tuple[int, int] | None:
    """(prompt_tokens, completion_tokens) of an OpenAI response body, or None without usage.

    Servers put ``usage`` after the (possibly huge: embeddings) payload, so the last
    ``"usage"`` key is decoded on its own; anything unexpected falls back to a full parse.
    """
    at = content.rfind(b'"usage"')
    if at < 0:
        return None
    usage: Any = None
    if at > 0 and content[at - 1 : at] != b"\\":
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            text = content[at + 7 :].decode()
            idx = _WHITESPACE.match(text).end()  # type: ignore[union-attr]
            if text.startswith(":", idx):
                idx = _WHITESPACE.match(text, idx + 1).end()  # type: ignore[union-attr]
                usage, _ = _DECODER.raw_decode(text, idx)
    if not isinstance(usage, dict):
        try:
            parsed = json.loads(content)
        except (ValueError, UnicodeDecodeError):
            return None
        usage = parsed.get("usage") if isinstance(parsed, dict) else None
        if not isinstance(usage, dict):
            return None
    try:
        return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    except (ValueError, TypeError):
        return None


# A top-level-looking "model" key and its string (or null) value. The key's opening quote
# must follow "{" or "," (whitespace aside): inside a JSON string every quote is escaped,
# so this never matches text in a message, tool arguments or any other string value.
_MODEL_VALUE = re.compile(rb'([{,][ \t\r\n]*"model"[ \t\r\n]*:[ \t\r\n]*)(?:"(?:[^"\\]|\\.)*"|null)')


def _with_model(content: bytes, model: bytes) -> bytes:
    """``content`` with each ``"model"`` key's value spliced to ``model`` (a JSON string).

    For SSE events (one ``model`` per event) and OpenAI answers, whose schemas nest no
    other ``model`` key: one scan of the bytes, no JSON parse or re-encode.
    """
    if b'"model"' not in content:
        return content
    return _MODEL_VALUE.sub(lambda match: match.group(1) + model, content)


def _answer_model(content: bytes, asset_id: str) -> bytes:
    """The upstream's JSON answer with ``model`` set to the asset id (added if it had none)."""
    model = json.dumps(asset_id).encode()
    replaced, found = _MODEL_VALUE.subn(lambda match: match.group(1) + model, content, 1)
    if found:
        return replaced
    try:
        answer = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return content
    if not isinstance(answer, dict):
        return content
    return json.dumps({**answer, "model": asset_id}).encode()


def _check_chat(request: dict[str, Any]) -> None:
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages: a non-empty list of messages is required", field="messages")
    if not all(isinstance(m, dict) for m in messages):
        raise BadRequest("messages: every message must be an object", field="messages")
    if "stream" in request and not isinstance(request["stream"], bool):
        raise BadRequest("stream: must be true or false", field="stream")


def _check_embeddings(request: dict[str, Any]) -> int:
    """Validate ``input``; returns how many inputs the batch has."""
    inputs = request.get("input")
    if isinstance(inputs, str):
        return 1
    if isinstance(inputs, list) and inputs:
        return len(inputs)
    raise BadRequest("input: a string or a non-empty list is required", field="input")


def _live_models() -> list[dict[str, Any]]:
    """The models a request can be served by now or on wake, in OpenAI's shape plus ``hub``.

    Approved, not retired, with a runtime block of a known kind, and not refused by the
    lifecycle's wake rule (desired stopped, failed); an external runtime, which the hub
    routes to without starting it, is listed whenever it is runnable.
    """
    from models_admin.documents import document_interfaces
    from models_admin.models import Asset

    query = Asset.objects.filter(live_spec__isnull=False, retired_at__isnull=True).select_related(
        "runtime_state"
    )
    models = []
    for asset in query.order_by("asset_id"):
        policy = policy_for(asset)
        try:
            state: str | None = str(asset.runtime_state.state)
        except ObjectDoesNotExist:  # never started: no runtime state row yet
            state = None
        if not policy.runnable or (policy.managed and wake_refusal(policy, state)):
            continue
        live: dict[str, Any] = asset.live_spec or {}
        models.append(
            {
                "id": asset.asset_id,
                "object": "model",
                "created": int(asset.created_at.timestamp()),
                "owned_by": "hub",
                "hub": {
                    "display_name": live.get("display_name") or asset.display_name,
                    "interfaces": document_interfaces(live),
                    "metadata": live.get("metadata") or {},
                },
            }
        )
    return models
