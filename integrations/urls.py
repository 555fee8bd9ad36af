from django.urls import path

from integrations import views
from integrations.legacy import views as legacy_views

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
    path("microsoft/<int:pk>/prove-directory/", views.prove_directory, name="prove_directory"),
    path("microsoft/<int:pk>/features/<int:feature_pk>/enable/", views.feature_enable, name="feature_enable"),
    path("microsoft/<int:pk>/features/<int:feature_pk>/disable/", views.feature_disable, name="feature_disable"),
    path("microsoft/<int:pk>/features/<int:feature_pk>/consent/", views.feature_consent, name="feature_consent"),
    path("microsoft/<int:pk>/reapply-consents/", views.reapply_start, name="reapply_start"),
    path("microsoft/<int:pk>/reapply-consents/<int:run_pk>/continue/", views.reapply_continue, name="reapply_continue"),
    path("microsoft/<int:pk>/reapply-consents/<int:run_pk>/stop/", views.reapply_stop, name="reapply_stop"),
    path("microsoft/<int:pk>/left-legacy/<int:switch_pk>/", legacy_views.legacy_switch, name="legacy_switch"),
    path("cloud-services/", views.cloud_services, name="cloud_services"),
    path("cloud-services/<int:feature_pk>/connect/", views.cloud_services_connect, name="cloud_services_connect"),
    path("cloud-services/dismiss/", views.cloud_services_dismiss, name="cloud_services_dismiss"),
]
