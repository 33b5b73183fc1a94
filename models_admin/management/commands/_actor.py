"""How a management command chooses its actor.

Without ``--as-user`` a command acts as the command line itself (trusted: whoever runs
``manage.py`` already holds the database), audited with source ``cli``. With
``--as-user USERNAME`` it acts as that user, with that user's role.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser

from models_admin.audit import Actor


def add_as_user(parser: CommandParser) -> None:
    parser.add_argument(
        "--as-user",
        metavar="USERNAME",
        help="act as this user (their role applies; audited as them); default: the command line",
    )


def cli_actor(username: str | None) -> Actor:
    if not username:
        return Actor.cli()
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"--as-user: no user {username!r}")
    if not user.is_active:
        raise CommandError(f"--as-user: {username} is disabled")
    return Actor.cli(user)
