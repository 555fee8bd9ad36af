# The status's time is when the status began (a second failure in a row keeps the first one's), so a server that
# retries by itself can say since when; the time it had is the best guess of that.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("mail_servers", "0001_initial")]

    operations = [
        migrations.RenameField(model_name="mailserveraccount", old_name="status_at", new_name="status_since"),
        migrations.AlterField(
            model_name="mailserveraccount",
            name="status_since",
            field=models.DateTimeField(blank=True, help_text="Since when the status has been this.", null=True),
        ),
    ]
