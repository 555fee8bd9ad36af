"""Choices that know how they look: each member carries its label and its badge colour.

NetBox's `ChoiceSet` puts the colour beside the label (`(value, label, colour)`, read back through
`ChoiceSet.colors`); here the colour is an attribute of the member itself, so a template asks the value it holds
(`{% badge feature.consent_state %}`) and never maps strings to colours.

    class ConsentState(BadgeChoices):
        GRANTED = "granted", "Consent granted", Colour.OK
        NOT_GRANTED = "not_granted", "Needs consent", Colour.WARN
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:  # django-stubs types TextChoices with a metaclass of its own; the metaclass must derive from it
    from django.db.models.enums import _TextChoicesType as ChoicesType
else:
    from django.db.models.enums import ChoicesType


class Colour(enum.StrEnum):
    """What a badge tells at a glance; the value is the stylesheet's `badge-<value>` class."""

    NEUTRAL = ""  # nothing to do and nothing happening: not connected yet, disabled, not run
    OK = "ok"  # works
    INFO = "info"  # under way, or a fact worth noticing: waiting for a sign-in, queued, each user consents
    WARN = "warn"  # works for now or recovers by itself, but worth a look: retrying, needs consent
    ERROR = "err"  # stopped until someone acts: needs reconnect, failed, rejected

    @property
    def css_class(self) -> str:
        return f"badge badge-{self.value}" if self.value else "badge"

    @property
    def alert_class(self) -> str:
        """The alert box that tells the same news at length."""
        alerts = {Colour.OK: "success", Colour.WARN: "warning", Colour.ERROR: "error"}
        return f"alert alert-{alerts.get(self, 'info')}"


class BadgeChoicesType(ChoicesType):
    """Takes an optional trailing `Colour` off each member's tuple before Django's choices see it."""

    def __new__(metacls, classname: str, bases: tuple[type, ...], classdict: Any, **kwds: Any) -> Any:
        colours: dict[str, Colour] = {}
        for key in classdict._member_names:
            value = classdict[key]
            if isinstance(value, tuple) and value and isinstance(value[-1], Colour):
                colours[key] = value[-1]
                # dict.__setitem__: enum's class dictionary refuses a second assignment of a member name.
                dict.__setitem__(classdict, key, value[:-1])
        cls = super().__new__(metacls, classname, bases, classdict, **kwds)
        members: dict[str, Any] = dict(cls.__members__)
        for name, member in members.items():
            member._colour_ = colours.get(name, Colour.NEUTRAL)
        return cls


class BadgeChoices(models.TextChoices, metaclass=BadgeChoicesType):
    """TextChoices whose members also carry the colour of their badge (`member.colour`)."""

    _colour_: Colour

    @enum.property
    def colour(self) -> Colour:
        return self._colour_


class Severity(BadgeChoices):
    """How urgent something that needs an admin's attention is."""

    WARNING = "warning", "Warning", Colour.WARN
    ERROR = "error", "Error", Colour.ERROR
