from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    # Imported here: apps.py is loaded before the models are.
    from external_systems.models import ExternalSystem


class MailJobsConfig(AppConfig):
    name = "mail_jobs"
    verbose_name = "Jobs via Email"

    def ready(self) -> None:
        # Imported here: models, and the modules that use them, load only once all apps are.
        from background.kinds import WorkKind, work_kind_register
        from external_systems.usage import usage_provider_register
        from health.attention import attention_provider_register
        from mail_jobs.attention import jobs_via_email_attention
        from mail_jobs.services import mail_sources_polled
        from mail_jobs.tasks import mail_source_poll_task

        usage_provider_register(_jobs_via_email_usage)
        attention_provider_register("mail_jobs", jobs_via_email_attention)
        # No grace: the sweep is what queues each poll when the source's interval is up.
        work_kind_register(WorkKind(name="mail_jobs.poll", rows=mail_sources_polled, task=mail_source_poll_task))


def _jobs_via_email_usage(system: ExternalSystem) -> list[str]:
    # Imported here: apps.py is loaded before the models are.
    from mail_jobs.selectors import sources_reading_system

    used = sources_reading_system(system_id=system.pk).exists()
    return ["POP3/IMAP server of Jobs via Email (Settings > Jobs)"] if used else []
