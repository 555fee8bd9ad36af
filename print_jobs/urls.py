from django.urls import path

from print_jobs import views

app_name = "print_jobs"
urlpatterns = [
    path("", views.job_list, name="list"),
    path("<int:pk>/document/", views.job_document, name="document"),
    path("<int:pk>/release/", views.job_release, name="release"),
]
