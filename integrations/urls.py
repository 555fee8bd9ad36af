from django.urls import path

from integrations import views

app_name = "integrations"
urlpatterns = [
    path("", views.integration_list, name="list"),
    path("user-synchronization/", views.user_sync, name="user_sync"),
    path("cloud-services/", views.cloud_services, name="cloud_services"),
]
