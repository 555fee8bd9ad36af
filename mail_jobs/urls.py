from django.urls import path

from mail_jobs import views

app_name = "mail_jobs"
urlpatterns = [path("", views.jobs_settings, name="settings")]
