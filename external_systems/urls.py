from django.urls import path

from external_systems import views

app_name = "external_systems"
urlpatterns = [
    path("", views.system_list, name="list"),
]
