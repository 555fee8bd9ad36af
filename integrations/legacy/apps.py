from django.apps import AppConfig


class LegacyConfig(AppConfig):
    """The setup from before integrations. Its models are the `integrations` app's (see models.py); being an app
    of its own lets its command, admin and template be found here, so that deleting the package removes them."""

    name = "integrations.legacy"
    label = "integrations_legacy"
    verbose_name = "Integrations before 2.20"

    def ready(self) -> None:
        # Registered once the apps are loaded: the registry asks the owners about their rows at refresh time.
        from integrations.legacy.owner_types import legacy_owner_types_register

        legacy_owner_types_register()
