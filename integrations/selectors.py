"""Reads, always scoped to the current Roger tenant (another tenant's objects are 404)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import BooleanField, Exists, ExpressionWrapper, F, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import Lower
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format

from credentials.choices import CredentialState
from credentials.selectors import credential_for, credential_list
from health import Health
from integrations.choices import AppKind, ConsentState, DirectoryProof, PermissionStatus, SetupMode
from integrations.errors import IntegrationError
from integrations.features import permission_names
from integrations.models import AppRegistration, Feature, Integration, ReapplyRun
from notifications.selectors import notification_keys
from ui.statements import PageRead

if TYPE_CHECKING:
    from accounts.models import Tenant, User

FEATURE_OWNER_TYPE = "feature"


def integration_list(*, tenant: Tenant) -> QuerySet[Integration]:
    return Integration.objects.filter(tenant=tenant).prefetch_related("features__app_registration", "app_registrations")


def integration_rows(*, tenant: Tenant) -> QuerySet[Integration]:
    """What the Integrations page shows of each integration: its features' badges (type and state), not their apps,
    consents or permissions (three JSON fields a feature, decoded for nothing: a third of the page's CPU)."""
    badges = Feature.objects.only("integration_id", "feature_type", "enabled").order_by("pk")
    return Integration.objects.filter(tenant=tenant).prefetch_related(Prefetch("features", queryset=badges))


def integration_get(*, tenant: Tenant, pk: int) -> Integration:
    return get_object_or_404(Integration, tenant=tenant, pk=pk)


def integration_detail_get(*, tenant: Tenant, pk: int) -> Integration:
    """An integration with what its page reads several times (its problems, its features' rows, Reapply Consents,
    the directory's proof), read once: its app registrations, and its features in order, each with its app as one
    of those objects (a secret is decrypted once, not once a feature)."""
    features = Prefetch("features", queryset=Feature.objects.order_by("pk"))
    integration = get_object_or_404(
        Integration.objects.prefetch_related("app_registrations", features), tenant=tenant, pk=pk
    )
    apps = {app.pk: app for app in integration.app_registrations.all()}
    for feature in integration.features.all():
        app = apps.get(feature.app_registration_id)
        if app is not None:  # always: a feature's app is its integration's
            feature.app_registration = app
    return integration


def manual_app_get(integration: Integration) -> AppRegistration:
    """The application of an integration set up manually (of a legacy one, the LEGACY app: the first)."""
    app = integration.app_registrations.order_by("pk").first()
    if app is None:  # pragma: no cover - every manual integration is created with its app
        raise IntegrationError("This integration has no application. Delete it and set it up again.")
    return app


def features_of_type(*, tenant: Tenant, feature_type: str) -> QuerySet[Feature]:
    """The tenant's features of one type, across its integrations, with what a feature's page shows of each (its
    integration and app): what the feature apps' pages list and their buttons look a feature up in."""
    return Feature.objects.filter(tenant=tenant, feature_type=feature_type).select_related(
        "integration", "app_registration"
    )


def feature_get(*, tenant: Tenant, integration_pk: int, pk: int) -> Feature:
    return get_object_or_404(
        Feature.objects.select_related("integration", "app_registration"),
        tenant=tenant,
        integration_id=integration_pk,
        pk=pk,
    )


@dataclass(frozen=True)
class PermissionRow:
    name: str
    kind: str  # "Delegated" or "Application"
    status: PermissionStatus

    @property
    def granted(self) -> bool:
        return self.status == PermissionStatus.GRANTED


def _application_status(feature: Feature, name: str, seen: set[str], now: datetime) -> PermissionStatus:
    if name.lower() in seen:
        return PermissionStatus.GRANTED
    if feature.roles_unreadable or feature.roles_checked_at is None:
        return PermissionStatus.FIRST_USE
    if feature.roles_recheck_until is not None and now < feature.roles_recheck_until:
        return PermissionStatus.APPEARING
    return PermissionStatus.MISSING


def feature_permissions(feature: Feature, *, now: datetime | None = None) -> list[PermissionRow]:
    """What the feature needs, and what Microsoft showed of each: delegated permissions in a token response's
    `scope`, application permissions in the `roles` of an app token fetched after the consent."""
    now = now or timezone.now()
    refused = permission_names(feature.refused_permissions)
    delegated = permission_names(feature.granted_delegated)
    application = permission_names(feature.granted_application)
    per_user = feature.consent_state == ConsentState.PER_USER

    def status(name: str, kind: str) -> PermissionStatus:
        if not feature.has_consent:
            return PermissionStatus.NEEDED
        if name.lower() in refused:
            return PermissionStatus.MISSING
        if kind == "Application":
            return _application_status(feature, name, application, now)
        return PermissionStatus.GRANTED if per_user or name.lower() in delegated else PermissionStatus.FIRST_USE

    spec = feature.spec
    wanted = [(name, "Delegated") for name in spec.delegated] + [(name, "Application") for name in spec.application]
    return [PermissionRow(name, kind, status(name, kind)) for name, kind in wanted]


def feature_missing_permissions(feature: Feature) -> list[PermissionRow]:
    if not feature.has_consent:
        return []
    return [row for row in feature_permissions(feature) if row.status == PermissionStatus.MISSING]


@dataclass(frozen=True)
class FeatureRow:
    """One feature on its integration's page: each permission as Microsoft showed it, and what waits for the
    directory's proof (only with an operator-owned app: a customer's own app proves itself)."""

    feature: Feature
    permissions: list[PermissionRow]
    missing: list[PermissionRow]
    consent_blocked: bool
    enable_blocked: bool
    consent: Health


def feature_consent_health(feature: Feature) -> Health:
    """A feature's consent in the one health vocabulary (health.Health): granted (or each user consents) works;
    consent missing, removed or failed needs a person, and stops an enabled feature."""
    state, label = feature.consent_state, feature.consent_state.label
    if state == ConsentState.GRANTED:
        granted = feature.consent_granted_at
        when = date_format(timezone.localtime(granted), "j M Y") if granted else ""
        by = f"by {feature.consent_granted_by}, {when}" if when and feature.consent_granted_by else ""
        return Health.ok(label, by)
    if state == ConsentState.PER_USER:
        return Health.ok(label, feature.consent_reason or "Without a directory, each user consents at sign-in.")
    # Reapply Consents covers the enabled features; for the others the row's own Grant consent is the way.
    fix = "Grant consent again, or use Reapply Consents." if feature.enabled else ""
    if state == ConsentState.ERROR:
        return Health.needs_action(label, reason=feature.consent_reason, fix=fix)
    reason = feature.consent_reason or "No administrator of the directory has granted consent yet."
    return Health.needs_action(label, reason=reason, fix=fix, still_works=not feature.enabled)


def feature_rows(integration: Integration) -> list[FeatureRow]:
    """The rows of an integration's page, of the features integration_detail_get read with their apps."""
    rows = []
    for feature in integration.features.all():
        operator_owned = feature.app_registration.is_operator_owned
        rows.append(
            FeatureRow(
                feature=feature,
                permissions=feature_permissions(feature),
                missing=feature_missing_permissions(feature),
                consent_blocked=operator_owned and not integration.directory_proven_by_sign_in,
                enable_blocked=operator_owned and integration.needs_directory_proof,
                consent=feature_consent_health(feature),
            )
        )
    return rows


def feature_credential_count(*, tenant: Tenant, feature_ids: list[int], exclude_directory: str | None = None) -> int:
    """How many stored Microsoft connections (token store) the features own, optionally only those bound to
    another directory than `exclude_directory`."""
    credentials = credential_list(owner_type=FEATURE_OWNER_TYPE, tenant=tenant).filter(owner_id__in=feature_ids)
    if exclude_directory is not None:
        credentials = credentials.exclude(directory_id__iexact=exclude_directory)
    return credentials.count()


def feature_connected_user_count(*, tenant: Tenant, feature_ids: list[int]) -> int:
    return (
        credential_list(owner_type=FEATURE_OWNER_TYPE, tenant=tenant)
        .filter(owner_id__in=feature_ids, user__isnull=False)
        .values("user")
        .distinct()
        .count()
    )


# --- what needs attention ------------------------------------------------------------------------------------

RETRYING_WARN_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Problem:
    """One thing that keeps an integration from working, or soon will, as its `health`. `key` identifies it for
    the once-per-problem email (the token store's own key where the problem is a credential's, so it is told
    once)."""

    key: str
    integration: Integration
    health: Health


def _fix(
    integration: Integration,
    label: str,
    text: str,
    fix: str,
    *,
    still_works: bool = False,
    deadline: date | None = None,
) -> Health:
    return Health.needs_action(
        label,
        reason=text,
        fix=fix,
        fix_url=reverse("integrations:detail", args=[integration.pk]),
        fix_label="Open the integration",
        still_works=still_works,
        deadline=deadline,
    )


def _consent_problems(integration: Integration, credentials: dict[int, Any]) -> list[Problem]:
    problems = []
    for feature in integration.features.all():
        if not feature.enabled:
            continue
        label = f"{integration.name}: {feature.spec.label}"
        credential = credentials.get(feature.pk)
        if credential is not None and credential.state in CredentialState.terminal():
            problems.append(
                Problem(
                    key=f"credentials:{credential.pk}:{credential.state}",
                    integration=integration,
                    health=_fix(
                        integration,
                        "Needs consent",
                        f"{label} needs consent: Microsoft refused its app token{_code(credential)}.",
                        "Open the integration and use Reapply Consents.",
                    ),
                )
            )
        elif not feature.has_consent:
            problems.append(
                Problem(
                    key=f"integrations:feature:{feature.pk}:needs_consent",
                    integration=integration,
                    health=_fix(
                        integration,
                        "Needs consent",
                        f"{label} is enabled but needs consent. {feature.consent_reason}".strip(),
                        "Open the integration and use Reapply Consents (or Grant consent on the feature).",
                    ),
                )
            )
    return problems


def _proof_problems(integration: Integration) -> list[Problem]:
    if integration.proven_before_rule:
        return [
            Problem(
                key=f"integrations:integration:{integration.pk}:proven_before_rule",
                integration=integration,
                health=_fix(
                    integration,
                    "Directory not proven",
                    f"{integration.name}: the Microsoft directory was connected before Roger asked for proof that it "
                    "is yours. It keeps working; a new consent needs the proof.",
                    "Open the integration, click Prove now and sign in with an administrator of the directory.",
                    still_works=True,
                ),
            )
        ]
    if integration.needs_directory_proof:
        return [
            Problem(
                key=f"integrations:integration:{integration.pk}:needs_proof",
                integration=integration,
                health=_fix(
                    integration,
                    "Directory not proven",
                    f"{integration.name}: the Microsoft directory is not proven yet, so no feature can get consent.",
                    "Open the integration, click Prove directory and sign in with an administrator of the directory.",
                    still_works=True,
                ),
            )
        ]
    return []


def _code(credential: Any) -> str:
    return f" (AADSTS{credential.last_error_code})" if credential.last_error_code else ""


def _secret_problems(integration: Integration, today: date, warn_days: int) -> list[Problem]:
    problems = []
    for app in integration.app_registrations.all():
        expires = app.secret_expires_on
        if app.kind != AppKind.CUSTOMER or expires is None or expires > today + timedelta(days=warn_days):
            continue
        days = (expires - today).days
        when = "has expired" if days < 0 else ("expires today" if days == 0 else f"expires in {days} day(s)")
        problems.append(
            Problem(
                key=f"integrations:app:{app.pk}:secret_expires:{expires.isoformat()}",
                integration=integration,
                health=_fix(
                    integration,
                    "Secret expired" if days < 0 else "Secret expires",
                    f"{integration.name}: the Application Secret {when} ({expires:%d %b %Y}).",
                    "Create a new client secret in the Azure portal (App registrations > the app > Certificates & "
                    "secrets), then Edit the integration and enter it with its expiration date.",
                    deadline=expires,
                ),
            )
        )
    return problems


def _retrying_problems(integration: Integration, credentials: list[Any], now: datetime) -> list[Problem]:
    problems = []
    labels = {f.pk: f.spec.label for f in integration.features.all()}
    for credential in credentials:
        since = credential.retrying_since
        if credential.state != CredentialState.RETRYING or since is None or now - since < RETRYING_WARN_AFTER:
            continue
        whose = f" of {credential.user.email}" if credential.user_id else ""
        problems.append(
            Problem(
                key=f"credentials:{credential.pk}:{CredentialState.RETRYING}",
                integration=integration,
                health=replace(
                    Health.retrying(
                        cause=(
                            f"{integration.name}: a {labels[credential.owner_id]} token{whose} has been retrying "
                            f"since {since:%d %b %Y %H:%M} UTC. {credential.state_reason}"
                        ).strip(),
                        since=since,
                        next_try=credential.next_attempt_at,
                    ),
                    fix="If Microsoft is not down, check the application and its consent.",
                    fix_url=reverse("integrations:detail", args=[integration.pk]),
                    fix_label="Open the integration",
                ),
            )
        )
    return problems


def _may_need_attention(*, tenant: Tenant, expires_by: date, retrying_before: datetime) -> Q:
    """The integrations that may have a problem below, in SQL: at least those that do (the functions below
    decide), so that the dashboard and the Integrations page build objects for these few, not for every
    integration of a tenant with a thousand."""
    features = Feature.objects.filter(integration=OuterRef("pk"))
    feature_credentials = credential_list(owner_type=FEATURE_OWNER_TYPE, tenant=tenant)
    operator_app = Q(setup_mode=SetupMode.AUTOMATIC) | Exists(
        AppRegistration.objects.filter(integration=OuterRef("pk"), kind__in=[AppKind.OPERATOR_SPLIT, AppKind.LEGACY])
    )
    proof = (
        ~Q(directory_id="")
        & operator_app
        & (
            Q(directory_proof__in=[DirectoryProof.NONE, DirectoryProof.BEFORE_RULE])
            | ~Q(proven_lower=F("directory_lower"))
        )
    )
    enabled = features.filter(enabled=True)
    refused = feature_credentials.filter(user__isnull=True, state__in=CredentialState.terminal())
    consent = Exists(enabled.exclude(consent_state__in=[ConsentState.GRANTED, ConsentState.PER_USER])) | Exists(
        enabled.filter(pk__in=refused.values("owner_id"))
    )
    secret = Exists(
        AppRegistration.objects.filter(
            integration=OuterRef("pk"), kind=AppKind.CUSTOMER, secret_expires_on__lte=expires_by
        )
    )
    retrying = feature_credentials.filter(state=CredentialState.RETRYING, retrying_since__lte=retrying_before).values(
        "owner_id"
    )
    return proof | consent | secret | Exists(features.filter(pk__in=retrying))


def _attention_candidates(*, tenant: Tenant, expires_by: date, retrying_before: datetime) -> QuerySet[Integration]:
    candidates = Integration.objects.filter(tenant=tenant).alias(
        proven_lower=Lower("proven_directory_id"), directory_lower=Lower("directory_id")
    )
    return candidates.filter(_may_need_attention(tenant=tenant, expires_by=expires_by, retrying_before=retrying_before))


# Built once (ui.statements): building and compiling its five EXISTS took ~5 ms of CPU a view of the dashboard and
# of the Integrations page, running it 0.3 ms.
_ATTENTION_CANDIDATES = PageRead(_attention_candidates)


def integration_problems(
    *, tenant: Tenant, integration: Integration | None = None, now: datetime | None = None
) -> list[Problem]:
    """What needs attention in this Roger tenant's integrations (or one of them)."""

    now = now or timezone.now()
    warn_days = int(settings.INTEGRATIONS_SECRET_EXPIRY_WARNING_DAYS)
    if integration is not None:
        integrations = [integration]
    else:
        integrations = _ATTENTION_CANDIDATES.rows(
            prefetch=("features__app_registration", "app_registrations"),
            tenant=tenant,
            expires_by=timezone.localdate(now) + timedelta(days=warn_days),
            retrying_before=now - RETRYING_WARN_AFTER,
        )
        if not integrations:  # the usual answer: skip building the token queries (a dashboard view's CPU)
            return []
    # One query for 1 or 1,000 integrations: the features' app tokens, and the tokens retrying long enough to
    # tell (users' own ones included: only those, never every user's connection).
    feature_ids = [f.pk for each in integrations for f in each.features.all()]
    long_retrying = ExpressionWrapper(
        Q(state=CredentialState.RETRYING, retrying_since__lte=now - RETRYING_WARN_AFTER), output_field=BooleanField()
    )
    credentials = (
        credential_list(owner_type=FEATURE_OWNER_TYPE, tenant=tenant)
        .filter(owner_id__in=feature_ids)
        .annotate(long_retrying=long_retrying)
        .filter(Q(user__isnull=True) | Q(long_retrying=True))
        .select_related("user")
    )
    app_credentials: dict[int, Any] = {}
    retrying: dict[int, list[Any]] = {}
    for credential in credentials:
        if credential.user_id is None:
            app_credentials[credential.owner_id] = credential
        if credential.long_retrying:
            retrying.setdefault(credential.owner_id, []).append(credential)
    problems: list[Problem] = []
    for each in integrations:
        own = [c for f in each.features.all() for c in retrying.get(f.pk, [])]
        problems += _proof_problems(each)
        problems += _consent_problems(each, app_credentials)
        problems += _secret_problems(each, timezone.localdate(now), warn_days)
        problems += _retrying_problems(each, own, now)
    return problems


def notified_problem_keys(*, tenant: Tenant) -> list[str]:
    """The keys of this module's own problems the admins were told about (the token store keeps its own)."""
    return notification_keys(tenant=tenant, prefix="integrations:")


@dataclass(frozen=True)
class UserConnection:
    feature: Feature
    credential: Any  # the user's MicrosoftCredential, or None when not connected


def user_connections(*, user: User) -> list[UserConnection]:
    """The enabled features a user connects their own account to (OneDrive), with their stored connection."""
    tenant = user.tenant
    if tenant is None:  # every feature belongs to a tenant
        return []
    features = Feature.objects.filter(tenant=tenant, enabled=True).select_related("integration", "app_registration")
    connections = []
    for feature in features.order_by("pk"):
        if feature.feature_type != "onedrive":
            continue
        credential = credential_for(tenant=tenant, owner_type=FEATURE_OWNER_TYPE, owner_id=feature.pk, user=user)
        connections.append(UserConnection(feature=feature, credential=credential))
    return connections


def user_feature_get(*, user: User, pk: int) -> Feature:
    return get_object_or_404(
        Feature.objects.select_related("integration", "app_registration"),
        tenant=user.tenant,
        pk=pk,
        enabled=True,
        feature_type="onedrive",
    )


def reapply_run_get(*, tenant: Tenant, integration_pk: int, pk: int) -> Any:
    return get_object_or_404(
        ReapplyRun.objects.select_related("integration"), tenant=tenant, integration_id=integration_pk, pk=pk
    )
