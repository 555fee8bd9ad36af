from datetime import timedelta

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"

    def ready(self) -> None:
        # Imported here, as in every app: models, and the modules that use them, load only once all apps are.
        from background.kinds import WorkKind, work_kind_register
        from health.attention import attention_provider_register
        from integrations.attention import integration_attention
        from integrations.models import AppRegistration
        from integrations.services.tokens import feature_owner_type_register
        from integrations.tasks import app_roles_recheck_task

        feature_owner_type_register()
        attention_provider_register("integrations", integration_attention)
        work_kind_register(
            WorkKind(
                name="integrations.roles_recheck",
                rows=AppRegistration.objects.all,
                task=app_roles_recheck_task,
                grace=timedelta(minutes=1),
            )
        )
