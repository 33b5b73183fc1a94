"""The gateway's pipelined Redis connection (``runtimes/gateway/resp.py``), against the real Redis."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest
import uvloop
from django.conf import settings
from redis import Redis
from redis.exceptions import AuthenticationError, ConnectionError, NoScriptError, ResponseError

from runtimes.gateway.batch import Batcher
from runtimes.gateway.resp import Endpoint, RespClient, Script
from runtimes.usage import USAGE_STREAM, UsageEvent

T = TypeVar("T")


Run = Callable[..., Any]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Run:
    """``run(scenario, url=REDIS_URL)``: ``scenario(client)`` on each event loop the gateway may
    run on (uvicorn picks uvloop when it is installed)."""
    factory = uvloop.new_event_loop if request.param == "uvloop" else asyncio.new_event_loop

    def run_(scenario: Callable[[RespClient], Awaitable[T]], url: str | None = None) -> T:
        async def main() -> T:
            client = RespClient(url or settings.REDIS_URL)
            try:
                return await scenario(client)
            finally:
                await client.aclose()

        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(main())

    return run_


def unique_script(body: str) -> Script:
    """A script Redis has never seen (its text is new): its first EVALSHA answers NOSCRIPT."""
    return Script(f"-- {secrets.token_hex(8)}\n{body}")


def test_concurrent_commands_each_get_their_own_reply(redis_client: Redis, run: Run) -> None:
    async def scenario(client: RespClient) -> tuple[list[Any], list[Any]]:
        echoes = await asyncio.gather(*(client.execute("ECHO", f"call-{i}") for i in range(300)))
        counts = await asyncio.gather(*(client.execute("INCR", "resp:counter") for _ in range(100)))
        return echoes, counts

    echoes, counts = run(scenario)
    assert echoes == [f"call-{i}".encode() for i in range(300)]
    assert sorted(counts) == list(range(1, 101))
    assert counts == sorted(counts)  # sent in call order, answered in that order
    assert redis_client.get("resp:counter") == b"100"


def test_an_error_reply_is_raised_and_returned_in_place(redis_client: Redis, run: Run) -> None:
    redis_client.set("resp:string", "v")

    async def scenario(client: RespClient) -> tuple[list[Any], BaseException, BaseException, Any]:
        many = await client.execute_many(
            [["GET", "resp:string"], ["HSET", "resp:string", "f", "v"], ["NOSUCHCOMMAND"], ["ECHO", "after"]]
        )
        with pytest.raises(ResponseError) as wrongtype:
            await client.execute("LPUSH", "resp:string", "x")
        with pytest.raises(NoScriptError) as noscript:
            await client.execute("EVALSHA", "0" * 40, 0)
        return many, wrongtype.value, noscript.value, await client.execute("PING")

    many, wrongtype, noscript, pong = run(scenario)
    assert many[0] == b"v"
    assert type(many[1]) is ResponseError
    assert str(many[1]).startswith("WRONGTYPE")
    assert type(many[2]) is ResponseError
    assert "unknown command" in str(many[2])
    assert many[3] == b"after"
    assert str(wrongtype).startswith("WRONGTYPE")
    assert "No matching script" in str(noscript)
    assert pong == b"PONG"  # the connection goes on after errors


def test_a_script_redis_does_not_have_is_loaded_and_run(redis_client: Redis, run: Run) -> None:
    script = unique_script("return {KEYS[1], ARGV[1]}")
    assert redis_client.script_exists(script.sha) == [False]

    async def scenario(client: RespClient) -> list[Any]:
        return [
            await client.evalsha(script, ["resp:k"], ["first"]),  # NOSCRIPT: loaded by its text
            await client.evalsha(script, ["resp:k"], ["second"]),  # by its SHA1 now
        ]

    assert run(scenario) == [[b"resp:k", b"first"], [b"resp:k", b"second"]]
    assert redis_client.script_exists(script.sha) == [True]


def test_a_dropped_connection_fails_the_calls_on_it_and_the_next_one_reconnects(
    redis_client: Redis, run: Run
) -> None:
    async def scenario(client: RespClient) -> tuple[int, BaseException, int]:
        first_id = int(await client.execute("CLIENT", "ID"))
        blocked = asyncio.ensure_future(client.execute("BLPOP", "resp:never", 30))
        queued_behind = asyncio.ensure_future(client.execute("ECHO", "behind"))
        while str(first_id) not in _blocked_clients(redis_client):
            await asyncio.sleep(0.01)
        redis_client.client_kill_filter(_id=str(first_id))
        results = await asyncio.gather(blocked, queued_behind, return_exceptions=True)
        assert all(isinstance(result, ConnectionError) for result in results), results
        return first_id, results[0], int(await client.execute("CLIENT", "ID"))

    first_id, error, second_id = run(scenario)
    assert isinstance(error, ConnectionError)
    assert second_id != first_id


def _blocked_clients(redis_client: Redis) -> set[str]:
    return {str(client["id"]) for client in redis_client.client_list() if client.get("cmd") == "blpop"}


def test_the_database_of_the_url_is_selected(redis_client: Redis, run: Run) -> None:
    redis_client.set("resp:where", "this database")

    async def scenario(client: RespClient) -> tuple[Any, Any]:
        return await client.execute("GET", "resp:where"), await client.execute("CLIENT", "INFO")

    value, info = run(scenario)
    assert value == b"this database"
    assert f" db={Endpoint.from_url(settings.REDIS_URL).db} " in info.decode()


def test_credentials_in_the_url_are_sent_on_connect(redis_client: Redis, run: Run) -> None:
    user, password = f"resp-test-{secrets.token_hex(4)}", secrets.token_hex(16)
    redis_client.acl_setuser(
        user, enabled=True, passwords=[f"+{password}"], keys=["resp:*"], commands=["+select", "+set", "+get"]
    )
    try:

        async def as_user(client: RespClient) -> Any:
            await client.execute("SET", "resp:acl", "written")
            return await client.execute("GET", "resp:acl")

        assert run(as_user, _with_credentials(settings.REDIS_URL, user, password)) == b"written"
        assert redis_client.get("resp:acl") == b"written"

        async def refused(client: RespClient) -> BaseException:
            with pytest.raises(AuthenticationError) as raised:
                await client.execute("PING")
            return raised.value

        assert isinstance(
            run(refused, _with_credentials(settings.REDIS_URL, user, "wrong")), AuthenticationError
        )
    finally:
        redis_client.acl_deluser(user)


def _with_credentials(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.netloc}"))


def test_urls_are_read_as_redis_py_reads_them() -> None:
    assert Endpoint.from_url("redis://u:p%40ss@example.org:6380/3") == Endpoint(
        host="example.org", port=6380, username="u", password="p@ss", db=3
    )
    assert Endpoint.from_url("redis://:secret@localhost") == Endpoint(password="secret")
    assert Endpoint.from_url("rediss://cache.internal/2") == Endpoint(host="cache.internal", tls=True, db=2)
    assert Endpoint.from_url("unix:///run/redis.sock?db=5") == Endpoint(path="/run/redis.sock", db=5)
    with pytest.raises(ValueError, match="ssl_cert_reqs"):
        Endpoint.from_url("rediss://cache.internal/0?ssl_cert_reqs=none")
    with pytest.raises(ValueError, match="scheme"):
        Endpoint.from_url("http://localhost:6379")


def test_an_unreachable_redis_is_a_connection_error(run: Run) -> None:
    async def scenario(client: RespClient) -> list[Any]:
        return await asyncio.gather(*(client.execute("PING") for _ in range(5)), return_exceptions=True)

    failures = run(scenario, "unix:///nonexistent/redis.sock")
    assert all(isinstance(failure, ConnectionError) for failure in failures), failures


def test_the_batcher_sends_releases_and_usage_events_together(redis_client: Redis, run: Run) -> None:
    script = unique_script("redis.call('SET', KEYS[1], ARGV[1]) return ARGV[1]")
    event = UsageEvent("chat-model", "llm-runtime", time.time(), 12.5, 200, 3, 4, generation_ms=None)
    answers: list[Any] = []

    async def scenario(client: RespClient) -> None:
        batcher = Batcher(client)
        batcher.release(script, ["resp:released"], ["slot-1"], answers.append)
        batcher.usage(event)
        await batcher.stop()

    run(scenario)
    assert answers == [b"slot-1"]  # the script Redis did not have was loaded and run
    assert redis_client.get("resp:released") == b"slot-1"
    entries: Any = redis_client.xrange(USAGE_STREAM)
    [(_, fields)] = entries
    assert UsageEvent.from_fields(fields) == event
