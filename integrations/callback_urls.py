"""Where Microsoft sends the browser back: the redirect URIs registered on the apps (see the set-up guide)."""

from django.urls import path

from integrations.views import callbacks

app_name = "integration_callbacks"
urlpatterns = [
    # Sign-ins (Select tenant, Prove directory, a user's Connect) answer here by form_post...
    path("callback/", callbacks.sign_in_callback, name="select_tenant"),
    # ...and the browser is sent on to finish them, where its flow cookie is checked.
    path("callback/finish/", callbacks.sign_in_finish, name="sign_in_finish"),
    path("consent/callback/", callbacks.consent_callback, name="consent"),
]
