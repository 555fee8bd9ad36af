"""Pages of a long list without counting it: keyset pagination ("older than the last row shown").

Django's Paginator counts every row to say "page 3 of 20,000" and reads deep pages with OFFSET, both of which cost
in proportion to the table: on a tenant with a million print jobs each page view counted a million rows. A
`KeysetPage` reads `per_page + 1` rows from where the previous page ended (an index range scan on the list's own
order), so any page costs the same; the links say Newer / Older (A to Z: Previous / Next) instead of page numbers.

The list is ordered on (`field`, id), newest first (both descending, the default) or, with `descending=False`,
A to Z (a name: both ascending); `field` must not be null and should lead an index of the list's filter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from django.db.models import DateTimeField, Model, Q, QuerySet
from django.http import QueryDict

__all__ = ["KeysetPage", "keyset_page"]

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class KeysetPage(Generic[M]):
    rows: list[M]
    newer: str | None  # the cursor of the page before (the `after` parameter), None on the first page
    older: str | None  # the cursor of the page after (the `before` parameter), None on the last page
    descending: bool = True  # newest first (Newest / Newer / Older), else A to Z (First / Previous / Next)

    def __iter__(self) -> Iterator[M]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def has_other_pages(self) -> bool:
        return self.newer is not None or self.older is not None


def keyset_page(
    queryset: QuerySet[M], *, field: str, params: QueryDict, per_page: int = 50, descending: bool = True
) -> KeysetPage[M]:
    """The page of `queryset` that `params` ask for: `before=<cursor>` (the rows after the cursor in the list's
    order: older, or further in the alphabet), `after=<cursor>` (the rows before it), else the first page. A cursor
    that does not parse is the first page."""
    onward, back = ("lt", "gt") if descending else ("gt", "lt")  # the comparisons toward the end, the start
    order = (f"-{field}", "-pk") if descending else (field, "pk")
    is_datetime = isinstance(queryset.model._meta.get_field(field), DateTimeField)
    after = _parse(params.get("after", ""), is_datetime)
    if after is not None:
        value, pk = after
        # `field >= value` alone bounds the index range; the OR only settles the rows that share `value`.
        earlier = queryset.filter(
            Q(**{f"{field}__{back}e": value}), Q(**{f"{field}__{back}": value}) | Q(**{f"pk__{back}": pk})
        )
        rows = list(earlier.order_by(*_reversed(order))[: per_page + 1])
        more_before = len(rows) > per_page
        rows = rows[:per_page][::-1]
        return KeysetPage(
            rows=rows,
            newer=_cursor(rows[0], field) if more_before else None,
            older=_cursor(rows[-1], field) if rows else None,  # at least the row this page was reached from
            descending=descending,
        )
    before = _parse(params.get("before", ""), is_datetime)
    if before is not None:
        value, pk = before
        queryset = queryset.filter(
            Q(**{f"{field}__{onward}e": value}), Q(**{f"{field}__{onward}": value}) | Q(**{f"pk__{onward}": pk})
        )
    rows = list(queryset.order_by(*order)[: per_page + 1])
    more_after = len(rows) > per_page
    rows = rows[:per_page]
    return KeysetPage(
        rows=rows,
        newer=_cursor(rows[0], field) if before is not None and rows else None,
        older=_cursor(rows[-1], field) if more_after else None,
        descending=descending,
    )


def _reversed(order: tuple[str, str]) -> tuple[str, ...]:
    return tuple(name[1:] if name.startswith("-") else f"-{name}" for name in order)


def _cursor(row: Model, field: str) -> str:
    value: Any = getattr(row, field)
    return f"{value.isoformat() if isinstance(value, datetime) else value}_{row.pk}"


def _parse(text: str, is_datetime: bool) -> tuple[datetime | str, int] | None:
    value, _, pk = text.rpartition("_")
    try:
        return (datetime.fromisoformat(value) if is_datetime else value), int(pk)
    except ValueError:
        return None
