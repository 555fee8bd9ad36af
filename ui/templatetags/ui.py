"""`{% badge %}`, `{% navigation %}` and `|duration`: `{% load ui %}`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeData, SafeString
from django.utils.translation import get_language

from ui.choices import BadgeChoices, Colour
from ui.navigation import navigation_for

register = template.Library()

# A plain badge of a choice is the same few bytes every time (a list page shows ~200): built once per member and
# language instead of through format_html each call. Keyed on the class too: members of two classes with one value
# compare equal as str.
_PLAIN_BADGES: dict[tuple[type, str, str | None], SafeString] = {}
# The same for a member shown with other words (`text=`: the Integrations list shows a feature's name in its state's
# colour, 200 a page), keyed on the words and whether they are safe already; a bound against words without end.
_WORDED_BADGES: dict[tuple[type, str, str | None, str, bool], SafeString] = {}
_MOST_WORDED = 1000


def _badged(value: Any) -> bool:
    """A BadgeChoices member, or anything else that says how it looks as a badge (health.Health)."""
    return isinstance(value, BadgeChoices) or (
        hasattr(value, "label") and isinstance(getattr(value, "colour", None), Colour)
    )


@register.simple_tag
def badge(value: Any, colour: str = "", title: str = "", text: str = "") -> SafeString:
    """A badge with the label and colour of a BadgeChoices member: `{% badge feature.consent_state %}`; an object
    with a `label` and a `colour` (a `health.Health`) is shown the same way.

    `text=` shows other words in the member's colour and keeps its label as the title and for screen readers:
    `{% badge feature.status text=feature.spec.label %}`. A fixed marker that is no state of anything takes its
    text and a colour by name: `{% badge "Password saved" colour="ok" %}` (neutral, ok, info, warn, error).
    """
    if not (colour or title or text) and isinstance(value, BadgeChoices):
        key = (type(value), value, get_language())
        html = _PLAIN_BADGES.get(key)
        if html is None:
            html = _PLAIN_BADGES[key] = format_html('<span class="{}">{}</span>', value.colour.css_class, value.label)
        return html
    if _badged(value):
        if colour:
            raise template.TemplateSyntaxError("A choice carries its own colour: {% badge value %} takes none.")
        tone = value.colour
        if text:  # the state stays readable without colour: hovered, and read out by screen readers
            worded: tuple[type, str, str | None, str, bool] | None = None
            if not title and isinstance(value, BadgeChoices):
                worded = (type(value), value, get_language(), str(text), isinstance(text, SafeData))
                html = _WORDED_BADGES.get(worded)
                if html is not None:
                    return html
            html = format_html(
                '<span class="{}" title="{}">{}<span class="sr-only"> ({})</span></span>',
                tone.css_class,
                title or value.label,
                text,
                value.label,
            )
            if worded is not None:
                if len(_WORDED_BADGES) >= _MOST_WORDED:
                    _WORDED_BADGES.clear()
                _WORDED_BADGES[worded] = html
            return html
        label = str(value.label)
    elif isinstance(value, str) and colour:
        label, tone = value, Colour[colour.upper()]
    else:
        raise TypeError(f"{{% badge %}} shows a BadgeChoices member (or text with a colour), not {value!r}.")
    if title:
        return format_html('<span class="{}" title="{}">{}</span>', tone.css_class, title, label)
    return format_html('<span class="{}">{}</span>', tone.css_class, label)


@register.inclusion_tag("ui/navigation.html", takes_context=True)
def navigation(context: template.Context) -> dict[str, Any]:
    """The menu of `ui.navigation.MENU` as this person sees it, with the current page marked."""
    request = context["request"]
    is_admin = bool(getattr(request.user, "is_tenant_admin", False))
    return {"groups": navigation_for(match=request.resolver_match, is_admin=is_admin)}


@register.filter
def duration(value: timedelta | None) -> str:
    """A time span as people read it: "under a second", "42 s", "3 min 5 s", "2 h 10 min"; "—" for none."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    if seconds < 1:
        return "under a second"
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    return f"{seconds} s"
