from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from external_systems.models import ExternalSystem


class MailJobsConfig(AppConfig):
    name = "mail_jobs"
    verbose_name = "Jobs via Email"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from external_systems.usage import usage_provider_register

        usage_provider_register(_jobs_via_email_usage)


def _jobs_via_email_usage(system: ExternalSystem) -> list[str]:
    from mail_jobs.choices import ServerKind
    from mail_jobs.selectors import sources_using_system

    used = sources_using_system(system_id=system.pk).filter(server_kind=ServerKind.EXCHANGE).exists()
    return ["POP3/IMAP server of Jobs via Email (Settings > Jobs)"] if used else []
