from django.urls import path

from mail_jobs import views

app_name = "mail_jobs"
urlpatterns = [
    path("", views.jobs_settings, name="settings"),
    path("email/test/", views.test_connection, name="test_connection"),
    path("email/test/status/", views.test_status, name="test_status"),
    path("email/poll/", views.poll_now, name="poll_now"),
]
