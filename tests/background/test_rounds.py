"""A round of claimed items run side by side (background.rounds): handed back as they finish, leases renewed while
they run, one item's failure kept to itself, each in its own context, and no database connection left open."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable

import pytest
from django.db import connection

from background.rounds import Finished, Pool, side_by_side
from tests.conftest import wait_until

# Committed data and real connections: each pool thread opens its own to PostgreSQL.
pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 10.0  # seconds an item waits for the test to let it finish, before the test fails

flow: contextvars.ContextVar[str] = contextvars.ContextVar("flow", default="the caller's")


def _own_context(item: str) -> contextvars.Context:
    context = contextvars.copy_context()
    context.run(flow.set, f"{item}'s")
    return context


def _round(
    pool: Pool, items: list[str], work: Callable[[str], str], renew: Callable[[list[str]], object] = lambda _: None
) -> list[Finished[str, str]]:
    return list(side_by_side(pool, items, work, context=_own_context, renew=renew, renew_every=0.01))


def _gated(gates: dict[str, threading.Event]) -> Callable[[str], str]:
    def work(item: str) -> str:
        assert gates[item].wait(WAIT), f"{item} was never let go"
        return item.upper()

    return work


def test_items_are_handed_back_as_they_finish_not_in_their_order():
    gates = {item: threading.Event() for item in ("a", "b", "c")}
    finished = side_by_side(
        Pool("test-order", threads=3),
        list(gates),
        _gated(gates),
        context=_own_context,
        renew=lambda _: None,
        renew_every=WAIT,
    )
    order = []
    for item in ("c", "a", "b"):
        gates[item].set()
        order.append(next(finished))

    assert [(f.item, f.result) for f in order] == [("c", "C"), ("a", "A"), ("b", "B")]
    assert next(finished, None) is None


def test_renew_is_called_with_the_items_not_started_while_a_slow_one_runs():
    renewed: list[list[str]] = []
    gates = {"slow": threading.Event(), "next": threading.Event()}
    gates["next"].set()

    def renew(waiting: list[str]) -> None:
        renewed.append(waiting)
        if len(renewed) == 2:
            gates["slow"].set()  # renewed twice while it ran: now it may finish

    finished = _round(Pool("test-renew", threads=1), ["slow", "next"], _gated(gates), renew)

    assert [f.item for f in finished] == ["slow", "next"]
    assert renewed[:2] == [["next"], ["next"]], "the one waiting for the only thread"


def test_an_item_that_raises_is_handed_back_with_its_error_and_the_others_finish():
    def work(item: str) -> str:
        if item == "b":
            raise ValueError("b broke")
        return item.upper()

    finished = {f.item: f for f in _round(Pool("test-errors", threads=2), ["a", "b", "c"], work)}

    assert {item: f.result for item, f in finished.items()} == {"a": "A", "b": None, "c": "C"}
    assert isinstance(finished["b"].error, ValueError) and str(finished["b"].error) == "b broke"
    assert finished["a"].error is None and finished["c"].error is None


def test_each_item_runs_in_its_own_context_never_the_callers():
    flow.set("the task's")
    pool = Pool("test-context", threads=2)

    finished = _round(pool, ["a", "b", "c"], lambda item: flow.get())
    (alone,) = _round(pool, ["d"], lambda item: flow.get())

    assert sorted(f.result or "" for f in finished) == ["a's", "b's", "c's"]
    assert alone.result == "d's"
    assert flow.get() == "the task's"


def test_a_single_item_runs_on_the_calling_thread_and_keeps_its_connection():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")

    (finished,) = _round(Pool("test-single", threads=2), ["a"], lambda item: threading.current_thread().name)

    assert finished.result == threading.current_thread().name
    assert connection.connection is not None, "the caller's connection is the caller's to close"


def test_a_thread_closes_its_database_connection_after_its_last_item_of_the_round():
    backends: dict[str, int] = {}
    gates = {"slow": threading.Event()}

    def work(item: str) -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backends[item] = cursor.fetchone()[0]
        if item == "y":
            raise ValueError("y broke after its query")
        if item == "slow":
            assert gates["slow"].wait(WAIT)
        return item

    finished = side_by_side(
        Pool("test-connections", threads=2),
        ["slow", "x", "y"],
        work,
        context=_own_context,
        renew=lambda _: None,
        renew_every=WAIT,
    )
    try:
        early = sorted(next(finished).item for _ in range(2))
        assert early == ["x", "y"], "the other thread took both while the slow one ran"
        wait_until(lambda: "slow" in backends, timeout=WAIT, message="the slow item's query")
        assert backends["x"] == backends["y"] != backends["slow"]
        # The thread that finished early has no item left in this round: its connection is closed now, not later.
        wait_until(lambda: not _open(backends["x"]), timeout=WAIT, message="the early thread's connection closed")
        assert _open(backends["slow"]), "still working"
    finally:
        gates["slow"].set()
    assert [f.item for f in finished] == ["slow"]
    wait_until(lambda: not _open(backends["slow"]), timeout=WAIT, message="the slow thread's connection closed")


def _open(backend: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [backend])
        return bool(cursor.fetchone()[0])
