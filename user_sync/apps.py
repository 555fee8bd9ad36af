from datetime import timedelta

from django.apps import AppConfig


class UserSyncConfig(AppConfig):
    name = "user_sync"
    verbose_name = "User Synchronization"

    def ready(self) -> None:
        # Imported here: models, and the modules that use them, load only once all apps are.
        from background.kinds import WorkKind, work_kind_register
        from health.attention import attention_provider_register
        from user_sync import receivers  # noqa: F401  (follows the feature: integrations.signals)
        from user_sync.selectors import user_sync_attention
        from user_sync.services.runs import automatic_syncs_due, runs_open
        from user_sync.tasks import automatic_sync_task, run_step_task

        attention_provider_register("user_sync", user_sync_attention)
        # A run's next page is queued by the page before it; the sweep takes over a run whose task was lost.
        work_kind_register(
            WorkKind(name="user_sync.run", rows=runs_open, task=run_step_task, grace=timedelta(minutes=1))
        )
        # The daily automatic sync: only the sweep (every minute) queues it when it is due.
        work_kind_register(WorkKind(name="user_sync.automatic", rows=automatic_syncs_due, task=automatic_sync_task))
