import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("outgoing_mail", "0006_settings_servers_into_accounts")]

    operations = [
        migrations.AlterField(
            model_name="outgoingmailsettings",
            name="mail_server",
            field=models.OneToOneField(
                help_text="The tenant's SMTP server (Exchange Online or another); its status is what the last send "
                "showed.",
                on_delete=django.db.models.deletion.RESTRICT,
                related_name="+",
                to="mail_servers.mailserveraccount",
            ),
        ),
        migrations.RemoveField(model_name="outgoingmailsettings", name="mode"),
        migrations.RemoveField(model_name="outgoingmailsettings", name="exchange_system"),
        migrations.RemoveField(model_name="outgoingmailsettings", name="send_as_mailbox"),
        migrations.RemoveField(model_name="outgoingmailsettings", name="custom_host"),
        migrations.RemoveField(model_name="outgoingmailsettings", name="custom_port"),
        migrations.RemoveField(model_name="outgoingmailsettings", name="custom_security"),
        migrations.RemoveField(model_name="outgoingmailsettings", name="custom_username"),
        migrations.RemoveField(model_name="outgoingmailsettings", name="custom_password"),
    ]
