"""What every HTTP adapter shares: one pooled client, explicit timeouts, error mapping."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel

from runtimes.binding import RuntimeBinding
from runtimes.errors import (
    HealthCheckFailed,
    InvalidRequest,
    ModelLoading,
    ModelNotFound,
    RuntimeAdapterError,
    RuntimeBusy,
    RuntimeTimeout,
    UpstreamError,
)

DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_READ_TIMEOUT_S = 300.0  # a long generation between two streamed tokens is still fine
DEFAULT_LOADING_RETRY_AFTER_S = 5.0
KEEPALIVE_EXPIRY_S = 2.0


def error_message(response: httpx.Response) -> str:
    """The most useful message in an error response, whatever shape it has."""
    try:
        payload = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:500] or response.reason_phrase
    if isinstance(payload, dict):
        error = payload.get("error", payload.get("message", payload.get("detail")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error:
            return str(error)[:500]
    return str(payload)[:500]


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return default


def error_from_response(response: httpx.Response) -> RuntimeAdapterError:
    """Name an upstream error response in our taxonomy. The body must be read."""
    status = response.status_code
    message = f"{response.request.url.path}: {error_message(response)}"
    if status == 404:
        return ModelNotFound(message)
    if status == 503:
        return ModelLoading(message, retry_after=_retry_after(response, DEFAULT_LOADING_RETRY_AFTER_S))
    if status == 429:
        return RuntimeBusy(message, retry_after=_retry_after(response, 1.0))
    if status in (400, 422):
        return InvalidRequest(message)
    return UpstreamError(message, upstream_status=status)


def error_from_transport(exc: httpx.TransportError, url: str) -> RuntimeAdapterError:
    if isinstance(exc, httpx.TimeoutException):
        return RuntimeTimeout(f"{url}: no answer in time ({type(exc).__name__})")
    if isinstance(exc, httpx.ConnectError):
        return UpstreamError(f"{url}: cannot connect: {exc}")
    return UpstreamError(f"{url}: connection failed: {exc!r}")


def poll_until(probe: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    """Call ``probe`` with backoff until true; ``HealthCheckFailed`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while not probe():
        if time.monotonic() >= deadline:
            raise HealthCheckFailed(f"{what}: not ready after {timeout_s:g}s")
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 2.0)


class _AdapterAuth(httpx.Auth):
    """Adds the adapter's auth headers to every request, asked for afresh each time.

    Asked per request rather than fixed when the client is made, so a rotated key is
    used as soon as the adapter's key source returns it.
    """

    def __init__(self, headers: Callable[[], dict[str, str]]) -> None:
        self._headers = headers

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(self._headers())
        yield request


@contextlib.asynccontextmanager
async def answered(response: httpx.Response) -> AsyncIterator[httpx.Response]:
    """A streamed ``response`` that succeeded; an error status raises ours (its body read first).
    Closed on exit, whatever happens."""
    try:
        if response.status_code >= 400:
            await response.aread()
            raise error_from_response(response)
        yield response
    finally:
        await response.aclose()


class HttpAdapter:
    """Base for adapters that speak HTTP to one runtime server.

    One ``httpx.Client`` per adapter instance (pooled keep-alive connections), and an
    ``httpx.AsyncClient`` made on first async use. Subclasses name their ``kind``
    and the pydantic model of the ``runtime`` block they accept.
    """

    kind: ClassVar[str]
    launchable: ClassVar[bool] = False
    accepts_api_key: ClassVar[bool] = False  # may name runtime.api_key_env / api_key_file
    config_model: ClassVar[type[BaseModel]]

    def __init__(
        self,
        binding: RuntimeBinding,
        *,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
        max_connections: int = 32,
    ) -> None:
        self.binding = binding
        self._base_url = (binding.base_url or "").rstrip("/")
        self._timeout = httpx.Timeout(
            connect=connect_timeout_s, read=read_timeout_s, write=30.0, pool=connect_timeout_s
        )
        self._limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            # Below the servers' own idle timeouts (llama-server closes after 5 s), so we
            # never reuse a connection the server is closing at that very moment.
            keepalive_expiry=KEEPALIVE_EXPIRY_S,
        )
        self._auth = _AdapterAuth(self.auth_headers)
        self._client = httpx.Client(timeout=self._timeout, limits=self._limits, auth=self._auth)
        self._aclient: httpx.AsyncClient | None = None

    @property
    def base_url(self) -> str:
        """Where the runtime listens ('' for a launchable runtime not started yet)."""
        return self._base_url

    def config_schema(self) -> dict[str, Any]:
        """JSON Schema of the ``runtime`` block this kind accepts."""
        return self.config_model.model_json_schema()

    def close(self) -> None:
        """Close pooled connections (the async client must be closed with ``aclose``)."""
        self._client.close()

    async def aclose(self) -> None:
        self._client.close()
        if self._aclient is not None:
            await self._aclient.aclose()
            self._aclient = None

    def _headers(self) -> dict[str, str]:
        return {}

    def auth_headers(self) -> dict[str, str]:
        """Headers every request to the runtime carries (its API key, if it has one).

        For callers that send requests of their own (the gateway's pooled proxy); a
        subclass customizes ``_headers``.
        """
        return dict(self._headers())

    def endpoint_url(self, path: str) -> str:
        """The absolute URL of ``path`` on the runtime; ``UpstreamError`` if it has no address yet."""
        return self._url(path)

    def _async_client(self) -> httpx.AsyncClient:
        if self._aclient is None:
            self._aclient = httpx.AsyncClient(timeout=self._timeout, limits=self._limits, auth=self._auth)
        return self._aclient

    def _url(self, path: str) -> str:
        if not self._base_url:
            raise UpstreamError(f"{self.kind} runtime for {self.binding.model!r} has no address")
        return self._base_url + path

    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        timeout: httpx.Timeout | float | None = None,
    ) -> httpx.Response:
        """Send one request; any error status or transport failure raises ours."""
        url = self._url(path)
        request = self._client.build_request(
            method,
            url,
            json=json_body,
            params=params,
            timeout=self._timeout if timeout is None else timeout,
        )
        try:
            response = self._send(request)
        except httpx.TransportError as exc:
            raise error_from_transport(exc, url) from exc
        try:
            response.read()
        except httpx.TransportError as exc:
            response.close()
            raise error_from_transport(exc, url) from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    def _send(self, request: httpx.Request) -> httpx.Response:
        """Send, retrying once if a pooled connection turns out closed before any answer.

        Servers close idle keep-alive connections on their own schedule; the request
        that lands on one at that moment was never read, so sending it again is safe.
        The response is streamed: read or close it.
        """
        try:
            return self._client.send(request, stream=True)
        except httpx.RemoteProtocolError:
            return self._client.send(request, stream=True)

    async def _asend(self, request: httpx.Request) -> httpx.Response:
        client = self._async_client()
        try:
            return await client.send(request, stream=True)
        except httpx.RemoteProtocolError:
            return await client.send(request, stream=True)

    @contextlib.contextmanager
    def _streaming(self, path: str, body: Any) -> Iterator[httpx.Response]:
        """POST ``body`` and yield the streaming response; error statuses raise ours."""
        url = self._url(path)
        try:
            response = self._send(self._client.build_request("POST", url, json=body))
        except httpx.TransportError as exc:
            raise error_from_transport(exc, url) from exc
        try:
            if response.status_code >= 400:
                response.read()
                raise error_from_response(response)
            yield response
        finally:
            response.close()

    @contextlib.asynccontextmanager
    async def _astreaming(self, path: str, body: Any) -> AsyncIterator[httpx.Response]:
        url = self._url(path)
        client = self._async_client()
        try:
            response = await self._asend(client.build_request("POST", url, json=body))
        except httpx.TransportError as exc:
            raise error_from_transport(exc, url) from exc
        async with answered(response) as ok:
            yield ok

    def _get_json(self, path: str, *, timeout: float | None = None) -> Any:
        response = self._request("GET", path, timeout=timeout)
        try:
            return response.json()
        except json.JSONDecodeError as exc:
            raise UpstreamError(f"{path}: not JSON: {response.text[:200]!r}") from exc

    def _status(self, path: str, *, timeout: float = 5.0) -> int | None:
        """The status code of ``GET path``, or None if the server cannot be reached."""
        try:
            return self._client.get(self._url(path), timeout=timeout).status_code
        except (httpx.TransportError, UpstreamError):
            return None
