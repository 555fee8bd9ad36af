from django.apps import AppConfig


class MicrosoftLoginConfig(AppConfig):
    name = "microsoft_login"
    verbose_name = "Login with Microsoft"

    def ready(self) -> None:
        # Imported here: models, and the modules that use them, load only once all apps are.
        from microsoft_login.views import sign_in_kinds_register

        sign_in_kinds_register()
