from django.urls import path

from universal_print import views

app_name = "universal_print"
urlpatterns = [
    path("", views.page, name="page"),
    path("queues/", views.queue_add, name="queue_add"),
    path("features/<int:feature_pk>/sign-in/", views.sign_in, name="sign_in"),
    path("<int:pk>/printers/", views.printers_save, name="printers_save"),
    path("<int:pk>/check/", views.check_now, name="check_now"),
    path("<int:pk>/status/", views.status, name="status"),
]
