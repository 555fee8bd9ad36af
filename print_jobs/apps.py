from typing import Any

from django.apps import AppConfig

from accounts.signals import user_deactivated, user_reactivated


class PrintJobsConfig(AppConfig):
    name = "print_jobs"

    def ready(self) -> None:
        user_deactivated.connect(_hold, dispatch_uid="print_jobs.hold_deactivated_users_jobs")
        user_reactivated.connect(_unhold, dispatch_uid="print_jobs.unhold_reactivated_users_jobs")


def _hold(sender: Any, *, user_ids: list[int], **kwargs: Any) -> None:
    # Imported here: apps.py is loaded before the models are.
    from print_jobs.services import print_jobs_hold

    print_jobs_hold(user_ids=user_ids)


def _unhold(sender: Any, *, user_ids: list[int], **kwargs: Any) -> None:
    # Imported here: apps.py is loaded before the models are.
    from print_jobs.services import print_jobs_unhold

    print_jobs_unhold(user_ids=user_ids)
