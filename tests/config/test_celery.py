"""A real Celery worker on the real broker runs a task end to end."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from accounts.models import SignInFailure
from accounts.tasks import sign_in_failures_prune
from tests.conftest import wait_until


def test_worker_runs_a_task_end_to_end(celery_worker):
    old = SignInFailure.objects.create(
        tenancy_name="alpha", email="a@example.com", failed_at=timezone.now() - timedelta(days=1)
    )
    fresh = SignInFailure.objects.create(tenancy_name="alpha", email="b@example.com")
    sign_in_failures_prune.delay()
    wait_until(lambda: not SignInFailure.objects.filter(pk=old.pk).exists(), message="the task to run")
    assert SignInFailure.objects.filter(pk=fresh.pk).exists()


def test_tasks_are_acknowledged_late_so_a_killed_worker_loses_nothing(settings):
    from config.celery import app

    assert app.conf.task_acks_late is True and app.conf.task_reject_on_worker_lost is True
