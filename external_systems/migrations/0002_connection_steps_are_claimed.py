# Each step of a device code connection is claimed (background.claims) instead of numbered.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("external_systems", "0001_initial"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="devicecodeconnection", name="external_sy_status_578e68_idx"),
        migrations.RenameField(model_name="devicecodeconnection", old_name="next_poll_at", new_name="next_attempt_at"),
        migrations.RenameField(model_name="devicecodeconnection", old_name="start_attempts", new_name="attempts"),
        migrations.RemoveField(model_name="devicecodeconnection", name="poll_sequence"),
        migrations.AlterField(
            model_name="devicecodeconnection",
            name="next_attempt_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When the work is due next; empty: nothing to do.",
                null=True,
                verbose_name="next attempt",
            ),
        ),
        migrations.AlterField(
            model_name="devicecodeconnection",
            name="attempts",
            field=models.PositiveIntegerField(default=0, help_text="Failed attempts in a row (for the backoff)."),
        ),
        migrations.AddField(
            model_name="devicecodeconnection",
            name="lease_until",
            field=models.DateTimeField(
                blank=True,
                help_text="A worker holds the work until then; after it, the sweep takes it back.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="devicecodeconnection",
            name="lease_token",
            field=models.CharField(blank=True, editable=False, help_text="The claim that holds it.", max_length=32),
        ),
        migrations.AddIndex(
            model_name="devicecodeconnection",
            index=models.Index(fields=["status", "next_attempt_at"], name="external_sy_status_577140_idx"),
        ),
    ]
