"""What other apps add to print jobs, registered in their `AppConfig.ready()`.

- A printed hook runs when a job is printed (released), inside the transaction that marks it printed, so the
  feature that delivered the job can queue its follow-up work (OneDrive tidies the file it printed):
  `printed_hook_register("onedrive", lambda job, actor: ...)`.
- A Jobs page panel is a partial of another app shown on the Jobs page (OneDrive's "Print from OneDrive" and
  "Scan to OneDrive"), a `ui.slots` slot given the signed-in user:
  `JOBS_PANELS.register("onedrive", "onedrive/partials/jobs_panel.html", context_for)`,
  where `context_for(user)` returns the partial's context, or None when it has nothing to show that user. A panel
  whose background work adds jobs answers its htmx requests with the `HX-Trigger` header `JOBS_CHANGED`: the
  Jobs table then reads its rows again.

print_jobs itself imports none of these apps: they build on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ui.slots import Slot

if TYPE_CHECKING:
    from accounts.models import User
    from print_jobs.models import PrintJob

__all__ = [
    "JOBS_CHANGED",
    "JOBS_PANELS",
    "printed_hook_register",
    "printed_hooks",
]

PrintedHook = Callable[["PrintJob", "User | None"], None]
JOBS_CHANGED = "print-jobs-changed"


JOBS_PANELS: Slot[User] = Slot()

_printed_hooks: dict[str, PrintedHook] = {}


def printed_hook_register(name: str, hook: PrintedHook) -> None:
    """Register (or replace, e.g. on autoreload) the hook of that name."""
    _printed_hooks[name] = hook


def printed_hooks() -> list[PrintedHook]:
    return [_printed_hooks[name] for name in sorted(_printed_hooks)]
