"""Accounts set up before integrations existed: their settings become one integration with two app registrations.

Entra ID User Synchronization runs on the operator's LEGACY_USER_SYNC app; OneDrive, SharePoint, Universal
Print, sign-in and email scopes on the LEGACY app. The migration carries the enabled states over and moves the
stored tokens (the credential rows themselves) to the new features. It is idempotent: what was migrated is
not migrated again, and a dry run computes the same plan without writing anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import Tenant, User
from audit.services import audit_record
from credentials.models import MicrosoftCredential
from credentials.services import credential_delete
from integrations.choices import AppKind, ConsentState, FeatureType, SetupMode
from integrations.features import FEATURES
from integrations.legacy.models import (
    LegacyCloudServicesSettings,
    LegacySettingsRow,
    LegacyUniversalPrintSettings,
    LegacyUserSyncSettings,
)
from integrations.legacy.owner_types import LEGACY_OWNER_TYPES
from integrations.models import AppRegistration, Feature, Integration
from integrations.selectors import FEATURE_OWNER_TYPE
from integrations.services.directory_proof import proof_before_rule_record
from integrations.services.features import rule_conflict
from integrations.services.integrations import DIRECTORY_NEEDED

LEGACY_NAME = "Microsoft 365 (legacy)"
# The LEGACY app serves every feature but User Synchronization.
FEATURE_APP = {
    FeatureType.LOGIN: "LEGACY",
    FeatureType.USER_SYNC: "LEGACY_USER_SYNC",
    FeatureType.UNIVERSAL_PRINT: "LEGACY",
    FeatureType.ONEDRIVE: "LEGACY",
}
GRANTED_BEFORE = "an administrator, before integrations"
CONSENT_NOT_RECORDED = (
    "Consent was not recorded before integrations. Use Reapply Consents to grant it again in the Microsoft directory."
)


@dataclass
class LegacySettings:
    user_sync: LegacyUserSyncSettings | None
    universal_print: LegacyUniversalPrintSettings | None
    cloud_services: LegacyCloudServicesSettings | None

    @property
    def exists(self) -> bool:
        return any((self.user_sync, self.universal_print, self.cloud_services))

    def rows(self) -> list[LegacySettingsRow]:
        return [row for row in (self.user_sync, self.universal_print, self.cloud_services) if row is not None]


@dataclass(frozen=True)
class FeaturePlan:
    feature_type: str
    enabled: bool
    consent_state: str
    consent_reason: str
    note: str = ""
    granted_at: datetime | None = None  # when the consent was recorded before integrations


@dataclass(frozen=True)
class CredentialMove:
    credential_id: int
    feature_type: str
    who: str  # the user's email, or "the app" for app-only tokens


@dataclass
class MigrationPlan:
    """Every decision of one tenant's migration, computed before anything is written."""

    tenant: Tenant
    integration: Integration | None = None  # the legacy integration when it exists already
    name: str = LEGACY_NAME
    directory_id: str = ""
    features: list[FeaturePlan] = field(default_factory=list)
    moves: list[CredentialMove] = field(default_factory=list)
    # Per-user tokens bound to another directory than the integration's: deleted, the user reconnects.
    drops: list[CredentialMove] = field(default_factory=list)
    refused: str = ""

    @property
    def creates(self) -> bool:
        return not self.refused and bool(self.features)  # features are planned only for a new integration

    @property
    def has_work(self) -> bool:
        return self.creates or bool(self.moves or self.drops)

    def lines(self) -> list[str]:
        head = f"{self.tenant.name}:"
        if self.refused:
            return [f"{head} skipped: {self.refused}"]
        if not self.has_work:
            return [f"{head} nothing to do (already migrated)" if self.integration else f"{head} no legacy settings"]
        lines = [head]
        if self.creates:
            lines.append(f"  create integration “{self.name}” (directory {self.directory_id or 'any organization'})")
            lines.append("  app registrations: Roger User Synchronization (legacy) for User Synchronization; ")
            lines[-1] += "Roger (legacy) for Login, Universal Print, OneDrive and SharePoint, and email"
            for plan in self.features:
                state = "enabled" if plan.enabled else "disabled"
                lines.append(f"  {FEATURES[plan.feature_type].label}: {state}, {plan.consent_state}" + _note(plan.note))
        for move in self.moves:
            lines.append(f"  move token of {move.who} to {FEATURES[move.feature_type].label}")
        for drop in self.drops:
            lines.append(f"  delete token of {drop.who} (another Microsoft directory): they reconnect")
        return lines


def _note(note: str) -> str:
    return f" ({note})" if note else ""


# --- reading the legacy settings -------------------------------------------------------------------------


def legacy_settings(*, tenant: Tenant) -> LegacySettings:
    return LegacySettings(
        user_sync=LegacyUserSyncSettings.objects.filter(tenant=tenant).first(),
        universal_print=LegacyUniversalPrintSettings.objects.filter(tenant=tenant).first(),
        cloud_services=LegacyCloudServicesSettings.objects.filter(tenant=tenant).first(),
    )


def legacy_tenants() -> list[Tenant]:
    """Every Roger tenant with settings from before integrations."""
    ids: set[int] = set()
    for model in (LegacyUserSyncSettings, LegacyUniversalPrintSettings, LegacyCloudServicesSettings):
        ids.update(model.objects.values_list("tenant_id", flat=True))
    return list(Tenant.objects.filter(pk__in=ids).order_by("name"))


def legacy_credentials(*, tenant: Tenant, legacy: LegacySettings) -> list[tuple[MicrosoftCredential, str]]:
    """The tokens still held by the legacy settings, with the feature type each goes to."""
    owners = [
        ("legacy_user_sync", legacy.user_sync),
        ("legacy_universal_print", legacy.universal_print),
        ("legacy_cloud_storage", legacy.cloud_services),
    ]
    found: list[tuple[MicrosoftCredential, str]] = []
    for owner_type, row in owners:
        if row is None:
            continue
        rows = MicrosoftCredential.objects.filter(tenant=tenant, owner_type=owner_type, owner_id=row.pk)
        feature_type = LEGACY_OWNER_TYPES[owner_type].feature_type
        found += [(credential, feature_type) for credential in rows.select_related("user")]
    return found


# --- the plan --------------------------------------------------------------------------------------------


def _directory(legacy: LegacySettings) -> tuple[str, str]:
    """The one directory of the legacy settings, or a reason the migration cannot choose one."""
    directories = {row.directory_id.lower() for row in legacy.rows() if row.directory_id}
    if len(directories) > 1:
        listed = ", ".join(sorted(directories))
        return "", (
            f"the legacy settings name different Microsoft directories ({listed}); an integration has one. "
            "Make them agree (Django admin), then run the migration again."
        )
    return (directories.pop() if directories else ""), ""


def _feature_plan(feature_type: str, enabled: bool, consented: datetime | None, directory_id: str) -> FeaturePlan:
    spec = FEATURES[feature_type]
    if spec.needs_directory and not directory_id:
        note = "disabled: it needs a Directory (Tenant) ID" if enabled else ""
        return FeaturePlan(feature_type, False, ConsentState.NOT_GRANTED, DIRECTORY_NEEDED, note)
    if not directory_id:
        return FeaturePlan(feature_type, enabled, ConsentState.PER_USER, "")
    if consented:
        return FeaturePlan(feature_type, enabled, ConsentState.GRANTED, "", granted_at=consented)
    reason = CONSENT_NOT_RECORDED if enabled else ""
    return FeaturePlan(
        feature_type, enabled, ConsentState.NEEDS_CONSENT if enabled else ConsentState.NOT_GRANTED, reason
    )


def _features(legacy: LegacySettings, directory_id: str) -> list[FeaturePlan]:
    us, up, cs = legacy.user_sync, legacy.universal_print, legacy.cloud_services
    wanted: dict[str, tuple[bool, datetime | None]] = {
        FeatureType.LOGIN: (False, None),
        FeatureType.USER_SYNC: (bool(us and us.enabled), us.admin_consent_granted_at if us else None),
        FeatureType.UNIVERSAL_PRINT: (bool(up and up.enabled), up.admin_consent_granted_at if up else None),
        FeatureType.ONEDRIVE: (bool(cs and cs.enabled), cs.admin_consent_granted_at if cs else None),
    }
    return [_feature_plan(ft, enabled, consented, directory_id) for ft, (enabled, consented) in wanted.items()]


def _free_name(tenant: Tenant) -> str:
    taken = {name.lower() for name in Integration.objects.filter(tenant=tenant).values_list("name", flat=True)}
    name, number = LEGACY_NAME, 2
    while name.lower() in taken:
        name, number = f"{LEGACY_NAME} {number}", number + 1
    return name


def _moves(plan: MigrationPlan, credentials: list[tuple[MicrosoftCredential, str]]) -> None:
    for credential, feature_type in credentials:
        who = credential.user.email if credential.user else "the app"
        move = CredentialMove(credential.pk, feature_type, who)
        other_directory = plan.directory_id and credential.directory_id.lower() != plan.directory_id
        (plan.drops if other_directory and credential.user_id else plan.moves).append(move)


def legacy_migration_plan(*, tenant: Tenant) -> MigrationPlan:
    """What migrating this tenant would do. Reads only."""
    plan = MigrationPlan(tenant=tenant, integration=Integration.objects.filter(tenant=tenant, is_legacy=True).first())
    legacy = legacy_settings(tenant=tenant)
    if not legacy.exists:
        return plan
    if plan.integration is not None:
        plan.directory_id = plan.integration.directory_id
    else:
        plan.directory_id, plan.refused = _directory(legacy)
        if plan.refused:
            return plan
        plan.name = _free_name(tenant)
        plan.features = _features(legacy, plan.directory_id)
    _moves(plan, legacy_credentials(tenant=tenant, legacy=legacy))
    return plan


# --- applying it -------------------------------------------------------------------------------------------


def _create_integration(plan: MigrationPlan, actor: User | None) -> tuple[Integration, list[str]]:
    integration = Integration.objects.create(
        tenant=plan.tenant,
        name=plan.name,
        setup_mode=SetupMode.MANUAL,
        directory_id=plan.directory_id,
        is_legacy=True,
        created_by=actor,
    )
    # The LEGACY app first: it is the integration's Application ID (pre-filled in Edit).
    apps = {
        name: AppRegistration.objects.create(integration=integration, kind=AppKind.LEGACY, operator_app=name)
        for name in ("LEGACY", "LEGACY_USER_SYNC")
    }
    notes = []
    for feature_plan in plan.features:
        feature = Feature.objects.create(
            integration=integration,
            app_registration=apps[FEATURE_APP[FeatureType(feature_plan.feature_type)]],
            tenant=plan.tenant,
            directory_id=plan.directory_id,
            feature_type=feature_plan.feature_type,
            consent_state=feature_plan.consent_state,
            consent_reason=feature_plan.consent_reason,
            granted_delegated=list(feature_plan_granted(feature_plan, delegated=True)),
            granted_application=list(feature_plan_granted(feature_plan, delegated=False)),
            consent_granted_at=feature_plan.granted_at,
            consent_granted_by=GRANTED_BEFORE if feature_plan.granted_at else "",
        )
        if feature_plan.enabled:
            notes += _enable_carried(feature)
    # Its directory was connected by an administrator before Roger asked for proof: it keeps working.
    proof_before_rule_record(integration=integration, actor=actor)
    return integration, notes


def feature_plan_granted(plan: FeaturePlan, *, delegated: bool) -> tuple[str, ...]:
    if plan.consent_state != ConsentState.GRANTED:
        return ()
    spec = FEATURES[plan.feature_type]
    return spec.delegated if delegated else spec.application


def _enable_carried(feature: Feature) -> list[str]:
    """Carry an enabled state over, unless another integration already has that feature for the directory."""
    holder = rule_conflict(feature)
    if holder is not None:
        return [f"{feature.spec.label} left disabled: already enabled in “{holder.integration.name}”"]
    feature.enabled, feature.enabled_at = True, timezone.now()
    feature.save(update_fields=["enabled", "enabled_at", "updated_at"])
    return []


def _drop(credential_ids: list[int], tenant: Tenant, actor: User | None) -> list[int]:
    user_ids = []
    for credential in MicrosoftCredential.objects.filter(pk__in=credential_ids, tenant=tenant).select_related("user"):
        credential_delete(
            tenant=tenant,
            owner_type=credential.owner_type,
            owner_id=credential.owner_id,
            user=credential.user,
            actor=actor,
        )
        if credential.user_id:
            user_ids.append(credential.user_id)
    return user_ids


def _adopt(plan: MigrationPlan, integration: Integration, actor: User | None) -> int:
    features = {f.feature_type: f for f in integration.features.all()}
    moved = 0
    for move in plan.moves:
        feature = features[move.feature_type]
        credential = MicrosoftCredential.objects.select_related("user").get(pk=move.credential_id)
        taken = MicrosoftCredential.objects.filter(
            owner_type=FEATURE_OWNER_TYPE, owner_id=feature.pk, user=credential.user
        ).exists()
        if taken:  # the user already connected through the new feature: the old token is not needed
            _drop([credential.pk], plan.tenant, actor)
            continue
        moved += credentials_adopt(credentials=[credential], feature=feature, actor=actor)
    return moved


def credentials_adopt(*, credentials: Iterable[MicrosoftCredential], feature: Feature, actor: User | None) -> int:
    """Hand stored credentials over to `feature`: the rows change owner, their tokens never leave the row."""
    moved = 0
    for credential in credentials:
        previous = {"owner_type": credential.owner_type, "owner_id": credential.owner_id}
        MicrosoftCredential.objects.filter(pk=credential.pk).update(owner_type=FEATURE_OWNER_TYPE, owner_id=feature.pk)
        audit_record(
            tenant=feature.tenant,
            actor=actor,
            action="credential.adopted",
            target=credential,
            details={
                "from": previous,
                "to": {"owner_type": FEATURE_OWNER_TYPE, "owner_id": feature.pk},
                "user_id": credential.user_id,
                "directory_id": credential.directory_id,
                "client_id": credential.client_id,
            },
        )
        moved += 1
    return moved


def legacy_migrate(*, tenant: Tenant, actor: User | None = None, dry_run: bool = False) -> MigrationPlan:
    """Migrate one tenant's legacy settings (or, with `dry_run`, only say what would be done)."""
    if dry_run:
        return legacy_migration_plan(tenant=tenant)
    with transaction.atomic():
        Tenant.objects.select_for_update().get(pk=tenant.pk)  # one migration per tenant at a time
        plan = legacy_migration_plan(tenant=tenant)
        if not plan.has_work:
            return plan
        notes: list[str] = []
        integration = plan.integration
        if integration is None:
            integration, notes = _create_integration(plan, actor)
        moved = _adopt(plan, integration, actor)
        dropped_users = _drop([d.credential_id for d in plan.drops], tenant, actor)
        User.objects.filter(pk__in=dropped_users).update(microsoft_reconnect_required=True)
        now = timezone.now()
        for row in legacy_settings(tenant=tenant).rows():
            if row.migrated_at is None:
                row.migrated_at = now
                row.save(update_fields=["migrated_at"])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="integration.legacy_migrated",
            target=integration,
            details={
                "created": plan.creates,
                "directory_id": integration.directory_id,
                "enabled": sorted(integration.features.filter(enabled=True).values_list("feature_type", flat=True)),
                "tokens_moved": moved,
                "tokens_deleted": len(plan.drops),
                "notes": notes,
            },
        )
    plan.integration = integration
    return plan
