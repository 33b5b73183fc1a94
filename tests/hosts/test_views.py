"""What people and machines read about hosts: the Hosts page, ``GET /api/v1/hosts``, the host
column of the models list and the host series of ``/metrics``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from actions.tokens import do_create_token
from models_admin.audit import Actor
from models_admin.models import Asset
from runtimes.hosts import registry
from runtimes.hosts.probe import Gpu, Machine
from runtimes.models import Host, ObservedState, RuntimeState
from tests.governance.factories import user_with_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def placed(settings: Any) -> None:
    """gpu-a (declared 24 GB VRAM) runs "qwen" (declares 16 GB, measured 15 000 MB); gpu-b's
    heartbeat is two minutes old; cpu-1 measured its machine (one 8 GB GPU reported by NVML)."""
    settings.HUB_HOST_VRAM_GB, settings.HUB_HOST_RAM_GB = 24.0, 64.0
    registry.record_heartbeat(
        "gpu-a", Machine(16, 128_000, 100_000), queues=["hub", "hub.host.gpu-a"], version="hub 1"
    )
    registry.record_heartbeat("gpu-b", Machine(8, 64_000, 60_000), queues=["hub.host.gpu-b"], version="hub 1")
    Host.objects.filter(name="gpu-b").update(last_heartbeat_at=timezone.now() - timedelta(minutes=2))
    settings.HUB_HOST_VRAM_GB = settings.HUB_HOST_RAM_GB = None
    registry.record_heartbeat(
        "cpu-1", Machine(4, 32_768, 30_000, [Gpu(0, "Fake 8GB", 8192, 6144)]), queues=[], version="hub 1"
    )
    asset = Asset.objects.create(
        asset_id="qwen", display_name="Qwen", version="1", interfaces=["llm-runtime"], spec={}, live_spec=None
    )
    RuntimeState.objects.create(
        asset=asset,
        state=ObservedState.RUNNING,
        host="gpu-a",
        reserved_vram_gb=16,
        measured_vram_mb=15_000,
        measured_ram_mb=900,
        process={"pid": 1},
    )


def token_client(scopes: list[str]) -> Client:
    user = user_with_role("admin")
    _, secret = do_create_token(user, actor=Actor(user=user, source="cli"), scopes=scopes)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_the_api_lists_each_host_with_capacity_placed_models_and_status(placed: None) -> None:
    response = token_client(["read"]).get("/api/v1/hosts")
    assert response.status_code == 200
    hosts = {h["name"]: h for h in response.json()}
    assert sorted(hosts) == ["cpu-1", "gpu-a", "gpu-b"]
    a = hosts["gpu-a"]
    assert (a["status"], a["vram_capacity_gb"], a["vram_used_gb"], a["capacity_declared"]) == (
        "live",
        24,
        16,
        True,
    )
    assert a["queues"] == ["hub", "hub.host.gpu-a"]
    assert a["placed"] == [
        {
            "asset_id": "qwen",
            "state": "running",
            "declared_vram_gb": 16,
            "declared_ram_gb": 0,
            "measured_vram_mb": 15000,
            "measured_ram_mb": 900,
        }
    ]
    assert hosts["gpu-b"]["status"] == "unreachable"
    assert hosts["gpu-b"]["heartbeat_age_s"] >= 119
    cpu = hosts["cpu-1"]
    assert (cpu["capacity_declared"], cpu["vram_capacity_gb"], cpu["ram_capacity_gb"]) == (False, 8, 32)
    assert cpu["gpus"] == [{"index": 0, "name": "Fake 8GB", "vram_total_mb": 8192, "vram_free_mb": 6144}]


def test_the_api_needs_a_token_with_the_read_scope(placed: None) -> None:
    assert Client().get("/api/v1/hosts").status_code == 401
    assert token_client(["inference"]).get("/api/v1/hosts").status_code == 403


def test_the_hosts_page_shows_capacity_bars_placed_models_and_heartbeat_age(
    client: Client, placed: None
) -> None:
    client.force_login(user_with_role("viewer"))
    page = client.get("/hosts/").content.decode()
    assert 'data-host="gpu-a"' in page
    assert "16.0 of 24.0 GB (67%)" in page  # VRAM placed on gpu-a
    assert '<meter min="0" max="24.0" value="16.0"' in page
    assert 'href="/models/qwen/"' in page
    assert "15000 MB" in page  # measured VRAM
    assert "unreachable" in page  # gpu-b
    assert "GPU 0" in page
    assert "2048 of 8192 MB in use (25%)" in page
    assert 'aria-current="page">Hosts</a>' in page


def test_metrics_carry_host_capacity_and_per_asset_vram(placed: None) -> None:
    text = token_client(["read"]).get("/metrics").content.decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    gb = 1024**3
    assert samples[("hub_host_capacity_bytes", (("host", "gpu-a"), ("resource", "vram")))] == 24 * gb
    assert samples[("hub_host_placed_bytes", (("host", "gpu-a"), ("resource", "vram")))] == 16 * gb
    assert samples[("hub_host_up", (("host", "gpu-b"),))] == 0
    labels = (("asset_id", "qwen"), ("host", "gpu-a"), ("interface", "llm-runtime"), ("model_type", "llm"))
    assert samples[("hub_asset_vram_declared_bytes", labels)] == 16 * gb
    assert samples[("hub_asset_vram_measured_bytes", labels)] == 15_000 * 1024**2
