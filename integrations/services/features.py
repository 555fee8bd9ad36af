"""Enable and disable features under the rule: per Roger tenant and Microsoft directory, at most one enabled
feature of each type. An integration without a directory counts as every directory."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.services import tenant_lock
from audit.services import audit_record
from integrations.errors import ConsentMissing, IntegrationError, RuleViolation
from integrations.models import Feature
from integrations.services.directory_proof import enable_proof_check
from integrations.signals import feature_disabled, feature_enabled, sentences


def rule_conflict(feature: Feature) -> Feature | None:
    """This tenant's enabled feature of the same type that shares a directory with `feature`, if any."""
    others = Feature.objects.filter(
        tenant_id=feature.tenant_id, feature_type=feature.feature_type, enabled=True
    ).exclude(pk=feature.pk)
    if feature.directory_id:
        others = others.filter(Q(directory_id=feature.directory_id) | Q(directory_id=""))
    return others.select_related("integration").order_by("pk").first()


def rule_violation(feature: Feature, holder: Feature) -> RuleViolation:
    label = feature.spec.label
    if feature.directory_id and holder.directory_id:
        scope = "this Microsoft directory"
    else:
        scope = "this Microsoft directory (an integration without a Directory (Tenant) ID counts as every directory)"
    return RuleViolation(
        f"{label} is already enabled for {scope} in the integration “{holder.integration.name}”. "
        f"Each Microsoft directory can have only one enabled {label} feature: disable it in "
        f"“{holder.integration.name}” first, then enable it here."
    )


def feature_enable_check(feature: Feature) -> None:
    """Why the feature cannot be enabled yet (raises), apart from the rule."""
    integration = feature.integration
    if integration.awaits_tenant_selection:
        raise IntegrationError("Select the tenant first: sign in with an administrator of the Microsoft directory.")
    if feature.spec.needs_directory and not integration.directory_id:
        raise IntegrationError(
            f"{feature.spec.label} works with one Microsoft organization, so it needs the Directory (Tenant) ID. "
            "Edit the integration, enter the Directory (Tenant) ID, then enable it."
        )
    enable_proof_check(feature)
    if not feature.has_consent:
        raise ConsentMissing(feature)


def feature_enable(*, feature: Feature) -> Feature:
    feature_enable_check(feature)
    try:
        with transaction.atomic():
            # Serialises enables per Roger tenant: the partial unique index cannot see "no directory".
            tenant_lock(pk=feature.tenant_id)
            feature = Feature.objects.select_for_update().select_related("integration").get(pk=feature.pk)
            if feature.enabled:
                return feature
            holder = rule_conflict(feature)
            if holder is not None:
                raise rule_violation(feature, holder)
            feature.enabled = True
            feature.enabled_at = timezone.now()
            feature.save(update_fields=["enabled", "enabled_at", "updated_at"])
            audit_record(
                tenant=feature.integration.tenant,
                action="integration.feature_enabled",
                target=feature,
                details={"feature": feature.feature_type, "directory_id": feature.directory_id},
            )
            feature_enabled.send(sender=Feature, feature=feature)
    except IntegrityError as exc:  # the database's own guard, should the lock ever be bypassed
        raise RuleViolation(
            f"{feature.spec.label} is already enabled for this Microsoft directory in another integration. "
            "Disable it there first, then enable it here."
        ) from exc
    return feature


def feature_disable(*, feature: Feature) -> list[str]:
    """Disable the feature; its consent and stored connections stay, so enabling again needs nothing more.
    Returns what other parts of Roger said about it (what the feature leaves behind), for the admin."""
    with transaction.atomic():
        feature = Feature.objects.select_for_update().select_related("integration").get(pk=feature.pk)
        if not feature.enabled:
            return []
        feature.enabled = False
        feature.enabled_at = None
        feature.save(update_fields=["enabled", "enabled_at", "updated_at"])
        audit_record(
            tenant=feature.integration.tenant,
            action="integration.feature_disabled",
            target=feature,
            details={"feature": feature.feature_type},
        )
        return sentences(feature_disabled.send(sender=Feature, feature=feature))
