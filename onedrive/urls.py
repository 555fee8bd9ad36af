from django.urls import path

from onedrive import views

app_name = "onedrive"
urlpatterns = [
    path("my-settings/cloud-services/", views.cloud_services, name="cloud_services"),
    path("my-settings/cloud-services/scan-folder/", views.scan_folder, name="scan_folder"),
    path("my-settings/cloud-services/<int:feature_pk>/disconnect/", views.disconnect, name="disconnect"),
    path("jobs/onedrive/", views.browse, name="browse"),
    path("jobs/onedrive/scan/", views.scan_upload, name="scan"),
    path("jobs/onedrive/status/", views.jobs_panel, name="jobs_panel"),
    path("jobs/onedrive/prints/<int:pk>/retry/", views.print_retry, name="print_retry"),
    path("jobs/onedrive/scans/<int:pk>/retry/", views.scan_retry, name="scan_retry"),
]
