"""The processes ``bench/gateway.py`` measures: the fake upstreams, the hub, LiteLLM's proxy.

Django is set up by ``setup_catalog`` only (the load generator's processes never import it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
ASSET = "bench-llm"
STREAM_ASSET = "bench-llm-sse"  # the same, behind the canned upstream's streaming port
QUEUED = "bench-queued"
SLOTS = 4
# The hub as it runs in production: ``python -m hub.serve`` (uvicorn, httptools parser, uvloop
# event loop, no access log), ``workers`` processes.
# The peer, pinned; installed by uv into its own cached tool environment, never into ours.
LITELLM = "litellm[proxy]==1.108.7"
LITELLM_KEY = "sk-bench-peer"


@dataclass
class Target:
    """Something the bench sends chat requests to, and the process whose CPU it reads."""

    name: str
    url: str
    model: str
    pid: int
    headers: dict[str, str] = field(default_factory=dict)
    stream_url: str = ""  # where streamed chats go, when not to ``url``
    stream_model: str = ""  # the model they name, when not ``model``


class Ports:
    """Ports from ``base`` on (``0``: free ones the kernel picks)."""

    def __init__(self, base: int) -> None:
        self.next = base

    def take(self) -> int:
        if self.next:
            self.next += 1
            return self.next - 1
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 60, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited ({proc.returncode})")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"}


def start_fake(port: int, model: str, delay_s: float = 0.0) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "tests.fakes.llama_cpp", "-m", model, "--port", str(port)]
    if delay_s:
        args += ["--delay", str(delay_s)]
    return subprocess.Popen(args, cwd=ROOT, env=env(), stdout=subprocess.DEVNULL)


def hub_command(port: int, workers: int = 1) -> list[str]:
    """The hub as it runs in production, on loopback: ``python -m hub.serve``, quiet."""
    args = ["-m", "hub.serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    return [sys.executable, *args, "--log-level", "warning"]


def start_hub(port: int, workers: int = 1) -> subprocess.Popen[bytes]:
    return subprocess.Popen(hub_command(port, workers), cwd=ROOT, env=env())


def start_litellm(
    port: int, fake_url: str, timeout: float, stream_url: str
) -> tuple[subprocess.Popen[bytes], Path] | None:
    """LiteLLM's proxy through ``uvx``: one worker, zero prices, no database, the same
    upstreams (``stream_url`` for :data:`STREAM_ASSET`). ``None`` (after a one-line message)
    when uv is missing or it does not come up in ``timeout`` seconds (the first run installs it
    from the package index)."""
    uvx = shutil.which("uvx")
    if uvx is None:
        print("peer litellm skipped: uvx is not on PATH", flush=True)
        return None
    workdir = Path(tempfile.mkdtemp(prefix="bench-litellm-"))
    config = workdir / "config.yaml"
    models = "".join(
        f"  - model_name: {name}\n"
        "    litellm_params:\n"
        "      model: openai/bench.gguf\n"
        f"      api_base: {url}/v1\n"
        "      api_key: none\n"
        "      input_cost_per_token: 0\n"
        "      output_cost_per_token: 0\n"
        for name, url in ((ASSET, fake_url), (STREAM_ASSET, stream_url))
    )
    config.write_text(
        "model_list:\n" + models + "litellm_settings:\n"
        "  telemetry: false\n"
        "general_settings:\n"
        f"  master_key: {LITELLM_KEY}\n"
    )
    # No database (nor Redis): the bench's own DATABASE_URL / REDIS_URL must not reach it.
    peer_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PYTHONPATH")}
    peer_env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_TELEMETRY="False", LITELLM_LOG="ERROR")
    log = (workdir / "litellm.log").open("wb")
    args = [uvx, "--from", LITELLM, "litellm", "--config", str(config)]
    args += ["--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    proc = subprocess.Popen(args, cwd=workdir, env=peer_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/health/liveliness", timeout=timeout, proc=proc)
    except RuntimeError as exc:
        stop(proc)
        print(f"peer litellm skipped: {exc} (log: {workdir / 'litellm.log'})", flush=True)
        return None
    return proc, workdir


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def setup_catalog(fake_url: str, slow_url: str, stream_url: str) -> str:
    """Migrate, register the assets (approved, running at the upstreams) and make a token."""
    import logging

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from actions.assets import do_import_assets
    from actions.tokens import do_create_token
    from models_admin.audit import Actor
    from models_admin.models import Asset
    from models_admin.yaml_io import SourceDocument
    from runtimes.models import RuntimeState

    doc = {
        "asset_id": ASSET,
        "display_name": "Bench LLM",
        "version": "1.0.0",
        "interface": "llm-runtime",
        "interface_version": "v1",
        "class": "model",
        "lifecycle": {"desired": "running"},
        "policy": {"max_concurrency": 1000},
        "metadata": {"context_length": 4096},
        "runtime": {"kind": "llama-cpp", "model": "bench.gguf", "base_url": fake_url},
    }
    queued = {
        **doc,
        "asset_id": QUEUED,
        "display_name": "Bench queued LLM",
        "policy": {"max_concurrency": SLOTS, "max_queue": 1000, "queue_timeout_s": 300},
        "runtime": {"kind": "llama-cpp", "model": "slow.gguf", "base_url": slow_url},
    }
    streamed = {**doc, "asset_id": STREAM_ASSET, "display_name": "Bench LLM (streams)"}
    streamed["runtime"] = {"kind": "llama-cpp", "model": "bench.gguf", "base_url": stream_url}
    docs = (doc, queued, streamed)
    sources = [SourceDocument("bench", i, d) for i, d in enumerate(docs, 1)]
    do_import_assets(sources, actor=Actor.system(), approved=True)
    for asset_id, url in ((ASSET, fake_url), (QUEUED, slow_url), (STREAM_ASSET, stream_url)):
        asset = Asset.objects.get(asset_id=asset_id)
        RuntimeState.objects.update_or_create(asset=asset, defaults={"state": "running", "base_url": url})
    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_superuser": True})
    _, secret = do_create_token(
        user, actor=Actor(user=user, source="cli"), scopes=["inference", "gateway"], name="bench"
    )
    return str(secret)
