"""The part of OData ``$filter`` that directory queries use: ``eq``, ``ne``, ``in``, ``startswith``, ``and``, ``or``.

    $filter=accountEnabled eq true and startswith(displayName,'ad')
    $filter=id in ('a1...', 'b2...')
    $filter=id eq 'a1...' or id eq 'b2...'        (the only form a users or groups delta accepts)

Strings compare without regard to case, as the directory does. Anything else is 400, never silently ignored.

Reference: https://learn.microsoft.com/graph/filter-query-parameter
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any

from m365_emulator.graph.base import GraphError, bad_request, unsupported_query

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_./]*)|(?P<number>-?\d+))"
)


@dataclass(frozen=True)
class Comparison:
    path: tuple[str, ...]  # onPremisesExtensionAttributes/extensionAttribute1 -> two parts
    op: str  # eq | ne | in | startswith
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Junction:
    op: str  # and | or
    items: tuple[Node, ...]


Node = Comparison | Junction


def _tokens(text: str) -> Iterator[tuple[str, str]]:
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise bad_request(f"Invalid filter clause: syntax error at position {position} in '{text}'.")
        kind = match.lastgroup or ""
        yield kind, match.group(kind)
        position = match.end()


class _Parser:
    def __init__(self, text: str, properties: Collection[str], type_name: str) -> None:
        self.text = text
        self.items = list(_tokens(text))
        self.position = 0
        self.properties = {name.lower(): name for name in properties}
        self.type_name = type_name

    def parse(self) -> Node:
        node = self._or()
        if self.position != len(self.items):
            raise self._syntax()
        return node

    def _at(self, kind: str, value: str) -> bool:
        return self.position < len(self.items) and self.items[self.position] == (kind, value)

    def _peek_word(self) -> str | None:
        if self.position < len(self.items) and self.items[self.position][0] == "word":
            return self.items[self.position][1].lower()
        return None

    def _take(self, kind: str, value: str | None = None) -> str:
        if self.position >= len(self.items):
            raise self._syntax()
        found_kind, found = self.items[self.position]
        if found_kind != kind or (value is not None and found.lower() != value):
            raise self._syntax()
        self.position += 1
        return found

    def _junction(self, op: str, operand: Callable[[], Node]) -> Node:
        items = [operand()]
        while self._peek_word() == op:
            self.position += 1
            items.append(operand())
        return items[0] if len(items) == 1 else Junction(op, tuple(items))

    def _or(self) -> Node:
        return self._junction("or", self._and)

    def _and(self) -> Node:
        return self._junction("and", self._primary)

    def _primary(self) -> Node:
        if self._at("punct", "("):
            self.position += 1
            node = self._or()
            self._take("punct", ")")
            return node
        if self._peek_word() == "startswith":
            self.position += 1
            self._take("punct", "(")
            path = self._path()
            self._take("punct", ",")
            value = self._literal()
            self._take("punct", ")")
            return Comparison(path, "startswith", (value,))
        path = self._path()
        op = self._take("word").lower()
        if op in ("eq", "ne"):
            return Comparison(path, op, (self._literal(),))
        if op == "in":
            self._take("punct", "(")
            values = [self._literal()]
            while self._at("punct", ","):
                self.position += 1
                values.append(self._literal())
            self._take("punct", ")")
            return Comparison(path, "in", tuple(values))
        raise unsupported_query(f"The filter operator '{op}' is not supported.")

    def _path(self) -> tuple[str, ...]:
        raw = self._take("word")
        head, _, rest = raw.partition("/")
        name = self.properties.get(head.lower())
        if name is None:
            raise unsupported_query(
                f"Unsupported or invalid query filter clause specified for property '{head}' of resource "
                f"'{self.type_name}'."
            )
        return (name, rest) if rest else (name,)

    def _literal(self) -> Any:
        if self.position >= len(self.items):
            raise self._syntax()
        kind, value = self.items[self.position]
        self.position += 1
        if kind == "string":
            return value[1:-1].replace("''", "'")
        if kind == "number":
            return int(value)
        if kind == "word" and value.lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[value.lower()]
        raise self._syntax()

    def _syntax(self) -> GraphError:
        return bad_request(f"Invalid filter clause: syntax error in '{self.text}'.")


def parse_filter(text: str, properties: Collection[str], type_name: str) -> Node:
    """Parse ``$filter`` against the resource's property names (case-insensitive, as Graph reads them)."""
    return _Parser(text, properties, type_name).parse()


def _fold(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def matches(node: Node, value_of: Callable[[str], Any]) -> bool:
    """Whether an object whose properties ``value_of(name)`` returns satisfies the filter."""
    if isinstance(node, Junction):
        results = (matches(item, value_of) for item in node.items)
        return all(results) if node.op == "and" else any(results)
    value = value_of(node.path[0])
    for part in node.path[1:]:
        value = value.get(part) if isinstance(value, dict) else None
    value = _fold(value)
    wanted = [_fold(v) for v in node.values]
    if node.op == "eq":
        return bool(value == wanted[0])
    if node.op == "ne":
        return bool(value != wanted[0])
    if node.op == "in":
        return value in wanted
    return isinstance(value, str) and isinstance(wanted[0], str) and value.startswith(wanted[0])


def ids_filter(node: Node, *, limit: int = 50) -> list[str]:
    """The ids of ``id eq '...' [or id eq '...']``: the only filter a users or groups delta accepts."""
    items = node.items if isinstance(node, Junction) and node.op == "or" else (node,)
    ids: list[str] = []
    for item in items:
        if not (isinstance(item, Comparison) and item.path == ("id",) and item.op == "eq"):
            raise unsupported_query("Delta queries only support $filter on id: id eq '{id}' [or id eq '{id}'].")
        ids.append(str(item.values[0]).lower())
    if len(ids) > limit:
        raise unsupported_query(f"Delta queries accept at most {limit} ids in $filter.")
    return ids
