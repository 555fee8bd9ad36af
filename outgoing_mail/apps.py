from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    # Imported here: apps.py is loaded before the models are.
    from external_systems.models import ExternalSystem


class OutgoingMailConfig(AppConfig):
    name = "outgoing_mail"
    verbose_name = "Outgoing mail"

    def ready(self) -> None:
        # Imported here: models, and the modules that use them, load only once all apps are.
        from background.kinds import WorkKind, work_kind_register
        from external_systems.usage import usage_provider_register
        from health.attention import attention_provider_register
        from outgoing_mail.attention import outgoing_mail_attention
        from outgoing_mail.delivery import SWEEP_GRACE, outbound_emails_pending, outbound_emails_prune
        from outgoing_mail.tasks import outbound_email_send

        usage_provider_register(_outgoing_server_usage)
        work_kind_register(
            WorkKind(
                name="outgoing_mail.delivery",
                rows=outbound_emails_pending,
                task=outbound_email_send,
                grace=SWEEP_GRACE,
                tidy=outbound_emails_prune,
                turns_by="tenant_id",
            )
        )
        attention_provider_register("outgoing_mail", outgoing_mail_attention)


def _outgoing_server_usage(system: ExternalSystem) -> list[str]:
    # Imported here: apps.py is loaded before the models are.
    from mail_servers.choices import ServerKind
    from outgoing_mail.models import OutgoingMailSettings

    used = OutgoingMailSettings.objects.filter(
        use_own_server=True, mail_server__kind=ServerKind.EXCHANGE, mail_server__exchange_system=system
    ).exists()
    return ["Outgoing SMTP server (Settings > Network)"] if used else []
