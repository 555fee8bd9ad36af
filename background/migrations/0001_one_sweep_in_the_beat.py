# The beat's background.sweep replaces four sweeps of their own: their stored schedule entries would keep
# sending tasks that no longer exist (django_celery_beat adds the schedule's entries, never removes one).

from django.db import migrations

REPLACED_TASKS = (
    "credentials.refresh_due",
    "external_systems.connections_sweep",
    "outgoing_mail.outbound_emails_requeue_stale",
    "mail_jobs.poll_due",
)


def forget_replaced_beat_entries(apps, schema_editor):
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    periodic_task.objects.filter(task__in=REPLACED_TASKS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("django_celery_beat", "0001_initial"),
    ]

    operations = [migrations.RunPython(forget_replaced_beat_entries, migrations.RunPython.noop)]
