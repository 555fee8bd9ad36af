# The outgoing mail pacer keeps its sends in throttling.ThrottleWindow, the portal's one store of recent events.
# The sends of the last minute move along, so no mailbox goes over its limit across the upgrade.

from datetime import UTC, datetime

from django.conf import settings
from django.db import migrations


def move_windows(apps, schema_editor):
    MailboxSendWindow = apps.get_model("outgoing_mail", "MailboxSendWindow")
    ThrottleWindow = apps.get_model("throttling", "ThrottleWindow")
    window = float(settings.OUTGOING_MAIL_RATE_WINDOW_SECONDS)
    for old in MailboxSendWindow.objects.exclude(sent_at=[]):
        sends = sorted(old.sent_at)
        ThrottleWindow.objects.update_or_create(
            key=f"outgoing_mail:mailbox:{old.key}",
            defaults={"hits": sends, "expires_at": datetime.fromtimestamp(sends[-1] + window, tz=UTC)},
        )


class Migration(migrations.Migration):
    dependencies = [
        ("outgoing_mail", "0002_sending_mailbox"),
        ("throttling", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(move_windows, migrations.RunPython.noop),
        migrations.DeleteModel(name="MailboxSendWindow"),
    ]
