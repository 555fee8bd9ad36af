"""Administration > Users (/administration/users/)."""

from django.urls import path

from users_admin import views

app_name = "users_admin"
urlpatterns = [
    path("", views.user_list, name="users"),
    path("add/", views.user_add, name="user_add"),
    path("export.csv", views.user_export, name="users_export"),
    path("<int:pk>/", views.user_edit, name="user_edit"),
    path("<int:pk>/deactivate/", views.user_deactivate_view, name="user_deactivate"),
    path("<int:pk>/reactivate/", views.user_reactivate_view, name="user_reactivate"),
    path("<int:pk>/reset-password/", views.user_password_reset, name="user_password_reset"),
    path("import/", views.import_upload, name="import_upload"),
    path("import/<int:pk>/", views.import_detail, name="import_detail"),
    path("import/<int:pk>/status/", views.import_status, name="import_status"),
    path("import/<int:pk>/apply/", views.import_apply_view, name="import_apply"),
    path("import/<int:pk>/<str:phase>.csv", views.import_result, name="import_result"),
    path("invitation/<str:token>/", views.invitation, name="invitation"),
]
