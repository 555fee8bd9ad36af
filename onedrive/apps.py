from datetime import timedelta
from typing import Any

from django.apps import AppConfig

from accounts.signals import user_deactivated


class OneDriveConfig(AppConfig):
    name = "onedrive"
    verbose_name = "OneDrive"

    def ready(self) -> None:
        # Imported here: models, and the modules that use them, load only once all apps are.
        from background.kinds import WorkKind, work_kind_register
        from onedrive.choices import PrintStatus, ScanStatus
        from onedrive.models import OneDrivePrint, ScanDelivery
        from onedrive.panels import jobs_panel_context
        from onedrive.services.printing import print_printed
        from onedrive.tasks import print_work_task, scan_deliver_task
        from print_jobs.registry import JOBS_PANELS, printed_hook_register

        work_kind_register(
            WorkKind(
                name="onedrive.print",
                rows=lambda: OneDrivePrint.objects.filter(status__in=PrintStatus.working()),
                task=print_work_task,
                grace=timedelta(minutes=1),
            )
        )
        work_kind_register(
            WorkKind(
                name="onedrive.scan",
                rows=lambda: ScanDelivery.objects.filter(status__in=ScanStatus.working()),
                task=scan_deliver_task,
                grace=timedelta(minutes=1),
            )
        )
        user_deactivated.connect(_disconnect, dispatch_uid="onedrive.disconnect_deactivated_users")
        printed_hook_register("onedrive", print_printed)
        JOBS_PANELS.register("onedrive", "onedrive/partials/jobs_panel.html", jobs_panel_context)


def _disconnect(sender: Any, *, tenant: Any, user_ids: list[int], actor: Any = None, **kwargs: Any) -> None:
    # Imported here: apps.py is loaded before the models are.
    from onedrive.services.connection import connections_end

    connections_end(tenant=tenant, user_ids=user_ids, actor=actor)
