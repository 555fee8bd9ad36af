from django.urls import path

from integrations import views

app_name = "integrations"
urlpatterns = [
    path("", views.integration_list, name="list"),
    path("add/", views.integration_add, name="add"),
    path("add/microsoft/", views.integration_add_microsoft, name="add_microsoft"),
    path("add/microsoft/automatic/", views.integration_add_automatic, name="add_automatic"),
    path("add/microsoft/manual/", views.integration_add_manual, name="add_manual"),
    path("microsoft/guide/", views.setup_guide, name="guide"),
    path("microsoft/<int:pk>/", views.integration_detail, name="detail"),
    path("microsoft/<int:pk>/edit/", views.integration_edit, name="edit"),
    path("microsoft/<int:pk>/delete/", views.integration_delete, name="delete"),
    path("microsoft/<int:pk>/select-tenant/", views.select_tenant, name="select_tenant"),
    path("microsoft/<int:pk>/features/<int:feature_pk>/enable/", views.feature_enable, name="feature_enable"),
    path("microsoft/<int:pk>/features/<int:feature_pk>/disable/", views.feature_disable, name="feature_disable"),
    path("microsoft/<int:pk>/features/<int:feature_pk>/consent/", views.feature_consent, name="feature_consent"),
    path("user-synchronization/", views.user_sync, name="user_sync"),
    path("cloud-services/", views.cloud_services, name="cloud_services"),
]
