# The sign-in lockout counts failures in throttling.ThrottleWindow now (one store for every abuse limit). Failures
# recorded before the upgrade are dropped: at worst a lockout running at that moment lifts early.

from django.db import migrations


def forget_the_old_prune_task(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task="accounts.sign_in_failures_prune").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_admin_notifications"),
        ("django_celery_beat", "0001_initial"),
    ]

    operations = [
        migrations.DeleteModel(name="SignInFailure"),
        migrations.RunPython(forget_the_old_prune_task, migrations.RunPython.noop),
    ]
