import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("mail_jobs", "0006_sources_servers_into_accounts")]

    operations = [
        migrations.AlterField(
            model_name="mailjobsource",
            name="mail_server",
            field=models.OneToOneField(
                help_text="The mailbox's server and account (IMAP or POP3); its status is what the last poll showed.",
                on_delete=django.db.models.deletion.RESTRICT,
                related_name="+",
                to="mail_servers.mailserveraccount",
            ),
        ),
        migrations.RemoveField(model_name="mailjobsource", name="protocol"),
        migrations.RemoveField(model_name="mailjobsource", name="server_kind"),
        migrations.RemoveField(model_name="mailjobsource", name="exchange_system"),
        migrations.RemoveField(model_name="mailjobsource", name="shared_mailbox"),
        migrations.RemoveField(model_name="mailjobsource", name="custom_host"),
        migrations.RemoveField(model_name="mailjobsource", name="custom_port"),
        migrations.RemoveField(model_name="mailjobsource", name="custom_security"),
        migrations.RemoveField(model_name="mailjobsource", name="custom_username"),
        migrations.RemoveField(model_name="mailjobsource", name="custom_password"),
        migrations.RemoveField(model_name="mailjobsource", name="last_poll_status"),
        migrations.RemoveField(model_name="mailjobsource", name="last_poll_error"),
        migrations.RemoveField(model_name="mailjobsource", name="fix_url"),
        migrations.RemoveField(model_name="mailjobsource", name="test_status"),
        migrations.RemoveField(model_name="mailjobsource", name="test_steps"),
        migrations.RemoveField(model_name="mailjobsource", name="test_requested_at"),
        migrations.RemoveField(model_name="mailjobsource", name="test_finished_at"),
    ]
