"""What happens to features and integrations that other apps react to, so that integrations imports none of them.

Receivers run inside the transaction of the change, so they should only write to the database and queue anything
slower with `transaction.on_commit`. A receiver may return a short sentence for the admin ("2 printers still send
their jobs to Roger..."); the services hand these back and the page shows them. An exception undoes the change.

    from integrations.signals import feature_disabled

    @receiver(feature_disabled)
    def _printers_left_on(sender, *, feature, **kwargs) -> str | None: ...
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.dispatch import Signal

# Sent with `feature` (already saved as enabled); who enabled it is the request context's (the trail has it).
feature_enabled = Signal()
# Sent with `feature` (already saved as disabled); who disabled it is the request context's.
feature_disabled = Signal()
# Sent with `integration` just before the integration and its features are deleted; who deletes it is the request
# context's (the trail has it).
integration_deleting = Signal()
# Sent with `integration` while the admin is asked to confirm its deletion: what would be left behind.
integration_delete_warnings = Signal()


def sentences(responses: Iterable[tuple[Any, Any]]) -> list[str]:
    """The sentences receivers returned (`Signal.send`'s answers), in order, without the empty ones."""
    said: list[str] = []
    for _receiver, response in responses:
        if isinstance(response, str) and response:
            said.append(response)
        elif isinstance(response, list | tuple):
            said.extend(str(item) for item in response if item)
    return said
