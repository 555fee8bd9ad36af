from django.apps import AppConfig


class ThrottlingConfig(AppConfig):
    name = "throttling"
    verbose_name = "Abuse limits"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from throttling import checks  # noqa: F401  (registers the settings check)
