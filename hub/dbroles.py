"""Least privilege in PostgreSQL: an owner role migrates, the app role only reads and writes rows.

The app (web, worker, beat) connects as ``DATABASE_URL``'s role. ``manage.py migrate``
connects as ``DATABASE_OWNER_URL``'s role, which owns every table, and then grants the app
role exactly what :func:`grant_app_privileges` lists. Not owning a table, the app role cannot
``ALTER``, ``DROP`` or ``TRUNCATE`` it or disable its triggers; not a superuser, it cannot set
``session_replication_role`` (which would skip triggers). On the append-only tables it may
only ``SELECT`` and ``INSERT``. See docs/security.md, "Database roles".
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

from hub.env import database_from_url

# Rows here are never changed nor removed by the app (the triggers of models_admin 0004 say so too).
APPEND_ONLY_TABLES = ("models_admin_auditentry",)
_CREDENTIALS = ("USER", "PASSWORD", "HOST", "PORT", "OPTIONS")


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def grant_app_privileges(cursor: Any, app_role: str) -> None:
    """Give ``app_role`` rows, never schema, on every table of ``public``; idempotent.

    Run by the tables' owner after each migration, so new tables are covered. Starts from
    nothing (``REVOKE ALL``) so a privilege granted by hand does not linger.
    """
    role = quote_ident(app_role)
    cursor.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
    cursor.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}")
    cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
    cursor.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}")
    for table in APPEND_ONLY_TABLES:
        cursor.execute(f"REVOKE UPDATE, DELETE ON {quote_ident(table)} FROM {role}")


@contextlib.contextmanager
def as_owner(owner_url: str, *, app_role: str | None = None, alias: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Within the block, ``alias`` connects as ``owner_url``'s role; on success, grant the app role.

    Only the credentials change: the database name stays (so it also serves a test database).
    ``app_role`` defaults to the alias's own user; nothing is granted when it is the owner.
    """
    connection = connections[alias]
    owner = database_from_url(owner_url, "DATABASE_OWNER_URL")
    saved = {key: connection.settings_dict[key] for key in _CREDENTIALS}
    app_role = app_role or str(saved["USER"])
    connection.close()
    connection.settings_dict.update({key: owner[key] for key in _CREDENTIALS})
    try:
        yield
        if app_role and app_role != owner["USER"]:
            with connection.cursor() as cursor:
                grant_app_privileges(cursor, app_role)
    finally:
        connection.close()
        connection.settings_dict.update(saved)
