from django.apps import AppConfig


class MailJobsConfig(AppConfig):
    name = "mail_jobs"
    default_auto_field = "django.db.models.BigAutoField"
