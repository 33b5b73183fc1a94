"""Routine Celery tasks stay out of the INFO log; their failures and every other task do not."""

from __future__ import annotations

import logging

import pytest

from hub.celery import ROUTINE_TASKS
from hub.logging import RoutineTaskFilter


def record(
    logger: str, level: int, msg: str, args: tuple[object, ...] = (), **extra: object
) -> logging.LogRecord:
    return logging.getLogger(logger).makeRecord(logger, level, __file__, 1, msg, args, None, extra=extra)


def worker_line(task: str, level: int = logging.INFO) -> logging.LogRecord:
    context = {"name": task, "id": "t1"}
    return record("celery.app.trace", level, "Task %(name)s[%(id)s] succeeded", (context,), data=context)


@pytest.mark.parametrize(
    "line",
    [
        worker_line("runtimes.reconcile_all"),
        worker_line("runtimes.check_asset_health"),
        record(
            "celery.beat",
            logging.INFO,
            "Scheduler: Sending due task %s (%s)",
            ("reconcile", "runtimes.reconcile_all"),
        ),
    ],
)
def test_a_routine_tasks_info_line_becomes_debug_and_is_dropped_at_info(line: logging.LogRecord) -> None:
    logger = logging.getLogger(line.name)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        assert RoutineTaskFilter(ROUTINE_TASKS).filter(line) is False
    finally:
        logger.setLevel(level)
    assert line.levelno == logging.DEBUG


@pytest.mark.parametrize(
    "line",
    [
        worker_line("runtimes.reconcile_asset", logging.ERROR),  # a failure keeps its level
        worker_line("some.other_task"),
        record(
            "celery.beat", logging.INFO, "Scheduler: Sending due task %s (%s)", ("nightly", "some.other_task")
        ),
        record("celery.beat", logging.INFO, "beat: Starting..."),
    ],
)
def test_other_lines_keep_their_level(line: logging.LogRecord) -> None:
    level = line.levelno
    assert RoutineTaskFilter(ROUTINE_TASKS).filter(line) is True
    assert line.levelno == level


def test_the_filter_sits_on_the_loggers_celery_writes_those_lines_to() -> None:
    for name in ("celery.beat", "celery.app.trace", "celery.worker.strategy"):
        assert any(isinstance(f, RoutineTaskFilter) for f in logging.getLogger(name).filters)
