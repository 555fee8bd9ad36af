"""SQL for the bulk reads and writes of a directory's users (accounts.selectors, accounts.services.bulk)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Lookup


class AnyOf(Lookup):  # type: ignore[type-arg]
    """`column = ANY(%s)` with the values as one array parameter, for a page's hundreds of ids or addresses: with
    `__in`, Django prepared each value and psycopg parsed a placeholder for each of them in every such query (a
    query too long for psycopg's cache), about 2 ms a page. Elsewhere than on PostgreSQL, `IN (...)`.

    Used as a filter expression: ``User.objects.filter(AnyOf(F("email"), addresses))``.
    """

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if connection.vendor != "postgresql":
            if not values:
                return "1 = 0", []
            return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]
        kind = "bigint[]" if values and all(isinstance(v, int) for v in values) else "text[]"
        return f"{lhs} = ANY(%s::{kind})", [*lhs_params, array_literal(values)]


def array_literal(values: Iterable[str | int]) -> str:
    """`values` as one PostgreSQL array literal (`{"a","b"}`), sent as one string and cast by the statement. psycopg's
    own array parameter checks and escapes each element with regular expressions in Python (its client-side
    binding, as Django uses it): 14 per user of a page, 10 % of a first sync's time in the task under the profiler.
    Every element is quoted, so only the quote and the backslash need escaping: elements joined as they are when
    none has either (a page's ids and addresses never do), which spares two replaces per element."""
    texts = [v if isinstance(v, str) else str(v) for v in values]
    if not texts:
        return "{}"
    together = "".join(texts)  # searched once for both characters, without the separators (which hold quotes)
    if '"' not in together and "\\" not in together:
        return '{"' + '","'.join(texts) + '"}'
    return "{" + ",".join(['"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in texts]) + "}"
