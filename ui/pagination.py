"""Pages of a long list without counting it: keyset pagination ("older than the last row shown").

Django's Paginator counts every row to say "page 3 of 20,000" and reads deep pages with OFFSET, both of which cost
in proportion to the table: on a tenant with a million print jobs each page view counted a million rows. A
`KeysetPage` reads `per_page + 1` rows from where the previous page ended (an index range scan on the list's own
order), so any page costs the same; the links say Newer / Older instead of page numbers.

The list must be ordered newest first on (`field`, id), both descending, and `field` must not be null.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from django.db.models import Model, Q, QuerySet
from django.http import QueryDict

__all__ = ["KeysetPage", "keyset_page"]

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class KeysetPage(Generic[M]):
    rows: list[M]
    newer: str | None  # the cursor of the page before (the `after` parameter), None on the newest page
    older: str | None  # the cursor of the page after (the `before` parameter), None on the oldest page

    def __iter__(self) -> Iterator[M]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def has_other_pages(self) -> bool:
        return self.newer is not None or self.older is not None


def keyset_page(queryset: QuerySet[M], *, field: str, params: QueryDict, per_page: int = 50) -> KeysetPage[M]:
    """The page of `queryset` that `params` ask for: `before=<cursor>` (older rows), `after=<cursor>` (newer
    rows), else the newest. A cursor that does not parse is the newest page."""
    after = _parse(params.get("after", ""))
    if after is not None:
        value, pk = after
        # `field >= value` alone bounds the index range; the OR only settles the rows that share `value`.
        newer_first = queryset.filter(Q(**{f"{field}__gte": value}), Q(**{f"{field}__gt": value}) | Q(pk__gt=pk))
        rows = list(newer_first.order_by(field, "pk")[: per_page + 1])
        more_newer = len(rows) > per_page
        rows = rows[:per_page][::-1]
        return KeysetPage(
            rows=rows,
            newer=_cursor(rows[0], field) if more_newer else None,
            older=_cursor(rows[-1], field) if rows else None,  # at least the row this page was reached from
        )
    before = _parse(params.get("before", ""))
    if before is not None:
        value, pk = before
        queryset = queryset.filter(Q(**{f"{field}__lte": value}), Q(**{f"{field}__lt": value}) | Q(pk__lt=pk))
    rows = list(queryset.order_by(f"-{field}", "-pk")[: per_page + 1])
    more_older = len(rows) > per_page
    rows = rows[:per_page]
    return KeysetPage(
        rows=rows,
        newer=_cursor(rows[0], field) if before is not None and rows else None,
        older=_cursor(rows[-1], field) if more_older else None,
    )


def _cursor(row: Model, field: str) -> str:
    value: Any = getattr(row, field)
    return f"{value.isoformat() if isinstance(value, datetime) else value}_{row.pk}"


def _parse(text: str) -> tuple[datetime, int] | None:
    value, _, pk = text.rpartition("_")
    try:
        return datetime.fromisoformat(value), int(pk)
    except ValueError:
        return None
