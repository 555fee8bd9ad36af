from django.apps import AppConfig


class UiConfig(AppConfig):
    """What every page shares: badges, the navigation, live fragments, the layout and the stylesheet."""

    name = "ui"
    verbose_name = "User interface"
