"""`reverse` for the URLs a page writes many times: `{% url %}` (the portal's templates use this one, see
`ui.templatetags.urls`) and `reverse_cached` in Python.

Django's `reverse` matches the arguments against the pattern, quotes them and checks the result against the route's
regular expression on every call: about 35 µs, and a list page of 50 rows writes 100 to 250 links (a quarter of
the External Systems list's CPU). A URL without arguments is the same on every call, and one whose arguments are
ids is the same text with other digits: each is reversed once per URL name and kept, as the text between its
arguments, and a later call only joins the digits in. Anything else (keyword arguments, text, a name whose URL
does not take any id the same way) is reversed by Django every time.
"""

from __future__ import annotations

from typing import Any

from django.urls import get_resolver, get_script_prefix, get_urlconf, reverse
from django.utils.html import escape

__all__ = ["URLRoot", "reverse_cached", "url_root"]

# Two sets of ids that no real row has: a name's URL is kept only when both give it the same shape.
_PROBES = ((918273645500000101, 918273645500000202, 918273645500000303), (7, 8, 9))
_MOST_KEPT = 2000  # names x argument counts x namespaces; a bound against a URL conf built per call

# The URL conf's resolver and the script prefix that a URL is reversed under (the request's: reading them costs
# 5-10 µs, so a template reads them once per render).
URLRoot = tuple[Any, str]
# A kept URL: its text around the ids, and the same text HTML-escaped (digits need no escaping).
_Shape = tuple[tuple[str, ...], tuple[str, ...]]

_kept: dict[tuple[Any, ...], _Shape | None] = {}


def url_root() -> URLRoot:
    return get_resolver(get_urlconf()), get_script_prefix()


def _shape(view_name: str, count: int, current_app: str | None) -> _Shape | None:
    """The URL's text around its `count` id arguments, or None when ids do not simply stand in it."""
    if count > len(_PROBES[0]):
        return None
    shapes = set()
    for probes in _PROBES:
        url = reverse(view_name, args=probes[:count], current_app=current_app)
        parts: list[str] = []
        for n in probes[:count]:
            before, found, url = url.partition(str(n))
            if not found:
                return None
            parts.append(before)
        parts.append(url)
        shapes.add(tuple(parts))
    if len(shapes) != 1:
        return None
    plain = shapes.pop()
    return plain, tuple(str(escape(part)) for part in plain)


def reverse_cached(
    view_name: str,
    args: list[Any] | tuple[Any, ...] = (),
    current_app: str | None = None,
    *,
    root: URLRoot | None = None,
    escaped: bool = False,
) -> str:
    """What `reverse(view_name, args=args, current_app=current_app)` gives (HTML-escaped with `escaped`), without
    its work for a name already reversed with as many ids (ints of 0 or more) or with none. `root`: `url_root()`
    when the caller has it."""
    if all(type(arg) is int and arg >= 0 for arg in args):
        resolver, prefix = root or url_root()
        key = (resolver, prefix, view_name, len(args), current_app)
        try:
            shape = _kept[key]
        except KeyError:
            if len(_kept) >= _MOST_KEPT:
                _kept.clear()
            try:
                shape = _shape(view_name, len(args), current_app)
            except Exception:  # reversed again below, which raises the call's own error
                shape = None
            _kept[key] = shape
        if shape is not None:
            parts = shape[1] if escaped else shape[0]
            if not args:
                return parts[0]
            text = [parts[0]]
            for arg, after in zip(args, parts[1:], strict=True):
                text += (str(arg), after)
            return "".join(text)
    url = reverse(view_name, args=args, current_app=current_app)
    return str(escape(url)) if escaped else url
