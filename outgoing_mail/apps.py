from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from external_systems.models import ExternalSystem


class OutgoingMailConfig(AppConfig):
    name = "outgoing_mail"
    verbose_name = "Outgoing mail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.attention import ATTENTION_PROVIDERS
        from external_systems.usage import usage_provider_register

        usage_provider_register(_outgoing_server_usage)
        if "outgoing_mail.attention.outgoing_mail_attention" not in ATTENTION_PROVIDERS:
            ATTENTION_PROVIDERS.append("outgoing_mail.attention.outgoing_mail_attention")


def _outgoing_server_usage(system: ExternalSystem) -> list[str]:
    from outgoing_mail.choices import OutgoingMode
    from outgoing_mail.models import OutgoingMailSettings

    used = OutgoingMailSettings.objects.filter(exchange_system=system, mode=OutgoingMode.EXCHANGE).exists()
    return ["Outgoing SMTP server (Settings > Network)"] if used else []
