from django.urls import path

from user_sync import views

app_name = "user_sync"
urlpatterns = [
    path("", views.page, name="page"),
    path("<int:pk>/settings/", views.settings_update, name="settings"),
    path("<int:pk>/sync/", views.sync_now, name="sync_now"),
    path("<int:pk>/preview/", views.preview, name="preview"),
    path("<int:pk>/status/", views.status, name="status"),
    path("<int:pk>/deactivations/confirm/", views.confirm, name="confirm"),
    path("<int:pk>/deactivations/keep/", views.keep, name="keep"),
    path("<int:pk>/deactivate-users/", views.deactivate_stopped, name="deactivate_stopped"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/pin-emails/", views.pin_emails, name="pin_emails"),
    path("runs/<int:pk>/changes/<int:change_pk>/link/", views.admin_link, name="admin_link"),
]
