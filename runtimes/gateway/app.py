"""The OpenAI-compatible gateway: a raw ASGI app in front of Django for ``/v1/``.

Routes come from the interface specs (``routes.py``); ``/v1/models`` lists the assets
servable now or on wake. Requests are authenticated with an API token holding the
``inference`` scope. For each request: check the token (cached), find the model's running
runtime (the shared :data:`~runtimes.gateway.resolver.resolver`; a sleeping on-demand model
is woken and waited for up to ``HUB_GATEWAY_WAKE_WAIT_S``), take a concurrency slot, waiting
in the model's queue when all are taken (``queue.py``), forward (``operations.py``,
``forward.py``), then record one usage event. A client that disconnects cancels the upstream
request (watched for from ``WATCH_AFTER_S`` into the request on); its slot is freed once the
upstream call has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
from django.db import close_old_connections

import core.redis
from models_admin import credentials
from models_admin.audit import Actor
from runtimes.adapters._http import error_from_transport
from runtimes.errors import InternalError, ModelLoading, RuntimeAdapterError
from runtimes.gateway import sse
from runtimes.gateway.asgi import (
    Call,
    ClientGone,
    Receive,
    Scope,
    Send,
    header,
    read_body,
    send_error,
    send_json,
)
from runtimes.gateway.authn import TokenCheck, authenticate
from runtimes.gateway.batch import Batcher
from runtimes.gateway.cache import ALL, Invalidator, TTLCache
from runtimes.gateway.catalog import live_models
from runtimes.gateway.config import GatewayConfig
from runtimes.gateway.errors import BadRequest
from runtimes.gateway.forward import Upstreams
from runtimes.gateway.jsonbody import Body
from runtimes.gateway.operations import Operation
from runtimes.gateway.queue import Queue
from runtimes.gateway.recording import Recorder
from runtimes.gateway.resolve import Target
from runtimes.gateway.resolver import Resolver, resolver
from runtimes.gateway.resp import RespClient
from runtimes.gateway.routes import MODELS_PATH, route_for
from runtimes.upstream import UpstreamSecrets

log = logging.getLogger(__name__)
T = TypeVar("T")
# How long a request runs before the gateway watches for its client leaving (``_watching``).
WATCH_AFTER_S = 0.005


class Gateway:
    """The ASGI application. One per process; start it with :meth:`startup`."""

    def __init__(self, config: GatewayConfig | None = None, resolver_: Resolver | None = None) -> None:
        self._config = config
        self.resolver = resolver_ or resolver
        self._started = False
        self._start_lock: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
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
            self.redis = core.redis.async_client(
                url=config.redis_url,
                max_connections=config.redis_max_connections,
                pool_timeout_s=config.redis_pool_timeout_s,
            )
            # The hot path's commands (queue scripts, releases, usage events, the token check's
            # generation) go pipelined on one connection of its own; the pool above carries the
            # pub/sub subscriptions.
            self.resp = RespClient(config.redis_url, connect_timeout_s=core.redis.CONNECT_TIMEOUT_S)
            self.models_list: TTLCache[bytes] = TTLCache(config.target_ttl_s)
            self.secrets = UpstreamSecrets(config.secrets_dir, ttl_s=config.secret_ttl_s)
            self.upstreams = Upstreams(config, self.secrets)
            self.batcher = Batcher(self.resp)
            self.queue = Queue(
                self.redis,
                self.resp,
                self.batcher,
                ttl_s=config.lease_ttl_s,
                heartbeat_s=config.heartbeat_s,
                poll_s=config.queue_poll_s,
            )
            self.queue.start()
            self.recorder = Recorder(self.batcher, self._spawn, self._db, config.mark_request_every_s)
            self.invalidator = Invalidator(self.redis, self._invalidate)
            self.invalidator.start()
            # What is loaded by now (Django, the app, the pools) lives as long as the process:
            # keep it out of the cyclic collector's full passes, which would walk it all.
            gc.collect()
            gc.freeze()
            self._started = True

    async def shutdown(self) -> None:
        if not self._started:
            return
        await self.invalidator.stop()
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)
        await self.queue.stop()
        await self.batcher.stop()
        await self.upstreams.aclose()
        await self.resp.aclose()
        await self.redis.aclose()
        self._started = False

    def _invalidate(self, key: str) -> None:
        if key == ALL:
            credentials.forget_tokens()
            self.secrets.forget()
        self.resolver.forget(key)
        self.models_list.clear()

    async def _db(self, fn: Callable[[], T]) -> T:
        """Run a database function in the gateway's small thread pool."""

        def call() -> T:
            close_old_connections()
            try:
                return fn()
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
        call = Call(started_at=time.time(), started=time.perf_counter())
        try:
            try:
                await self._route(scope, receive, send, call)
            except RuntimeAdapterError:
                await self._confirmed(call)  # a token the cache still vouched for: checked first
                raise
        except ClientGone:
            call.status = 499
        except RuntimeAdapterError as exc:
            call.status = exc.http_status
            if not call.response_started:
                await send_error(send, exc)
            elif call.streaming and not call.response_done:  # a stream that waited in line
                await sse.finish(send, call, sse.error_event(exc))
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
                await send_error(send, InternalError("internal error in the gateway"))
        if call.asset_id:
            self.recorder.record(call)

    async def _confirmed(self, call: Call) -> None:
        check = call.extra.get("token")
        if isinstance(check, TokenCheck):
            await check.confirm_now(self.resp, self._db)

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

    async def _route(self, scope: Scope, receive: Receive, send: Send, call: Call) -> None:
        path, method = scope["path"].rstrip("/"), scope["method"]
        if path == MODELS_PATH and method == "GET":
            await authenticate(scope, self.resp, self._db)
            await self._list_models(send)
            return
        route = route_for(method, scope["path"])
        call.interface = route.interface
        operation = route.served_by()
        check = call.extra["token"] = TokenCheck(scope)
        await check.token(self.resp, self._db)
        raw = await read_body(receive, self.config.max_body_bytes)
        request = operation.parse(raw, header(scope, b"content-type"), self.config.max_depth)
        model = request.data.get("model")
        if not isinstance(model, str) or not model:
            raise BadRequest("model: a model id is required", field="model")
        call.input_count = operation.check(request.data)
        stream = operation.streams(request.data)
        await self._watching(receive, call, self._serve(send, call, operation, model, check, request, stream))

    async def _serve(
        self,
        send: Send,
        call: Call,
        operation: Operation,
        model: str,
        check: TokenCheck,
        request: Body,
        stream: bool,
    ) -> None:
        """Resolve, wait in the model's queue for a slot, forward; the slot is freed at the end.

        A model that is loading is waited for in the same queue: its first requests hold
        the slots while it loads, the rest wait behind them. A token known from the cache is
        confirmed with the generation the queue answers, before anything is forwarded (and
        before a model is woken for it).
        """
        started = time.monotonic()
        if self.resolver.targets.get(model) is None:
            await check.confirm_now(self.resp, self._db)

        def actor() -> Actor:
            assert check.hit is not None
            return Actor.for_token(check.hit[1])

        target: Target | None
        try:
            target, _ = await self.resolver.resolve(model, call.interface, db=self._db, actor=actor, wait_s=0)
            limits = target.limits
            call.asset_id = target.asset_id
        except ModelLoading:
            target, limits = None, await self._db(lambda: self.resolver.limits(model))
        slot = None
        if limits is not None:
            on_wait = sse.waiting_comments(send, call) if stream else None
            keepalive_s = self.config.queue_keepalive_s
            slot = await self.queue.admit(model, limits, on_wait=on_wait, keepalive_s=keepalive_s)
        served_from: float | None = None
        released = False

        def release() -> None:  # once: when the runtime has answered, or at the end at the latest
            nonlocal released
            if slot is not None and not released:
                released = True
                self.queue.release(slot, None if served_from is None else time.monotonic() - served_from)

        call.upstream_done = release
        try:
            if slot is not None:
                await check.confirm(slot.generation, self._db)
            else:
                await check.confirm_now(self.resp, self._db)
            if target is None:
                budget = (limits.queue_timeout_s if limits else self.config.wake_wait_s) - (
                    time.monotonic() - started
                )
                wait_s = max(0.0, min(self.config.wake_wait_s, budget))
                target, _ = await self.resolver.resolve(
                    model, call.interface, db=self._db, actor=actor, wait_s=wait_s
                )
                call.asset_id = target.asset_id
            served_from = time.monotonic()
            try:
                await operation.serve(self.upstreams, send, call, target, request)
            except httpx.TransportError as exc:
                self.resolver.targets.pop(target.asset_id)  # the runtime may have moved or died: re-resolve
                raise error_from_transport(exc, target.base_url) from exc
        finally:
            release()  # sent right after the response, with its usage event

    # Forwarding

    async def _watching(self, receive: Receive, call: Call, work: Awaitable[None]) -> None:
        """Run ``work`` while watching for the client to go away; then cancel it.

        The watch (a task awaiting the client's next message) starts once the request has run
        ``WATCH_AFTER_S``: most answers are sent before, and cost no task. A client gone
        earlier is noticed then, the server having marked the request disconnected.
        """
        task = asyncio.current_task()
        assert task is not None
        watcher: asyncio.Task[None] | None = None

        async def watch() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    if not call.response_done:
                        call.client_gone = True
                        task.cancel()
                    return

        def start() -> None:
            nonlocal watcher
            watcher = asyncio.ensure_future(watch())

        timer = asyncio.get_running_loop().call_later(WATCH_AFTER_S, start)
        try:
            await work
        finally:
            timer.cancel()
            if watcher is not None:
                watcher.cancel()

    async def _list_models(self, send: Send) -> None:
        body = self.models_list.get("")
        if body is None:
            body = json.dumps({"object": "list", "data": await self._db(live_models)}).encode()
            self.models_list.put("", body)
        await send_json(send, Call(0, 0), 200, body)
