from django.apps import AppConfig


class OutgoingMailConfig(AppConfig):
    name = "outgoing_mail"
    default_auto_field = "django.db.models.BigAutoField"
