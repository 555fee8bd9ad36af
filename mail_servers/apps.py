from __future__ import annotations

from datetime import timedelta

from django.apps import AppConfig


class MailServersConfig(AppConfig):
    name = "mail_servers"
    verbose_name = "Mail servers"

    def ready(self) -> None:
        # Imported here: models, and the modules that use them, load only once all apps are.
        from background.kinds import WorkKind, work_kind_register
        from mail_servers.services import running_tests
        from mail_servers.tasks import mail_server_test_task

        work_kind_register(
            WorkKind(
                name="mail_servers.connection_test",
                rows=running_tests,
                task=mail_server_test_task,
                grace=timedelta(seconds=30),
            )
        )
