"""Leases: atomic slots in Redis that free themselves when their holder dies."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from redis import Redis

from runtimes.leases import Lease, LeaseRefused, Leases


@pytest.fixture
def leases(redis_client: Redis) -> Leases:
    return Leases(redis_client)


def test_it_grants_up_to_max_concurrency_and_then_refuses(leases: Leases) -> None:
    first = leases.acquire("a", 2, 30)
    second = leases.acquire("a", 2, 30)
    third = leases.try_acquire("a", 2, 30)
    assert isinstance(first, Lease)
    assert isinstance(second, Lease)
    assert first.lease_id != second.lease_id
    assert isinstance(third, LeaseRefused)
    assert 0 < third.retry_after <= 30
    assert leases.active_counts(["a", "b"]) == {"a": 2, "b": 0}


def test_it_frees_a_slot_on_release(leases: Leases) -> None:
    lease = leases.acquire("a", 1, 30)
    assert lease is not None
    assert leases.acquire("a", 1, 30) is None
    assert leases.release(lease.lease_id) is True
    assert leases.acquire("a", 1, 30) is not None


def test_it_releases_idempotently(leases: Leases) -> None:
    lease = leases.acquire("a", 1, 30)
    assert lease is not None
    assert leases.release(lease.lease_id) is True
    assert leases.release(lease.lease_id) is False


def test_an_expired_lease_frees_its_slot_by_itself(leases: Leases) -> None:
    assert leases.acquire("a", 1, 0.05) is not None
    time.sleep(0.1)
    assert leases.active_counts(["a"]) == {"a": 0}
    assert leases.acquire("a", 1, 30) is not None


def test_a_stale_lease_id_cannot_free_another_holders_slot(leases: Leases) -> None:
    stale = leases.acquire("a", 1, 0.05)
    assert stale is not None
    time.sleep(0.1)
    holder = leases.acquire("a", 1, 30)
    assert holder is not None
    assert leases.release(stale.lease_id) is False
    assert leases.renew(stale.lease_id, 30) is None
    assert leases.active_counts(["a"]) == {"a": 1}
    assert leases.acquire("a", 1, 30) is None


def test_it_renews_a_live_lease(leases: Leases) -> None:
    lease = leases.acquire("a", 1, 0.2)
    assert lease is not None
    expires = leases.renew(lease.lease_id, 60)
    assert expires is not None
    assert expires > lease.expires_at
    time.sleep(0.3)
    assert leases.active_counts(["a"]) == {"a": 1}


def test_an_unknown_lease_id_releases_and_renews_nothing(leases: Leases) -> None:
    assert leases.release("nope") is False
    assert leases.renew("nope", 10) is None


def test_it_rejects_a_ttl_out_of_range(leases: Leases) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        leases.acquire("a", 1, 0)


def test_concurrent_acquires_never_exceed_the_limit(leases: Leases) -> None:
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: leases.acquire("a", 3, 30), range(64)))
    assert sum(1 for r in results if r is not None) == 3
