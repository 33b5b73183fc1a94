"""``manage.py migrate`` as the owner role when ``DATABASE_OWNER_URL`` is set (hub/dbroles.py).

Django's own command, connected as the owner for the run; afterwards the app role
(``DATABASE_URL``'s) gets its privileges on every table, the new ones included.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.commands import migrate
from django.db import DEFAULT_DB_ALIAS

from hub.dbroles import as_owner


class Command(migrate.Command):
    help = migrate.Command.help + " Connects as DATABASE_OWNER_URL's role when it is set."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DATABASE_OWNER_URL or options["database"] != DEFAULT_DB_ALIAS:
            super().handle(*args, **options)
            return
        with as_owner(settings.DATABASE_OWNER_URL):
            super().handle(*args, **options)
