from datetime import timedelta

from django.apps import AppConfig


class UniversalPrintConfig(AppConfig):
    name = "universal_print"
    verbose_name = "Universal Print"

    def ready(self) -> None:
        # Imported here: models, and the modules that use them, load only once all apps are.
        from background.kinds import WorkKind, work_kind_register
        from health.attention import attention_provider_register
        from universal_print import receivers  # noqa: F401  (follows the feature: integrations.signals)
        from universal_print.selectors import universal_print_attention
        from universal_print.services.jobs import jobs_open
        from universal_print.services.sign_in import sign_in_register
        from universal_print.services.ticks import connections_polled
        from universal_print.tasks import connection_tick_task, received_job_task

        sign_in_register()
        attention_provider_register("universal_print", universal_print_attention)
        # No grace: the sweep (every minute) is what queues each connection's look at its tasks when it is due.
        work_kind_register(
            WorkKind(name="universal_print.connection", rows=connections_polled, task=connection_tick_task)
        )
        work_kind_register(
            WorkKind(name="universal_print.job", rows=jobs_open, task=received_job_task, grace=timedelta(minutes=1))
        )
