"""Integrations that exist at this upgrade keep working: their directory counts as proven before the rule that an
administrator of the directory must sign in (audited; the admins are asked to prove it now)."""

from django.db import migrations
from django.utils import timezone

OPERATOR_APP_KINDS = ("operator_split", "legacy")


def mark_proven_before_rule(apps, schema_editor):
    Integration = apps.get_model("integrations", "Integration")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    now = timezone.now()
    integrations = (
        Integration.objects.exclude(directory_id="")
        .filter(app_registrations__kind__in=OPERATOR_APP_KINDS)
        .distinct()
        .order_by("pk")
    )
    for integration in integrations:
        integration.directory_proof = "before_rule"
        integration.proven_directory_id = integration.directory_id.lower()
        integration.directory_proven_at = now
        integration.save(update_fields=["directory_proof", "proven_directory_id", "directory_proven_at"])
        AuditEvent.objects.create(
            tenant_id=integration.tenant_id,
            actor_label="system",
            action="integration.directory_proven_before_rule",
            target_type="integrations.Integration",
            target_id=str(integration.pk),
            target_label=integration.name[:300],
            details={"directory_id": integration.directory_id, "setup_mode": integration.setup_mode},
            occurred_at=now,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("integrations", "0003_directory_proof"),
    ]

    operations = [migrations.RunPython(mark_proven_before_rule, migrations.RunPython.noop)]
