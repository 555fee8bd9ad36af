from django.urls import path

from outgoing_mail import views

app_name = "outgoing_mail"
urlpatterns = [
    path("", views.network_settings, name="network"),
    path("test-email/", views.test_email, name="test_email"),
    path("test-email/<int:pk>/", views.test_email_status, name="test_email_status"),
]
