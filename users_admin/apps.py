from datetime import timedelta

from django.apps import AppConfig


class UsersAdminConfig(AppConfig):
    """Administration > Users: adding, editing, inviting, deactivating and importing a tenant's users."""

    name = "users_admin"
    verbose_name = "Users"

    def ready(self) -> None:
        # Imported here: models, and the modules that use them, load only once all apps are.
        from background.kinds import WorkKind, work_kind_register
        from users_admin.choices import ImportStatus
        from users_admin.models import UserImport
        from users_admin.tasks import user_import_task

        work_kind_register(
            WorkKind(
                name="users_admin.user_import",
                rows=lambda: UserImport.objects.filter(status__in=ImportStatus.working()),
                task=user_import_task,
                grace=timedelta(minutes=1),
            )
        )
