"""`|duration`: a time span as people read it, never Python's `0:00:01.234567` or `None`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ui.templatetags.ui import duration


@pytest.mark.parametrize(
    ("span", "shown"),
    [
        (None, "—"),
        (timedelta(milliseconds=300), "under a second"),
        (timedelta(seconds=42, microseconds=900_000), "42 s"),
        (timedelta(minutes=3), "3 min"),
        (timedelta(minutes=3, seconds=5), "3 min 5 s"),
        (timedelta(hours=2), "2 h"),
        (timedelta(hours=2, minutes=10, seconds=59), "2 h 10 min"),
    ],
)
def test_a_time_span_is_shown_in_words(span: timedelta | None, shown: str) -> None:
    assert duration(span) == shown
