"""Structured logs, and the request id carried from a web request into its tasks.

``LOG_FORMAT=json`` makes every log line one JSON object: ``time`` (UTC, ISO 8601),
``level``, ``logger``, ``message``, ``request_id`` (the web request's, or the one the
task inherited), plus ``task_id``/``task`` inside a Celery task and ``exc_info`` when
there is a traceback.

The Celery half: ``before_task_publish`` copies the current request id into the task
message's headers; ``task_prerun`` sets it as the current request id in the worker and
``task_postrun`` clears it, so audit rows and log lines written by the task carry the id
of the request that caused them. ``hub.celery`` imports this module so the handlers
are connected in web, worker and beat processes alike.
"""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import UTC, datetime
from typing import Any

from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun

from core.context import current_request_id, request_id_var
from hub.env import env_str

REQUEST_ID_HEADER = "hub_request_id"
_task_tokens: dict[str, contextvars.Token[str | None]] = {}


class JsonFormatter(logging.Formatter):
    """One JSON object per record; never raises on odd arguments."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": current_request_id(),
        }
        task = _current_task()
        if task is not None:
            entry["task_id"], entry["task"] = task
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def _current_task() -> tuple[str, str] | None:
    from celery import current_task

    if current_task and current_task.request.id:
        return str(current_task.request.id), str(current_task.name)
    return None


def json_logs_enabled() -> bool:
    return env_str("LOG_FORMAT", "text").strip().lower() == "json"


@before_task_publish.connect
def _carry_request_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    rid = current_request_id()
    if rid and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, rid)


@task_prerun.connect
def _adopt_request_id(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    rid = None
    if task is not None:
        # Celery exposes custom message headers as request attributes (protocol 2), or
        # under ``request.headers`` in some versions: accept either.
        rid = getattr(task.request, REQUEST_ID_HEADER, None) or (
            getattr(task.request, "headers", None) or {}
        ).get(REQUEST_ID_HEADER)
    if task_id:
        _task_tokens[task_id] = request_id_var.set(rid if isinstance(rid, str) else None)


@task_postrun.connect
def _drop_request_id(task_id: str | None = None, **kwargs: Any) -> None:
    token = _task_tokens.pop(task_id or "", None)
    if token is not None:
        request_id_var.reset(token)


class RoutineTaskFilter(logging.Filter):
    """Moves the INFO lines of routine tasks to DEBUG: beat's "Sending due task", the worker's
    "received" and "succeeded". Those tasks run every few seconds whatever happens, so at INFO
    the log would show only them; their failures and warnings keep their level.
    """

    def __init__(self, task_names: frozenset[str]) -> None:
        super().__init__()
        self.task_names = task_names

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or _task_of(record) not in self.task_names:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def _task_of(record: logging.LogRecord) -> str | None:
    data = getattr(record, "data", None)  # celery.app.trace and celery.worker.strategy
    if isinstance(data, dict):
        return str(data.get("name"))
    if str(record.msg).startswith("Scheduler: Sending due task") and isinstance(record.args, tuple):
        return str(record.args[-1])  # celery.beat: (entry name, task name)
    return None


def quiet_routine_tasks(task_names: frozenset[str]) -> None:
    """Install :class:`RoutineTaskFilter` on the loggers that write those lines."""
    routine = RoutineTaskFilter(task_names)
    for name in ("celery.beat", "celery.app.trace", "celery.worker.strategy"):
        logging.getLogger(name).addFilter(routine)


if json_logs_enabled():
    # Connecting ``setup_logging`` stops Celery from replacing the root logger's
    # handlers, so workers and beat log through Django's LOGGING (JSON) too.
    @setup_logging.connect
    def _use_django_logging(**kwargs: Any) -> None:
        import logging.config

        from django.conf import settings

        logging.config.dictConfig(settings.LOGGING)
