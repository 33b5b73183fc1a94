"""Least privilege in PostgreSQL: the app's role cannot undo the audit table's append-only rule.

Built as docker-compose builds it, on a fresh database: ``deploy/postgres/10-hub-roles.sh``
makes an owner and an app role, ``manage.py migrate`` runs with ``DATABASE_URL`` (app) and
``DATABASE_OWNER_URL`` (owner). Then the app role's own connection tries every way to change
or remove audit rows. Needs a role that may create roles and databases (CI's ``postgres``, the
embedded superuser).
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pgserver
import psycopg
import pytest
from django.conf import settings
from psycopg import sql

from tests.conftest import child_env

ROOT = Path(__file__).resolve().parents[2]
ROLES_SCRIPT = ROOT / "deploy/postgres/10-hub-roles.sh"
pytestmark = pytest.mark.slow

AUDIT = "models_admin_auditentry"
INSERT_AUDIT = (
    f"INSERT INTO {AUDIT} (at, actor_label, source, request_id, action, object_type, object_id, detail)"
    " VALUES (now(), 'system', 'system', '', 'test.event', 'test', '1', 'original') RETURNING id"
)


@dataclass(frozen=True)
class Server:
    host: str
    port: str
    user: str
    password: str

    def conninfo(self, dbname: str, user: str | None = None, password: str | None = None) -> dict[str, str]:
        info = {"host": self.host, "dbname": dbname, "user": user or self.user}
        if self.port:
            info["port"] = self.port
        if (password if user else self.password) or "":
            info["password"] = (password if user else self.password) or ""
        return info

    def url(self, dbname: str, user: str, password: str) -> str:
        auth = f"{quote(user)}:{quote(password)}"
        if self.host.startswith("/"):
            port = f"&port={self.port}" if self.port else ""
            return f"postgresql://{auth}@/{dbname}?host={quote(self.host)}{port}"
        port = f":{self.port}" if self.port else ""
        return f"postgresql://{auth}@{self.host}{port}/{dbname}"


@dataclass(frozen=True)
class Roles:
    server: Server
    database: str
    owner: str
    app: str
    app_password: str
    migrate_env: dict[str, str]

    def app_connection(self) -> psycopg.Connection[tuple[object, ...]]:
        info = self.server.conninfo(self.database, self.app, self.app_password)
        return psycopg.connect(**info, autocommit=True)  # type: ignore[arg-type]


def _psql() -> str:
    return shutil.which("psql") or str(Path(pgserver.__file__).parent / "pginstall/bin/psql")


def _migrate(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def roles() -> Iterator[Roles]:
    db = settings.DATABASES["default"]
    server = Server(
        str(db["HOST"] or "127.0.0.1"), str(db["PORT"] or ""), str(db["USER"]), str(db["PASSWORD"])
    )
    admin = psycopg.connect(**server.conninfo(str(db["NAME"])), autocommit=True)  # type: ignore[arg-type]
    row = admin.execute(
        "SELECT rolsuper OR (rolcreaterole AND rolcreatedb) FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    if not (row and row[0]):
        admin.close()
        pytest.skip("DATABASE_URL's role may not create roles and databases")
    suffix = secrets.token_hex(4)
    database, owner, app = f"hub_roles_{suffix}", f"hub_owner_{suffix}", f"hub_app_{suffix}"
    owner_password, app_password = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    try:
        psql_env = {
            "PATH": str(Path(_psql()).parent) + ":/usr/bin:/bin",
            "POSTGRES_USER": server.user,
            "POSTGRES_DB": database,
            "PGHOST": server.host,
            "PGPORT": server.port or "5432",
            "PGPASSWORD": server.password,
            "HUB_DB_OWNER": owner,
            "HUB_DB_OWNER_PASSWORD": owner_password,
            "HUB_DB_APP": app,
            "HUB_DB_APP_PASSWORD": app_password,
        }
        made = subprocess.run(["sh", str(ROLES_SCRIPT)], env=psql_env, capture_output=True, text=True)
        assert made.returncode == 0, made.stderr
        migrate_env = child_env(
            DATABASE_URL=server.url(database, app, app_password),
            DATABASE_OWNER_URL=server.url(database, owner, owner_password),
        )
        _migrate(migrate_env)
        yield Roles(server, database, owner, app, app_password, migrate_env)
    finally:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        for role in (app, owner):
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        admin.close()


def test_migrations_ran_as_the_owner_role(roles: Roles) -> None:
    with roles.app_connection() as conn:
        owners = {
            row[0] for row in conn.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")
        }
    assert owners == {roles.owner}


def test_the_app_role_reads_and_writes_rows(roles: Roles) -> None:
    with roles.app_connection() as conn:
        audit_id = conn.execute(INSERT_AUDIT).fetchone()
        assert audit_id is not None
        conn.execute(
            "INSERT INTO django_session (session_key, session_data, expire_date) VALUES ('k', 'd', now())"
        )
        conn.execute("UPDATE django_session SET session_data = 'e' WHERE session_key = 'k'")
        conn.execute("DELETE FROM django_session WHERE session_key = 'k'")
        assert conn.execute(f"SELECT detail FROM {AUDIT} WHERE id = %s", audit_id).fetchone() == ("original",)


@pytest.mark.parametrize(
    "statement",
    [
        f"UPDATE {AUDIT} SET detail = 'rewritten'",
        f"DELETE FROM {AUDIT}",
        f"TRUNCATE {AUDIT}",
        f"ALTER TABLE {AUDIT} DISABLE TRIGGER models_admin_auditentry_append_only",
        f"ALTER TABLE {AUDIT} DISABLE TRIGGER ALL",
        f"ALTER TABLE {AUDIT} ADD COLUMN note text",
        f"DROP TABLE {AUDIT} CASCADE",
        "DROP FUNCTION hub_audit_append_only() CASCADE",
        "SET session_replication_role = replica",  # would skip every trigger
        "CREATE TABLE models_admin_shadow (id int)",
        f"ALTER TABLE {AUDIT} OWNER TO CURRENT_USER",
    ],
)
def test_the_app_role_cannot_change_or_remove_audit_rows(roles: Roles, statement: str) -> None:
    with roles.app_connection() as conn:
        conn.execute(INSERT_AUDIT)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)
        assert conn.execute(f"SELECT count(*) FROM {AUDIT} WHERE detail = 'original'").fetchone() != (0,)


def test_migrate_is_idempotent_and_keeps_the_grants(roles: Roles) -> None:
    _migrate(roles.migrate_env)
    with roles.app_connection() as conn:
        conn.execute(INSERT_AUDIT)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"UPDATE {AUDIT} SET detail = 'rewritten'")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {
                "DATABASE_URL": "postgresql://app@127.0.0.1/hub",
                "DATABASE_OWNER_URL": "postgresql://owner@127.0.0.1/other",
            },
            "DATABASE_OWNER_URL: names database 'other', DATABASE_URL names 'hub'",
        ),
        (
            {
                "DATABASE_URL": "postgresql://127.0.0.1/hub",
                "DATABASE_OWNER_URL": "postgresql://owner@127.0.0.1/hub",
            },
            "DATABASE_URL: name the app role's user",
        ),
        (
            {"DATABASE_OWNER_URL": "postgresql://owner@127.0.0.1/hub"},
            "DATABASE_OWNER_URL: set DATABASE_URL too",
        ),
        (
            {
                "DATABASE_URL": "postgresql://app@127.0.0.1/hub",
                "DATABASE_OWNER_URL": "mysql://owner@127.0.0.1/hub",
            },
            "DATABASE_OWNER_URL: only PostgreSQL is supported",
        ),
    ],
)
def test_a_wrong_owner_url_is_refused_naming_the_setting(env: dict[str, str], message: str) -> None:
    base = {k: v for k, v in child_env().items() if k not in {"DATABASE_URL", "DATABASE_OWNER_URL"}}
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--check"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert message in done.stderr
