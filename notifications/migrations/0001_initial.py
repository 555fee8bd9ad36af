import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    """AdminNotification, moved from accounts with its rows: the model takes over accounts' table, then the table and
    its constraint get this app's names."""

    initial = True

    dependencies = [
        ('accounts', '0005_admin_notifications_to_notifications'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='AdminNotification',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('key', models.CharField(help_text='Identifies the problem, e.g. credential:12:needs_consent.', max_length=200)),
                        ('subject', models.CharField(max_length=200)),
                        ('body', models.TextField()),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('sent_at', models.DateTimeField(blank=True, null=True)),
                        ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='admin_notifications', to='accounts.tenant')),
                    ],
                    options={
                        'ordering': ['-created_at'],
                        'db_table': 'accounts_adminnotification',
                        'constraints': [models.UniqueConstraint(fields=('tenant', 'key'), name='accounts_notification_once_per_key')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name='AdminNotification', table=None),
        migrations.RemoveConstraint(model_name='adminnotification', name='accounts_notification_once_per_key'),
        migrations.AddConstraint(
            model_name='adminnotification',
            constraint=models.UniqueConstraint(fields=('tenant', 'key'), name='notifications_once_per_key'),
        ),
    ]
