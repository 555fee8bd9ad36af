from django.db import migrations


class Migration(migrations.Migration):
    """AdminNotification moves to the notifications app: it leaves accounts' state only; its table and rows stay,
    and notifications.0001 takes them over."""

    dependencies = [
        ('accounts', '0004_users_cards_groups_aliases_cost_centers'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='AdminNotification')],
            database_operations=[],
        ),
    ]
