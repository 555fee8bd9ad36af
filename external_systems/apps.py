from django.apps import AppConfig


class ExternalSystemsConfig(AppConfig):
    name = "external_systems"
    default_auto_field = "django.db.models.BigAutoField"
