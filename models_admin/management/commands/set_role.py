"""``manage.py set_role USERNAME ROLE``: give a user exactly one role (audited)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from actions.users import do_set_role
from models_admin.governance import PermissionRefused
from models_admin.management.commands._actor import add_as_user, cli_actor
from models_admin.roles import ROLES, UnknownRole


class Command(BaseCommand):
    help = f"Give USERNAME exactly one role: {', '.join(ROLES)}, or 'none' to remove every role."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("role", help=f"one of {', '.join(ROLES)}, none")
        add_as_user(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        role = options["role"]
        if role != "none" and role not in ROLES:
            raise CommandError(f"role: must be one of {', '.join(ROLES)}, none; got {role!r}")
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"username: no user {options['username']!r}")
        try:
            changed = do_set_role(user, None if role == "none" else role, actor=cli_actor(options["as_user"]))
        except PermissionRefused as exc:
            raise CommandError(f"refused: {exc.reason}") from None
        except UnknownRole as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{user.get_username()}: {role}" + ("" if changed else " (unchanged)"))
