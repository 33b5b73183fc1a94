"""Every shell command of the README, verbatim and in order, against a fresh database.

The ```sh blocks of README.md are run one command at a time in one bash session (so a
variable a command sets, like ``TOKEN``, reaches the later ones), from the repository root.
Skipped: ``uv run manage.py up``, which runs until Ctrl-C (``tests/ui/test_up_browser.py``
drives it), and ``uv run pytest`` itself. In their place the test does what ``up`` does
before serving: migrate a new, empty database and load the demo catalog, then serve the
ASGI app on a free port.
Nothing in a command is substituted; the environment carries what the README tells the
reader to set (``HUB``, the hub's address) and the configuration of that database
(``DATABASE_URL``, ``REDIS_URL``, ``SECRET_KEY``, README "Configuration").
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg
import pytest
from django.conf import settings
from redis import Redis

from tests.test_up import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SKIPPED = ("uv run manage.py up", "uv run pytest")
# Files the commands write into the working tree (removed afterwards, restored if they were there).
WRITES = [ROOT / "catalog.yaml"]
# What `up` loads into an empty database (the bundled Gemma asset needs the real-runtime extra).
LOAD_DEMO = (
    "from models_admin.audit import Actor; from models_admin.demo import do_load_demo; "
    "plan, missing = do_load_demo(actor=Actor.system()); assert not missing, missing"
)


def readme_commands(text: str) -> list[str]:
    """The commands of the ```sh blocks, in order: one per line, ``\\`` continuations joined."""
    commands: list[str] = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, flags=re.M | re.S):
        pending = ""
        for line in block.splitlines():
            if pending:
                line = line.lstrip()  # a continuation's indent is only layout
            if line.endswith("\\"):
                pending += line[:-1].rstrip() + " "
                continue
            command = (pending + line).strip()
            pending = ""
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def is_skipped(command: str) -> bool:
    words = shlex.split(command, comments=True)
    return any(words[: len(s.split())] == s.split() for s in SKIPPED)


def test_the_readme_parser_takes_sh_blocks_joins_continuations_and_skips_up_and_pytest() -> None:
    text = (
        "```sh\nuv run manage.py up   # run\nuv run pytest\n```\n"
        "```python\nprint('not a command')\n```\n"
        "```sh\n# a comment\ncurl -X POST \"$HUB/x\" \\\n     -d '{}'\nuv run manage.py upgrade\n```\n"
    )
    commands = readme_commands(text)
    assert commands == [
        "uv run manage.py up   # run",
        "uv run pytest",
        "curl -X POST \"$HUB/x\" -d '{}'",
        "uv run manage.py upgrade",
    ]
    assert [is_skipped(c) for c in commands] == [True, True, False, False]


def _fresh_database_url() -> Iterator[str]:
    db = settings.DATABASES["default"]
    user = quote(str(db["USER"] or ""))
    auth = user + (":" + quote(str(db["PASSWORD"])) if db["PASSWORD"] else "")
    host, port = str(db["HOST"] or "127.0.0.1"), str(db["PORT"] or "5432")
    name = f"hub_readme_{uuid.uuid4().hex[:10]}"

    def url(database: str) -> str:
        if host.startswith("/"):  # the embedded server's socket directory
            return f"postgresql://{auth}@/{database}?host={quote(host)}&port={port}"
        return f"postgresql://{auth}@{host}:{port}/{database}"

    with psycopg.connect(url("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url(name)
    finally:
        with psycopg.connect(url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_database() -> Iterator[str]:
    yield from _fresh_database_url()


@pytest.fixture
def kept_files() -> Iterator[None]:
    saved = {path: path.read_bytes() for path in WRITES if path.exists()}
    try:
        yield
    finally:
        for path in WRITES:
            path.unlink(missing_ok=True)
            if path in saved:
                path.write_bytes(saved[path])


def serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """The web part of ``up`` (``hub.serve``), with the environment ``up`` gives it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env={**env, "HUB_DEV": "1"},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the web server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    pytest.fail(f"the web server never became ready:\n{log.read_text()}")


def script(commands: list[str]) -> str:
    """One bash session: each command as written, stopping at the first that fails."""
    lines = []
    for i, command in enumerate(commands, start=1):
        lines.append(f"echo {shlex.quote(f'>>> [{i}] {command}')}")
        lines.append(command)
        lines.append(f'rc=$?; if [ "$rc" -ne 0 ]; then echo ">>> [{i}] failed with status $rc"; exit 1; fi')
    return "\n".join(lines) + "\n"


def test_every_readme_command_works_as_written(fresh_database: str, kept_files: None, tmp_path: Path) -> None:
    commands = [c for c in readme_commands(README.read_text()) if not is_skipped(c)]
    assert len(commands) >= 10
    redis = Redis.from_url(settings.REDIS_URL)
    redis.flushdb()
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"HUB_TESTING", "DJANGO_SETTINGS_MODULE", "CELERY_BROKER_URL", "DEBUG"}
    }
    env.update(
        DATABASE_URL=fresh_database,
        REDIS_URL=settings.REDIS_URL,
        SECRET_KEY="readme-commands-" + uuid.uuid4().hex,
        HUB=f"http://127.0.0.1:{port}",
        HUB_VAR_DIR=str(tmp_path / "var"),
    )
    migrated = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert migrated.returncode == 0, migrated.stderr
    demo = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", LOAD_DEMO],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert demo.returncode == 0, demo.stderr
    web = serve(env, port, tmp_path / "web.log")
    try:
        done = subprocess.run(
            ["bash", "-c", script(commands)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        web.terminate()
        web.wait(timeout=30)
        redis.flushdb()
        redis.close()
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert output.count(">>> [") == len(commands)  # every command ran
    assert "Traceback" not in output, output[-6000:]
    assert (ROOT / "catalog.yaml").exists()
