"""``manage.py revoke_api_token PREFIX``: the token stops working at once (audited)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from actions.tokens import do_revoke_token
from models_admin.governance import InvalidTransition, PermissionRefused
from models_admin.management.commands._actor import add_as_user, cli_actor
from models_admin.tokens import get_token_by_prefix


class Command(BaseCommand):
    help = "Revoke the API token with this prefix (hub_<prefix>, as shown in lists and the audit log)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix")
        add_as_user(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            token = get_token_by_prefix(options["prefix"])
            changed = do_revoke_token(token, actor=cli_actor(options["as_user"]))
        except InvalidTransition as exc:
            raise CommandError(f"prefix: {exc}") from None
        except PermissionRefused as exc:
            raise CommandError(f"refused: {exc.reason}") from None
        self.stdout.write(f"hub_{token.prefix}: " + ("revoked" if changed else "already revoked"))
