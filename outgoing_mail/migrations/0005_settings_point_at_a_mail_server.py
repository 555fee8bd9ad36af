import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("outgoing_mail", "0004_deliveries_are_claimed"),
        ("mail_servers", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="outgoingmailsettings",
            name="use_own_server",
            field=models.BooleanField(
                default=False, help_text="Send through the tenant's server below; otherwise through Roger's."
            ),
        ),
        migrations.AddField(
            model_name="outgoingmailsettings",
            name="mail_server",
            field=models.OneToOneField(
                null=True,
                on_delete=django.db.models.deletion.RESTRICT,
                related_name="+",
                to="mail_servers.mailserveraccount",
            ),
        ),
    ]
