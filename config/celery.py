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
    "throttle-windows-prune": {  # hourly: forget sign-in failures and throttled attempts that no longer count
        "task": "throttling.windows_prune",
        "schedule": crontab(minute=7),
        "options": {"expires": 50 * 60},
    },
    "integrations-attention-check": {  # daily: app tokens probed, admins emailed once per integration problem
        "task": "integrations.attention_check",
        "schedule": crontab(hour=6, minute=20),
        "options": {"expires": 23 * 60 * 60},
    },
}
