"""``manage.py create_api_token USERNAME --scopes gateway,inference [--expires-days N] [--name NAME]``.

Prints only the secret on standard output (for scripts); it is shown this once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from actions.tokens import do_create_token
from models_admin.governance import InvalidInput, PermissionRefused
from models_admin.management.commands._actor import add_as_user, cli_actor
from models_admin.models import TOKEN_SCOPES


class Command(BaseCommand):
    help = "Create an API token for USERNAME and print its secret (only) on standard output."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--scopes", required=True, help=f"comma-separated, some of {','.join(TOKEN_SCOPES)}"
        )
        parser.add_argument("--expires-days", type=int, help="expire after N days (default: never)")
        parser.add_argument("--name", default="", help="a label to recognise the token by")
        parser.add_argument(
            "--allow-network",
            action="append",
            default=[],
            metavar="CIDR",
            help="accept the token only from this network (repeatable; default: any)",
        )
        add_as_user(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"username: no user {options['username']!r}")
        days = options["expires_days"]
        if days is not None and days < 1:
            raise CommandError(f"--expires-days: must be at least 1, got {days}")
        try:
            _, secret = do_create_token(
                user,
                actor=cli_actor(options["as_user"]),
                scopes=options["scopes"].split(","),
                name=options["name"],
                expires_at=timezone.now() + timedelta(days=days) if days else None,
                allowed_networks=options["allow_network"],
            )
        except InvalidInput as exc:
            raise CommandError(str(exc).replace("scopes:", "--scopes:", 1)) from None
        except PermissionRefused as exc:
            raise CommandError(f"refused: {exc.reason}") from None
        self.stdout.write(secret)
