"""A model field whose value is a member of its BadgeChoices, so `obj.status.colour` and `{% badge obj.status %}`
work on every instance, loaded or assigned."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import models
from django.db.models.query_utils import DeferredAttribute

from ui.choices import BadgeChoices


class _ChoiceAttribute(DeferredAttribute):
    """Turns whatever is assigned (a database value, a form's string) into the member of the field's choices."""

    field: StatusField

    def __set__(self, instance: models.Model, value: Any) -> None:
        instance.__dict__[self.field.attname] = self.field.member(value)


class StatusField(models.CharField):  # type: ignore[type-arg]
    """A CharField of a BadgeChoices: `StatusField(max_length=20, choices=ConsentState, default=...)`.

    The column and the migrations are a CharField's: a member is a `str`, so queries, comparisons with strings and
    forms are unchanged.
    """

    descriptor_class = _ChoiceAttribute

    def __init__(self, *args: Any, choices: type[BadgeChoices], **kwargs: Any) -> None:
        if not (isinstance(choices, type) and issubclass(choices, BadgeChoices)):
            raise TypeError("StatusField takes a BadgeChoices class as its choices.")
        self.choices_class = choices
        kwargs["choices"] = choices
        super().__init__(*args, **kwargs)

    def member(self, value: Any) -> Any:
        if value is None or isinstance(value, self.choices_class):
            return value
        try:
            return self.choices_class(value)
        except ValueError:
            return value  # not one of the choices (validation says so when a form saves it); kept as it is

    def clone(self) -> StatusField:
        _name, _path, args, kwargs = self.deconstruct()
        return self.__class__(*args, **{**kwargs, "choices": self.choices_class})

    def deconstruct(self) -> tuple[str, str, Sequence[Any], dict[str, Any]]:
        # Migrations see the CharField it is in the database, so changing a field to a StatusField needs none.
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.CharField", args, kwargs
