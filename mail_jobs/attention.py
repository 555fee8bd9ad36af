"""Dashboard "Needs attention": the mailbox of Jobs via Email cannot be read."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from django.urls import reverse

from health import Health, HealthState
from mail_jobs.models import MailJobSource
from mail_servers.selectors import mail_server_health

if TYPE_CHECKING:
    from accounts.models import Tenant


def jobs_via_email_attention(tenant: Tenant) -> Iterable[Health]:
    source = MailJobSource.objects.select_related("mail_server").filter(tenant=tenant, enabled=True).first()
    if source is None:
        return []
    health = mail_server_health(source.mail_server, next_try=source.next_attempt_at)
    if health.state == HealthState.NEEDS_ACTION and not health.fix_url:
        health = replace(health, fix_url=reverse("mail_jobs:settings"), fix_label="Open Jobs settings")
    return [health.about("Jobs via Email")]
