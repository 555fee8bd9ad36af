from django.apps import AppConfig


class CredentialsConfig(AppConfig):
    name = "credentials"

    def ready(self) -> None:
        # Imported here: models, and the modules that use them, load only once all apps are.
        from background.kinds import WorkKind, work_kind_register
        from credentials.models import MicrosoftCredential
        from credentials.services import SWEEP_GRACE
        from credentials.tasks import credential_refresh_task

        work_kind_register(
            WorkKind(
                name="credentials.refresh",
                rows=MicrosoftCredential.objects.all,
                task=credential_refresh_task,
                grace=SWEEP_GRACE,
            )
        )
