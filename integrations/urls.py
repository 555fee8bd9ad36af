from django.urls import path

from integrations.legacy import views as legacy
from integrations.views import add, cloud_services, directory, features, integration, reapply

app_name = "integrations"
urlpatterns = [
    path("", integration.integration_list, name="list"),
    path("add/", add.integration_add, name="add"),
    path("add/microsoft/", add.integration_add_microsoft, name="add_microsoft"),
    path("add/microsoft/automatic/", add.integration_add_automatic, name="add_automatic"),
    path("add/microsoft/manual/", add.integration_add_manual, name="add_manual"),
    path("microsoft/guide/", add.setup_guide, name="guide"),
    path("microsoft/<int:pk>/", integration.integration_detail, name="detail"),
    path("microsoft/<int:pk>/edit/", integration.integration_edit, name="edit"),
    path("microsoft/<int:pk>/delete/", integration.integration_delete, name="delete"),
    path("microsoft/<int:pk>/select-tenant/", directory.select_tenant, name="select_tenant"),
    path("microsoft/<int:pk>/prove-directory/", directory.prove_directory, name="prove_directory"),
    path("microsoft/<int:pk>/features/<int:feature_pk>/enable/", features.feature_enable, name="feature_enable"),
    path("microsoft/<int:pk>/features/<int:feature_pk>/disable/", features.feature_disable, name="feature_disable"),
    path("microsoft/<int:pk>/features/<int:feature_pk>/consent/", features.feature_consent, name="feature_consent"),
    path("microsoft/<int:pk>/reapply-consents/", reapply.reapply_start, name="reapply_start"),
    path(
        "microsoft/<int:pk>/reapply-consents/<int:run_pk>/continue/", reapply.reapply_continue, name="reapply_continue"
    ),
    path("microsoft/<int:pk>/reapply-consents/<int:run_pk>/stop/", reapply.reapply_stop, name="reapply_stop"),
    path("microsoft/<int:pk>/left-legacy/<int:switch_pk>/", legacy.legacy_switch, name="legacy_switch"),
    path("cloud-services/", cloud_services.cloud_services, name="cloud_services"),
    path(
        "cloud-services/<int:feature_pk>/connect/", cloud_services.cloud_services_connect, name="cloud_services_connect"
    ),
    path("cloud-services/dismiss/", cloud_services.cloud_services_dismiss, name="cloud_services_dismiss"),
]
