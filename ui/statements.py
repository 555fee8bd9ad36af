"""A read that pages make on every view, built by the ORM once and run with each call's values.

Django builds a queryset's SQL anew on every call: resolving the filters and compiling them costs 0.5-5 ms of CPU
for a statement with subqueries (the dashboard's "may need attention", the OneDrive banner's check on every page),
where running it costs a tenth of that. `PageRead(build)` calls `build` once with stand-in values of the same
kinds as the first call's (a row of the same model with an id no row has, a negative int, a date and a time no row
has), finds where those stand in the statement's parameters, and from then on runs that SQL with each call's
values in their places.

`build` takes keyword arguments and must give the same SQL whatever their values: filters that compare to them
(`tenant=tenant`, `retrying_since__lte=before`), no branching on them and no lists of them. Rows come back as the
model's (`prefetch=` for related rows; a queryset with select_related or values is built every call). When the
parameters do not show every stand-in exactly as given (a database that stores dates as text), `build` runs on
every call.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypeVar

from django.db import connections, router
from django.db.models import Model, QuerySet

__all__ = ["PageRead"]

M = TypeVar("M", bound=Model)

_FIRST_ID = -918273645  # ids, numbers, days and times that no row has
_FIRST_DAY = date(1111, 11, 11)
_FIRST_TIME = datetime(1111, 11, 11, 11, 11, 11)

# The SQL, its parameters, and which of them are the call's values (by name); None: `build` runs every call.
_Statement = tuple[str, list[Any], dict[int, str]] | None


def _stand_ins(values: dict[str, Any]) -> dict[str, Any] | None:
    made: dict[str, Any] = {}
    for n, (name, value) in zip(itertools.count(), sorted(values.items())):
        if isinstance(value, Model):
            made[name] = value.__class__(pk=_FIRST_ID - n)  # unsaved: only its id is read (a lazy user: its class)
        elif type(value) is int:
            made[name] = _FIRST_ID - n
        elif type(value) is datetime:
            made[name] = (_FIRST_TIME + timedelta(seconds=n)).replace(tzinfo=value.tzinfo)
        elif type(value) is date:
            made[name] = _FIRST_DAY + timedelta(days=n)
        else:
            return None
    return made


def _param(value: Any) -> Any:
    return value.pk if isinstance(value, Model) else value


class PageRead(Generic[M]):
    def __init__(self, build: Callable[..., QuerySet[M]]) -> None:
        self.build = build
        self._model: type[M] | None = None
        self._statements: dict[tuple[str, str], _Statement] = {}

    def _alias(self, values: dict[str, Any]) -> str:
        if self._model is None:
            self._model = self.build(**(_stand_ins(values) or values)).model
        return router.db_for_read(self._model)

    def _statement(self, kind: str, alias: str, values: dict[str, Any]) -> _Statement:
        key = (kind, alias)
        if key in self._statements:
            return self._statements[key]
        statement = None
        stand_ins = _stand_ins(values)
        if stand_ins is not None:
            query = self.build(**stand_ins).query
            if kind == "rows" and (query.select_related or query.values_select or query.extra_select):
                self._statements[key] = None  # a raw query maps columns by name: joined rows' would collide
                return None
            if kind == "exists":
                query = query.exists()
            sql, params = query.get_compiler(alias).as_sql()
            wanted = {name: _param(value) for name, value in stand_ins.items()}
            slots = {
                n: name
                for n, param in enumerate(params)
                for name, value in wanted.items()
                if type(param) is type(value) and param == value
            }
            if set(slots.values()) == set(wanted):
                statement = (sql, list(params), slots)
        self._statements[key] = statement
        return statement

    @staticmethod
    def _params(statement: tuple[str, list[Any], dict[int, str]], values: dict[str, Any]) -> list[Any]:
        _, params, slots = statement
        return [_param(values[slots[n]]) if n in slots else param for n, param in enumerate(params)]

    def rows(self, *, prefetch: tuple[str, ...] = (), **values: Any) -> list[M]:
        """The rows `build(**values)` gives, with `prefetch` prefetched."""
        alias = self._alias(values)
        statement = self._statement("rows", alias, values)
        if statement is None or self._model is None:
            return list(self.build(**values).prefetch_related(*prefetch))
        raw = self._model._default_manager.db_manager(alias).raw(statement[0], self._params(statement, values))
        return list(raw.prefetch_related(*prefetch))

    def exists(self, **values: Any) -> bool:
        """Whether `build(**values)` has a row."""
        alias = self._alias(values)
        statement = self._statement("exists", alias, values)
        if statement is None:
            return self.build(**values).exists()
        with connections[alias].cursor() as cursor:
            cursor.execute(statement[0], self._params(statement, values))
            return cursor.fetchone() is not None
