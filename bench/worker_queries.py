"""Imported by the benchmarks' Celery workers (`--include bench.worker_queries`): counts the database queries each
task makes (on the task's connection and on those of the threads it runs work on) and writes the running totals of
the worker process to BENCH_QUERY_DIR/<pid>.json after every task."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from celery.signals import task_postrun, task_prerun
from django.db.backends.signals import connection_created

_totals = {"queries": 0, "tasks": 0}
_lock = threading.Lock()


def _count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    with _lock:  # tasks may query from several threads at once
        _totals["queries"] += 1
    return execute(sql, params, many, context)


@connection_created.connect
def _watch(connection: Any, **_: Any) -> None:
    """Every connection the worker opens, a thread's too (a refresh round's calls run on a pool)."""
    if _count not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count)


@task_prerun.connect
def _start(**_: Any) -> None:
    from django.db import connection

    if _count not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count)


@task_postrun.connect
def _finish(**_: Any) -> None:
    with _lock:
        _totals["tasks"] += 1
        text = json.dumps(_totals)
    folder = os.environ.get("BENCH_QUERY_DIR")
    if folder:
        # Written aside and renamed: the benchmark may read the totals while a task ends, and must never see the
        # file empty or half written.
        written = Path(folder, f"{os.getpid()}.json.part")
        written.write_text(text)
        written.replace(Path(folder, f"{os.getpid()}.json"))


def totals(folder: Path) -> dict[str, int]:
    """The queries and tasks of every worker process that wrote to `folder`."""
    summed = {"queries": 0, "tasks": 0}
    for path in folder.glob("*.json"):
        for key, value in json.loads(path.read_text()).items():
            summed[key] += value
    return summed
