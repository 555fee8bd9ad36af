"""Helpers for the tests of a live fragment (ui.live) against a worker that commits while the fragment is read:
PostgreSQL takes a new snapshot per statement, so the commit can fall between any two of the request's reads."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection
from django.http import HttpResponse
from django.test import Client


@contextmanager
def work_after_read(tables: tuple[str, ...], reads: int, work: Callable[[], object]) -> Iterator[list[bool]]:
    """Run `work` (the worker's step, committed: a test's queries see it at once) right after the `reads`-th query
    on any of `tables` (quoted as in SQL: '"app_model"'), as a worker committing between two reads would. The list
    yielded holds True once it ran."""
    ran: list[bool] = []
    seen = 0

    def between(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal seen
        result = execute(sql, params, many, context)
        if not ran and any(table in sql for table in tables):
            seen += 1
            if seen == reads:
                ran.append(True)  # before the work: its own queries are not the request's
                work()
        return result

    with connection.execute_wrapper(between):
        yield ran


def element(page: str, element_id: str) -> tuple[str, str]:
    """The element `element_id` of `page`, whole (to its matching </div>), and its opening tag's attributes."""
    opening = re.search(rf'<div id="{re.escape(element_id)}"([^>]*)>', page)
    assert opening is not None, page
    depth = 0
    for tag in re.finditer(r"<div\b|</div>", page[opening.start() :]):
        depth += 1 if tag.group() == "<div" else -1
        if depth == 0:
            return page[opening.start() : opening.start() + tag.end()], opening.group(1)
    raise AssertionError(f"#{element_id} is not closed")


def followed(client: Client, page: str, element_id: str) -> tuple[str, bool, HttpResponse | None]:
    """What the browser shows of the live fragment `element_id` once it polled what `page` gave it (htmx: 204
    keeps the fragment, any other answer replaces it), whether it still polls, and the poll's answer (None when
    it did not poll)."""
    fragment, attributes = element(page, element_id)
    poll = re.search(r'hx-get="([^"]+)"', attributes)
    answer = None
    if poll is not None:
        answer = client.get(html.unescape(poll.group(1)), headers={"HX-Request": "true"})
        assert answer.status_code in (200, 204, 286), answer.status_code
        if answer.status_code != 204:
            fragment, attributes = element(answer.content.decode(), element_id)
    return fragment, "hx-trigger" in attributes, answer
