"""The Celery app and the whole beat schedule, in one place."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Every periodic task of the portal. Each entry expires just under its interval so a backlog never piles up.
app.conf.beat_schedule = {
    "background-sweep": {  # every minute: queue the background work that is due and that no worker holds
        "task": "background.sweep",
        "schedule": crontab(),
        "options": {"expires": 50},
    },
    "outgoing-mail-requeue-stale": {  # every 2 minutes: re-queue outgoing mail whose task was lost with a worker
        "task": "outgoing_mail.outbound_emails_requeue_stale",
        "schedule": crontab(minute="*/2"),
        "options": {"expires": 100},
    },
    "throttle-windows-prune": {  # hourly: forget sign-in failures and throttled attempts that no longer count
        "task": "throttling.windows_prune",
        "schedule": crontab(minute=7),
        "options": {"expires": 50 * 60},
    },
    "mail-jobs-poll-due": {  # every minute: queue a poll of each Jobs via Email mailbox whose interval is up
        "task": "mail_jobs.poll_due",
        "schedule": crontab(),
        "options": {"expires": 50},
    },
    "integrations-attention-check": {  # daily: app tokens probed, admins emailed once per integration problem
        "task": "integrations.attention_check",
        "schedule": crontab(hour=6, minute=20),
        "options": {"expires": 23 * 60 * 60},
    },
}
