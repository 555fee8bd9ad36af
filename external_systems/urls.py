from django.urls import path

from external_systems import views

app_name = "external_systems"
urlpatterns = [
    path("external-systems/", views.system_list, name="list"),
    path("network/", views.network_settings, name="network"),
    path("jobs/", views.jobs_settings, name="jobs_settings"),
]
