from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig

from microsoft.config import AppCredentials

if TYPE_CHECKING:
    # Imported here: apps.py is loaded before the models are.
    from accounts.models import Tenant
    from credentials.models import MicrosoftCredential
    from health import Health
    from microsoft.config import AppCredentials


class ExternalSystemsConfig(AppConfig):
    name = "external_systems"
    verbose_name = "External systems"

    def ready(self) -> None:
        # Imported here: models, and the modules that use them, load only once all apps are.
        from background.kinds import WorkKind, work_kind_register
        from credentials.registry import OwnerType, owner_type_register
        from external_systems.services.connections import SWEEP_GRACE, connections_polled
        from external_systems.services.systems import OWNER_TYPE
        from external_systems.tasks import connection_advance_task
        from external_systems.types import system_types
        from health.attention import attention_provider_register

        system_types()  # load the built-in types
        owner_type_register(
            OwnerType(name=OWNER_TYPE, app_for=_app_for, label_for=_label_for, fix_url_for=_fix_url_for)
        )
        attention_provider_register("external_systems", _system_health)
        work_kind_register(
            WorkKind(
                name="external_systems.connection_step",
                rows=connections_polled,
                task=connection_advance_task,
                grace=SWEEP_GRACE,
            )
        )


def _system_health(tenant: Tenant) -> list[Health]:
    # Imported here: apps.py is loaded before the models are.
    from external_systems.selectors import system_health

    return system_health(tenant=tenant)


def _app_for(credential: MicrosoftCredential) -> AppCredentials:
    # Device code sign-ins are public-client sign-ins: the refresh never sends a secret.
    return AppCredentials(credential.client_id, None)


def _label_for(credential: MicrosoftCredential) -> str:
    # Imported here: apps.py is loaded before the models are.
    from external_systems.models import ExternalSystem

    system = ExternalSystem.objects.filter(pk=credential.owner_id).first()
    return f"External system “{system.title}”" if system else f"External system #{credential.owner_id}"


def _fix_url_for(credential: MicrosoftCredential) -> str:
    from django.urls import reverse

    return reverse("external_systems:detail", args=[credential.owner_id])
