"""``manage.py create_user USERNAME --role ROLE [--password-stdin]``: make an account (audited).

Without ``--password-stdin`` a password is generated and printed (only it, on standard
output, for scripts); it is shown this once.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from actions.users import do_create_user
from models_admin.governance import InvalidInput, PermissionRefused
from models_admin.management.commands._actor import add_as_user, cli_actor
from models_admin.roles import ROLES


class Command(BaseCommand):
    help = "Create an account holding ROLE; prints a generated password unless --password-stdin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, help=f"one of {', '.join(ROLES)}")
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of standard input instead of generating one",
        )
        add_as_user(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        password = None
        if options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                raise CommandError("--password-stdin: standard input has no password")
        try:
            user, secret = do_create_user(
                options["username"],
                role=options["role"],
                password=password,
                actor=cli_actor(options["as_user"]),
            )
        except InvalidInput as exc:
            raise CommandError(str(exc).replace("role:", "--role:", 1)) from None
        except PermissionRefused as exc:
            raise CommandError(f"refused: {exc.reason}") from None
        if password is None:
            self.stdout.write(secret)
        else:
            self.stdout.write(f"{user.get_username()}: {options['role']}")
