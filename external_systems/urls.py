from django.urls import path

from external_systems import views

app_name = "external_systems"
urlpatterns = [
    path("", views.system_list, name="list"),
    path("add/<slug:type_key>/", views.system_add, name="add"),
    path("<int:pk>/", views.system_detail, name="detail"),
    path("<int:pk>/reconnect/", views.system_reconnect, name="reconnect"),
    path("<int:pk>/delete/", views.system_delete, name="delete"),
    path("connections/<int:pk>/", views.connection_popup, name="connection"),
    path("connections/<int:pk>/cancel/", views.connection_cancel, name="connection_cancel"),
    path("connections/<int:pk>/restart/", views.connection_restart, name="connection_restart"),
    path("connections/<int:pk>/email/", views.connection_email, name="connection_email"),
    path("connections/<int:pk>/switch/", views.connection_switch, name="connection_switch"),
]
