"""The Celery app, its queues and routing, and the whole beat schedule, in one place."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.schedules import crontab
from celery.signals import setup_logging
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")

# --- queues: work is routed by how urgently somebody waits for it --------------------------------------------
# Each queue gets its own workers in production (docs/operations.md), so that a long User Synchronization never
# delays a device code poll that a person watches. A worker started without -Q serves all four (the demo).
INTERACTIVE = "interactive"  # a person is waiting on the page: device code polls, consent follow-ups, tests
MAIL = "mail"  # outgoing mail and Jobs via Email
LONG = "long"  # long work: User Synchronization, OneDrive transfers, Universal Print pulls
HOUSEKEEPING = "housekeeping"  # sweeps, daily checks, pruning, token upkeep
QUEUES = (INTERACTIVE, MAIL, LONG, HOUSEKEEPING)

# The routing table: a task name or a pattern (fnmatch, the first match wins: exact names first, then the
# patterns in this order). A new app routes its tasks by adding its name here; tests/config/test_queues.py
# fails for a task that matches nothing, so nothing lands on the default queue by accident.
TASK_ROUTES: dict[str, str] = {
    # interactive steps
    "external_systems.connection_advance": INTERACTIVE,
    "mail_servers.connection_test": INTERACTIVE,
    "integrations.app_roles_recheck": INTERACTIVE,
    "outgoing_mail.test_email_send": INTERACTIVE,
    "accounts.*": INTERACTIVE,  # sign-in follow-ups
    # mail
    "outgoing_mail.*": MAIL,
    "mail_jobs.*": MAIL,
    # long work
    "user_sync.*": LONG,
    "users_admin.*": LONG,  # imports of users from a file
    "onedrive.*": LONG,
    "universal_print.*": LONG,
    # housekeeping
    "background.*": HOUSEKEEPING,
    "throttling.*": HOUSEKEEPING,
    "integrations.*": HOUSEKEEPING,
    "credentials.*": HOUSEKEEPING,
    "operations.*": HOUSEKEEPING,
}

app.conf.task_queues = [Queue(name) for name in QUEUES]
app.conf.task_default_queue = LONG  # unknown work is treated as long, never as urgent
app.conf.task_routes = ({pattern: {"queue": queue} for pattern, queue in TASK_ROUTES.items()},)

app.autodiscover_tasks()


@setup_logging.connect
def _django_logging(**_: Any) -> None:
    """Workers and beat log like the web processes (settings.LOGGING: context on every line, JSON on request)."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


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
    # every minute, to each queue: the worker that takes it shows /healthz that the queue is served
    **{
        f"heartbeat-{queue}": {
            "task": "operations.heartbeat",
            "schedule": crontab(),
            "args": (queue,),
            "options": {"queue": queue, "expires": 50},
        }
        for queue in QUEUES
    },
    "integrations-attention-check": {  # daily: app tokens probed, admins emailed once per integration problem
        "task": "integrations.attention_check",
        "schedule": crontab(hour=6, minute=20),
        "options": {"expires": 23 * 60 * 60},
    },
}
