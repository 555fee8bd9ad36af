# Each delivery is claimed (background.claims): a lease replaces claimed_at.

from datetime import timedelta

from django.db import migrations, models

SEND_LEASE = timedelta(minutes=10)


def lease_messages_being_sent(apps, schema_editor):
    """A message a worker is sending now keeps it for as long as it would have before the sweep took it back."""
    outbound = apps.get_model("outgoing_mail", "OutboundEmail")
    for row in outbound.objects.filter(status="sending", claimed_at__isnull=False):
        row.lease_until = row.claimed_at + SEND_LEASE
        row.lease_token = "claimed-before-leases"
        row.save(update_fields=["lease_until", "lease_token"])


class Migration(migrations.Migration):
    dependencies = [
        ("outgoing_mail", "0003_pacer_in_throttle_windows"),
    ]

    operations = [
        migrations.AddField(
            model_name="outboundemail",
            name="lease_token",
            field=models.CharField(blank=True, editable=False, help_text="The claim that holds it.", max_length=32),
        ),
        migrations.AddField(
            model_name="outboundemail",
            name="lease_until",
            field=models.DateTimeField(
                blank=True,
                help_text="A worker holds the work until then; after it, the sweep takes it back.",
                null=True,
            ),
        ),
        migrations.RunPython(lease_messages_being_sent, migrations.RunPython.noop),
        migrations.RemoveField(model_name="outboundemail", name="claimed_at"),
        migrations.AlterField(
            model_name="outboundemail",
            name="attempts",
            field=models.PositiveIntegerField(default=0, help_text="Failed attempts in a row (for the backoff)."),
        ),
        migrations.AlterField(
            model_name="outboundemail",
            name="next_attempt_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When the work is due next; empty: nothing to do.",
                null=True,
                verbose_name="next attempt",
            ),
        ),
    ]
