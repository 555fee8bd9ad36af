from django.urls import path

from microsoft_login import views

app_name = "microsoft_login"
urlpatterns = [
    path("accounts/microsoft/start/", views.sign_in_start, name="start"),
    path("administration/login-with-microsoft/", views.login_settings, name="settings"),
    path("my-settings/microsoft-account/", views.account, name="account"),
    path("my-settings/microsoft-account/<int:feature_pk>/link/", views.link_start, name="link"),
]
