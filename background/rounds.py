"""A round: the rows a task claimed at once (`background.claims.work_claim_due`), worked on side by side.

Work made of many short calls that mostly wait on the network (token refreshes, device code polls) is claimed in
batches and run on a few threads, so that the waits overlap. Each kind of round has a `Pool` of its own: threads
made once per process (a forked worker makes its own) and kept as long as it, so each keeps its kept-alive
connection to Microsoft (microsoft.http) from one round to the next. `side_by_side` runs a round's items on them
and hands back each outcome as its call ends, so that it is written while the others are still in flight.

What every round gets from here, so that no kind of work does it differently:

- each item runs in the `contextvars.Context` its caller gives it (operations.context: a claimed row runs in a
  flow of its own, in its own tenant, never in the task's; a pool thread would otherwise run with none);
- one item's exception does not stop the others: it is handed back with the item, for the caller to log or handle;
- while items are in flight the caller's `renew` is called every `renew_every` seconds with the items no thread
  has started yet (the caller renews their leases, or its whole round's);
- a thread closes its Django database connections after its last item of the round, so none is left open and
  idle until the next round (a round's thread opens one only if its work reads or writes the database).
"""

from __future__ import annotations

import contextvars
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db import connections

__all__ = ["Finished", "Pool", "side_by_side"]

T = TypeVar("T")
R = TypeVar("R")


class Pool:
    """The threads of one kind of round: `threads` of them in each process, made on first use."""

    def __init__(self, name: str, *, threads: int) -> None:
        self.name = name
        self.threads = threads
        self._executors: dict[int, ThreadPoolExecutor] = {}
        self._lock = threading.Lock()

    def executor(self) -> ThreadPoolExecutor:
        with self._lock:
            pool = self._executors.get(os.getpid())
            if pool is None:  # first use in this process: a forked worker never uses its parent's threads
                pool = self._executors[os.getpid()] = ThreadPoolExecutor(self.threads, thread_name_prefix=self.name)
            return pool


@dataclass(frozen=True)
class Finished(Generic[T, R]):
    """An item whose work is over: its result, or the exception it raised."""

    item: T
    result: R | None = None
    error: Exception | None = None


def side_by_side(
    pool: Pool,
    items: Sequence[T],
    work: Callable[[T], R],
    *,
    context: Callable[[T], contextvars.Context],
    renew: Callable[[list[T]], object],
    renew_every: float,
) -> Iterator[Finished[T, R]]:
    """Run `work(item)` for every item, up to `pool.threads` at once, each in `context(item)`, and yield each as it
    finishes (as completed, not in the items' order). A single item runs on the calling thread (its connection and
    transaction, no hand-over), as a task of one would."""
    if len(items) == 1:
        yield _run(work, items[0], context)
        return
    round_: _Round[T, R] = _Round(items)
    for _ in range(min(pool.threads, len(items))):
        pool.executor().submit(_take_turns, round_, work, context)
    left = len(items)
    renewed = time.monotonic()
    while left:
        try:
            finished: Finished[T, R] | None = round_.finished.get(
                timeout=max(0.0, renewed + renew_every - time.monotonic())
            )
        except queue.Empty:
            finished = None
        else:
            left -= 1
        if left and time.monotonic() - renewed >= renew_every:
            renew(round_.waiting())
            renewed = time.monotonic()
        if finished is not None:
            yield finished


class _Round(Generic[T, R]):
    """A round's items not yet started, and its finished ones not yet handed back."""

    def __init__(self, items: Sequence[T]) -> None:
        self._lock = threading.Lock()
        self._waiting = deque(items)
        self.finished: queue.SimpleQueue[Finished[T, R]] = queue.SimpleQueue()

    def take(self) -> tuple[T] | None:
        with self._lock:
            return (self._waiting.popleft(),) if self._waiting else None

    def waiting(self) -> list[T]:
        with self._lock:
            return list(self._waiting)


def _take_turns(round_: _Round[T, R], work: Callable[[T], R], context: Callable[[T], contextvars.Context]) -> None:
    """A pool thread's part of a round: items until none is left, then its database connections closed."""
    try:
        while (taken := round_.take()) is not None:
            (item,) = taken
            round_.finished.put(_run(work, item, context))
    finally:
        connections.close_all()


def _run(work: Callable[[T], R], item: T, context: Callable[[T], contextvars.Context]) -> Finished[T, R]:
    try:
        return Finished(item, result=context(item).run(work, item))
    except Exception as exc:  # the caller decides what one item's failure means; the others go on
        return Finished(item, error=exc)
