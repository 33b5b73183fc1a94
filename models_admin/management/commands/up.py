"""``manage.py up``: the whole hub on one machine, until Ctrl-C.

Migrates, loads the demo catalog into an empty database, makes an admin account if
there is none, then runs the ASGI web server (Hub-UI, API and gateway on one port), a
Celery worker and Celery beat as child processes. Ctrl-C (or SIGTERM) stops every
child: SIGTERM first, SIGKILL after a grace period. Without ``DATABASE_URL`` /
``REDIS_URL`` the embedded servers under ``var/`` are used and kept for the children.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from models_admin.audit import Actor
from models_admin.demo import do_load_demo
from models_admin.models import Asset
from runtimes.lifecycle.config import host_name

GRACE_S = 10.0


class Command(BaseCommand):
    help = "Run the hub: web (ASGI) + Celery worker + Celery beat, until Ctrl-C."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000, help="port to serve on (default 8000)")
        parser.add_argument("--no-demo", action="store_true", help="do not load the demo catalog")
        parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes (default 2)")

    def handle(self, *args: Any, **options: Any) -> None:
        port = options["port"]
        if not 0 < port < 65536:
            raise CommandError(f"--port: must be between 1 and 65535, got {port}")
        self._check_port_free(options["host"], port)

        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("database migrated")
        if not options["no_demo"] and not Asset.objects.exists():
            plan, missing = do_load_demo(actor=Actor.system())
            self.stdout.write(f"demo catalog loaded: {len(plan)} assets")
            if missing:
                self.stdout.write(
                    self.style.WARNING(f"Gemma 3 270M demo (chat + embeddings) not loaded: {missing}")
                )
        self._ensure_admin()

        env = {
            **os.environ,
            "DATABASE_URL": settings.DATABASE_URL,
            "REDIS_URL": settings.REDIS_URL,
            "SECRET_KEY": settings.SECRET_KEY,
            "HUB_DEV": "1",
            "PYTHONUNBUFFERED": "1",
        }
        var_dir = Path(settings.VAR_DIR)
        var_dir.mkdir(parents=True, exist_ok=True)
        commands = {
            "web": [
                sys.executable,
                "-m",
                "uvicorn",
                "hub.asgi:application",
                "--host",
                options["host"],
                "--port",
                str(port),
                "--no-access-log",
            ],
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
        self._run(commands, env, f"http://{options['host']}:{port}/")

    def _check_port_free(self, host: str, port: int) -> None:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                raise CommandError(f"--port: {host}:{port} is not free ({exc.strerror})") from None

    def _ensure_admin(self) -> None:
        user_model = get_user_model()
        if user_model.objects.filter(is_superuser=True).exists():
            return
        password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser("admin", "admin@localhost", password)
        self.stdout.write(self.style.SUCCESS(f"admin account created — login: admin / {password}"))
        self.stdout.write("(shown once; change it under your account, or run manage.py changepassword admin)")

    def _run(self, commands: dict[str, list[str]], env: dict[str, str], url: str) -> None:
        children: dict[str, subprocess.Popen[bytes]] = {}
        stopping = False

        def request_stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        try:
            for name, command in commands.items():
                # Own session: Ctrl-C reaches only us, and we stop the children in order.
                children[name] = subprocess.Popen(command, env=env, start_new_session=True)
            self.stdout.write(self.style.SUCCESS(f"Hub is up at {url}  (Ctrl-C stops everything)"))
            exited = None
            while not stopping and exited is None:
                time.sleep(0.2)
                exited = next((n for n, p in children.items() if p.poll() is not None), None)
            if exited is not None:
                self.stderr.write(f"{exited} exited with status {children[exited].returncode}; stopping")
        finally:
            self._stop_all(children)
        if exited is not None:
            raise CommandError(f"{exited} stopped unexpectedly")
        self.stdout.write("stopped")

    def _stop_all(self, children: dict[str, subprocess.Popen[bytes]]) -> None:
        for proc in children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + GRACE_S
        for proc in children.values():
            remaining = max(0.1, deadline - time.monotonic())
            try:
                proc.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
