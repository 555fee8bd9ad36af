# Each poll of a source is claimed (background.claims): its lease and due time take the background fields.

from django.db import migrations, models
from django.utils import timezone


def poll_enabled_sources_never_polled(apps, schema_editor):
    """The sweep polls a source whose next_attempt_at is due; a source never polled had no time at all."""
    source = apps.get_model("mail_jobs", "MailJobSource")
    source.objects.filter(enabled=True, next_attempt_at__isnull=True).update(next_attempt_at=timezone.now())


class Migration(migrations.Migration):
    dependencies = [
        ("mail_jobs", "0003_processed_keys_to_urls"),
    ]

    operations = [
        migrations.RenameField(model_name="mailjobsource", old_name="next_poll_at", new_name="next_attempt_at"),
        migrations.RenameField(model_name="mailjobsource", old_name="poll_lease_until", new_name="lease_until"),
        migrations.RenameField(model_name="mailjobsource", old_name="poll_lease", new_name="lease_token"),
        migrations.AlterField(
            model_name="mailjobsource",
            name="next_attempt_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When the work is due next; empty: nothing to do.",
                null=True,
                verbose_name="next attempt",
            ),
        ),
        migrations.AlterField(
            model_name="mailjobsource",
            name="lease_until",
            field=models.DateTimeField(
                blank=True,
                help_text="A worker holds the work until then; after it, the sweep takes it back.",
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="mailjobsource",
            name="lease_token",
            field=models.CharField(blank=True, editable=False, help_text="The claim that holds it.", max_length=32),
        ),
        migrations.AddField(
            model_name="mailjobsource",
            name="attempts",
            field=models.PositiveIntegerField(default=0, help_text="Failed attempts in a row (for the backoff)."),
        ),
        migrations.RunPython(poll_enabled_sources_never_polled, migrations.RunPython.noop),
    ]
