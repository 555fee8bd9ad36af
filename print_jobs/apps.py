from django.apps import AppConfig


class PrintJobsConfig(AppConfig):
    name = "print_jobs"
    default_auto_field = "django.db.models.BigAutoField"
