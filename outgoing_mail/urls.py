from django.urls import path

from outgoing_mail import views

app_name = "outgoing_mail"
urlpatterns = [path("", views.network_settings, name="network")]
