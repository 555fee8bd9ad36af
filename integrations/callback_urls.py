"""Where Microsoft sends the browser back: the redirect URIs registered on the apps (see the set-up guide)."""

from django.urls import path

from integrations import views

app_name = "integration_callbacks"
urlpatterns = [
    path("callback/", views.select_tenant_callback, name="select_tenant"),
    path("callback/finish/", views.select_tenant_finish, name="select_tenant_finish"),
    path("consent/callback/", views.consent_callback, name="consent"),
    path("callback/connected/", views.user_connect_finish, name="user_connect_finish"),
]
