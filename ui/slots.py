"""Slots: a place on a lower app's page where apps above it show partials of their own, without the lower app
importing them (the sign-in page's "Sign in with Microsoft", OneDrive's panels on the Jobs page).

The page's app declares the slot and says what it is given (a tenancy name, the signed-in user); an app above
registers its partial in its `AppConfig.ready()`, with a function that returns the partial's context for that
subject, or None when it has nothing to show; the page renders what `shown` returns:

    JOBS_PANELS: Slot[User] = Slot()                                                   # print_jobs
    JOBS_PANELS.register("onedrive", "onedrive/partials/jobs_panel.html", context_for)  # onedrive
    {% for shown in panels %}{% include shown.template with panel=shown.context %}{% endfor %}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["Shown", "Slot"]

S = TypeVar("S")


@dataclass(frozen=True)
class Shown:
    template: str
    context: dict[str, Any]


@dataclass(frozen=True)
class _Partial(Generic[S]):
    template: str
    context_for: Callable[[S], dict[str, Any] | None]


class Slot(Generic[S]):
    def __init__(self) -> None:
        self._partials: dict[str, _Partial[S]] = {}

    def register(self, name: str, template: str, context_for: Callable[[S], dict[str, Any] | None]) -> None:
        """Register (or replace, e.g. on autoreload) the partial of that name."""
        self._partials[name] = _Partial(template, context_for)

    def shown(self, subject: S) -> list[Shown]:
        """The partials that have something to show `subject`, in the order of their names."""
        shown = []
        for name in sorted(self._partials):
            partial = self._partials[name]
            context = partial.context_for(subject)
            if context is not None:
                shown.append(Shown(partial.template, context))
        return shown
