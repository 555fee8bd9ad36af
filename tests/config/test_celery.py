"""A real Celery worker on the real broker runs a task end to end."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from tests.conftest import wait_until
from throttling.models import ThrottleWindow
from throttling.tasks import throttle_windows_prune


def test_worker_runs_a_task_end_to_end(celery_worker):
    old = ThrottleWindow.objects.create(key="sign_in:account:a", expires_at=timezone.now() - timedelta(days=1))
    fresh = ThrottleWindow.objects.create(key="sign_in:account:b", expires_at=timezone.now() + timedelta(minutes=5))
    throttle_windows_prune.delay()
    wait_until(lambda: not ThrottleWindow.objects.filter(pk=old.pk).exists(), message="the task to run")
    assert ThrottleWindow.objects.filter(pk=fresh.pk).exists()


def test_tasks_are_acknowledged_late_so_a_killed_worker_loses_nothing(settings):
    from config.celery import app

    assert app.conf.task_acks_late is True and app.conf.task_reject_on_worker_lost is True
