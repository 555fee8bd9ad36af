"""Reads of mail server accounts."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from health import Health
from mail_servers.choices import ServerStatus

if TYPE_CHECKING:
    from mail_servers.models import MailServerAccount

__all__ = ["mail_server_health"]


def mail_server_health(account: MailServerAccount, *, next_try: datetime | None = None) -> Health:
    """The server's status in the one health vocabulary. `next_try`: when its user (a poll, the queue) uses it
    again, which only that user knows."""
    status = account.status
    if status == ServerStatus.OK:
        return Health.ok("OK")
    if status == ServerStatus.FAILED:
        return Health.retrying(cause=account.status_reason, since=account.status_since, next_try=next_try)
    if status == ServerStatus.NEEDS_ACTION:
        fix_label = "Reconnect" if account.fix_url else "Fix it"
        return Health.needs_action(
            "Needs attention", reason=account.status_reason, fix_url=account.fix_url, fix_label=fix_label
        )
    return Health.off("Not checked yet", "It is checked the next time it is used.")
