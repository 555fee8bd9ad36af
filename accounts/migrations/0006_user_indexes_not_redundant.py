"""Two indexes of accounts_user that no query needs, kept up to date by every insert (a first sync writes 100,000
users): the tenant's own index (every other index but the username's starts with the tenant: the cascade and the
tenant's counts read those) and the LIKE index `unique=True` adds to the username (nothing searches usernames by
prefix; sign-in reads it by equality, which the unique index serves). The username stays unique."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0005_admin_notifications_to_notifications'),
        ('auth', '0012_alter_user_first_name_max_length'),
    ]

    operations = [
        migrations.AlterField(
            model_name='user',
            name='tenant',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='users', to='accounts.tenant'),
        ),
        migrations.AlterField(
            model_name='user',
            name='username',
            field=models.CharField(editable=False, max_length=320),
        ),
        migrations.AddConstraint(
            model_name='user',
            constraint=models.UniqueConstraint(fields=('username',), name='accounts_user_unique_username'),
        ),
    ]
