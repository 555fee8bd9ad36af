from django.apps import AppConfig


class LegacyConfig(AppConfig):
    """The setup from before integrations. Its models are the `integrations` app's (see models.py); being an app
    of its own lets its command, admin and template be found here, so that deleting the package removes them."""

    name = "integrations.legacy"
    label = "integrations_legacy"
    verbose_name = "Integrations before 2.20"

    def ready(self) -> None:
        # Imported here, as in every app: its modules load once all apps are (the registry holds models).
        from integrations.legacy.owner_types import legacy_owner_types_register

        legacy_owner_types_register()
