"""``manage.py up``: the whole hub on one machine, until Ctrl-C.

Migrates, loads the demo catalog into an empty database, makes an admin account if
there is none, then runs the ASGI web server (Hub-UI, API and gateway on one port), a
Celery worker and Celery beat as child processes, restarting one that dies (with backoff,
``_supervisor.py``). Ctrl-C (or SIGTERM) stops every child, SIGTERM first, SIGKILL after a
grace period, then every runtime process launched on this host (``--keep-runtimes``
leaves them for the next ``up`` to re-adopt); the embedded servers stop last.

Without ``DATABASE_URL`` / ``REDIS_URL`` the embedded servers under ``var/`` are used and
kept for the children. The embedded PostgreSQL gets two roles (hub/embedded.py): migrations
run as ``hub_owner``, the children connect as ``hub_app`` (docs/security.md).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from django.urls import reverse

from hub import embedded
from hub.dbroles import as_owner
from models_admin.audit import Actor
from models_admin.demo import do_load_demo
from models_admin.management.commands._supervisor import Supervisor
from models_admin.models import Asset
from runtimes.lifecycle.config import host_name
from runtimes.lifecycle.shutdown import stop_launched_runtimes

# The owner's credentials stay with `up` (it migrates); the children connect as the app role.
NOT_FOR_CHILDREN = ("DATABASE_OWNER_URL", "DATABASE_OWNER_URL_FILE", "DATABASE_URL_FILE")


class Command(BaseCommand):
    help = "Run the hub: web (ASGI) + Celery worker + Celery beat, until Ctrl-C."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000, help="port to serve on (default 8000)")
        parser.add_argument("--no-demo", action="store_true", help="do not load the demo catalog")
        parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes (default 2)")
        parser.add_argument(
            "--keep-runtimes",
            action="store_true",
            help="on exit, leave launched runtimes running (the next `up` re-adopts them)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        port = options["port"]
        if not 0 < port < 65536:
            raise CommandError(f"--port: must be between 1 and 65535, got {port}")
        self._check_port_free(options["host"], port)

        app_database_url = self._migrate()
        self.stdout.write("database migrated")
        # The web child serves what this collects (WhiteNoise); unchanged files are quick.
        call_command("collectstatic", interactive=False, verbosity=0)
        if not options["no_demo"] and not Asset.objects.exists():
            plan, missing = do_load_demo(actor=Actor.system())
            self.stdout.write(f"demo catalog loaded: {len(plan)} assets")
            if missing:
                self.stdout.write(
                    self.style.WARNING(f"Gemma 3 270M demo (chat + embeddings) not loaded: {missing}")
                )
        self._ensure_admin(f"http://{options['host']}:{port}{reverse('models_admin:password-change')}")

        env = {
            **{k: v for k, v in os.environ.items() if k not in NOT_FOR_CHILDREN},
            "DATABASE_URL": app_database_url,
            "REDIS_URL": settings.REDIS_URL,
            "SECRET_KEY": settings.SECRET_KEY,
            "HUB_DEV": "1",
            "PYTHONUNBUFFERED": "1",
        }
        var_dir = Path(settings.VAR_DIR)
        var_dir.mkdir(parents=True, exist_ok=True)
        commands = {
            "web": [sys.executable, "-m", "hub.serve", "--host", options["host"], "--port", str(port)],
            "worker": [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "hub",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(options["concurrency"]),
                "-Q",
                "hub,hub.host." + host_name(),
            ],
            "beat": [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "hub",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(var_dir / "celerybeat-schedule"),
            ],
        }
        self._run(commands, env, f"http://{options['host']}:{port}/", keep_runtimes=options["keep_runtimes"])

    def _migrate(self) -> str:
        """Migrate as the owner role; return the URL the children connect with (the app role's)."""
        if not settings.EMBEDDED_DATABASE:
            call_command("migrate", interactive=False, verbosity=0)  # as DATABASE_OWNER_URL's role, if set
            return str(settings.DATABASE_URL)
        owner_url, app_url = embedded.ensure_roles(settings.DATABASE_URL)
        with as_owner(owner_url, app_role=embedded.APP_ROLE):
            call_command("migrate", interactive=False, verbosity=0)
        return app_url

    def _check_port_free(self, host: str, port: int) -> None:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                raise CommandError(f"--port: {host}:{port} is not free ({exc.strerror})") from None

    def _ensure_admin(self, password_url: str) -> None:
        user_model = get_user_model()
        if user_model.objects.filter(is_superuser=True).exists():
            return
        password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser("admin", "admin@localhost", password)
        self.stdout.write(self.style.SUCCESS(f"admin account created — login: admin / {password}"))
        self.stdout.write(f"(shown once; change it at {password_url}, or run manage.py changepassword admin)")

    def _run(
        self, commands: dict[str, list[str]], env: dict[str, str], url: str, *, keep_runtimes: bool
    ) -> None:
        supervisor = Supervisor(commands, env)
        connections.close_all()  # nothing held open while the children run
        signal.signal(signal.SIGINT, supervisor.request_stop)
        signal.signal(signal.SIGTERM, supervisor.request_stop)
        supervisor.start()
        self.stdout.write(self.style.SUCCESS(f"Hub is up at {url}  (Ctrl-C stops everything)"))
        supervisor.run_until_stopped()
        if keep_runtimes:
            self.stdout.write("launched runtimes left running (--keep-runtimes)")
        else:
            stopped = stop_launched_runtimes()
            if stopped:
                self.stdout.write(f"stopped launched runtimes: {', '.join(stopped)}")
        connections.close_all()
        self.stdout.write("stopped")
