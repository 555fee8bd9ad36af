import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("mail_jobs", "0004_polls_are_claimed"),
        ("mail_servers", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="mailjobsource",
            name="mail_server",
            field=models.OneToOneField(
                null=True,
                on_delete=django.db.models.deletion.RESTRICT,
                related_name="+",
                to="mail_servers.mailserveraccount",
            ),
        ),
    ]
