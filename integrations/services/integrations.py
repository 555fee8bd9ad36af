"""Create, edit and delete Microsoft integrations. Each write is one transaction: nothing is half-saved."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from django.db import transaction

from accounts.services import tenant_lock
from audit.services import audit_record
from integrations.choices import AppKind, ConsentState, SetupMode
from integrations.errors import IntegrationError
from integrations.features import FEATURES
from integrations.legacy.models import LegacySwitch
from integrations.legacy.selectors import is_legacy_app
from integrations.legacy.services.leaving import leaving_legacy_impact, legacy_leave
from integrations.models import AppRegistration, Feature, Integration
from integrations.selectors import feature_connected_user_count, feature_credential_count, manual_app_get
from integrations.services.features import rule_conflict, rule_violation
from integrations.services.tokens import feature_credentials_delete
from integrations.signals import integration_delete_warnings, integration_deleting, sentences
from microsoft import errors as microsoft_errors
from microsoft import identity
from microsoft.config import GRAPH_DEFAULT_SCOPE, AppCredentials

if TYPE_CHECKING:
    from accounts.models import Tenant, User

SELECT_TENANT_FIRST = "Select the tenant first, then grant consent."
DIRECTORY_NEEDED = (
    "Needs the Directory (Tenant) ID: this feature works with one Microsoft organization. Edit the integration "
    "and enter it."
)


@dataclass(frozen=True)
class ManualSetup:
    """What the admin entered in Set up manually. `client_secret` None keeps the stored one."""

    name: str
    directory: str  # a GUID, a domain, or blank
    application_id: str
    client_secret: str | None
    secret_expires_on: date | None


@dataclass(frozen=True)
class CheckedSetup:
    """A manual set-up as checked with Microsoft: the directory resolved to its GUID ("" for none), beside the
    domain the admin typed, if any."""

    setup: ManualSetup
    directory_id: str = ""
    directory_domain: str = ""


@dataclass
class Impact:
    """What a change or a deletion will affect, told to the admin before it happens."""

    enabled_features: list[str] = field(default_factory=list)
    features_losing_consent: list[str] = field(default_factory=list)
    features_disabled: list[str] = field(default_factory=list)
    connections_dropped: int = 0
    users_affected: int = 0
    # Leaving the legacy app: the legacy apps whose stored consents go, each deleted token, and who reconnects.
    leaving_legacy: bool = False
    legacy_apps: list[str] = field(default_factory=list)
    tokens_deleted: list[str] = field(default_factory=list)
    affected_users: list[str] = field(default_factory=list)
    # What other parts of Roger say the change would leave behind (printers that keep sending jobs, ...).
    warnings: list[str] = field(default_factory=list)

    @property
    def needs_confirmation(self) -> bool:
        return bool(
            self.connections_dropped or self.features_disabled or self.features_losing_consent or self.leaving_legacy
        )


@dataclass(frozen=True)
class ManualUpdate:
    """What saving Edit did: the integration as saved and, when the save left the legacy app, the record of what
    that deleted and who must reconnect."""

    integration: Integration
    left_legacy: LegacySwitch | None = None


# --- checking what the admin entered ------------------------------------------------------------------


def _explained(exc: microsoft_errors.MicrosoftError) -> IntegrationError:
    if isinstance(exc, microsoft_errors.TransientError):
        return IntegrationError(f"{exc.explanation} Nothing was saved: try Save again in a minute.", code=exc.code)
    return IntegrationError(exc.message, code=exc.code)


def manual_setup_check(*, setup: ManualSetup, stored_secret: str = "") -> CheckedSetup:
    """Resolve the directory to its GUID and prove the app id and secret work there (one Microsoft call).
    Without a directory nothing can be checked: client credentials need one."""
    directory = setup.directory.strip().lower()
    if not directory:
        return CheckedSetup(setup)
    domain = "" if identity.is_guid(directory) else directory
    secret = setup.client_secret or stored_secret
    try:
        if not is_legacy_app(setup.application_id) and secret:
            # Asking for an app-only token proves the Application ID and secret in that directory; MSAL
            # discovers the directory on the way, and tenant_resolve then reads the same cached document.
            identity.client_credentials_acquire(
                app=AppCredentials(client_id=setup.application_id, client_secret=secret),
                tenant=directory,
                scope=GRAPH_DEFAULT_SCOPE,
            )
        guid = identity.tenant_resolve(directory) if domain else directory
    except microsoft_errors.MicrosoftError as exc:
        raise _explained(exc) from exc
    return CheckedSetup(setup, directory_id=guid, directory_domain=domain)


# --- creating -------------------------------------------------------------------------------------------


def _initial_consent(feature_type: str, directory_id: str, *, automatic: bool) -> tuple[str, str]:
    spec = FEATURES[feature_type]
    if automatic and not directory_id:
        return ConsentState.NOT_GRANTED, SELECT_TENANT_FIRST
    if not directory_id:
        if spec.needs_directory:
            return ConsentState.NOT_GRANTED, DIRECTORY_NEEDED
        return ConsentState.PER_USER, ""
    return ConsentState.NOT_GRANTED, ""


def _feature_create(integration: Integration, app: AppRegistration, feature_type: str) -> Feature:
    state, reason = _initial_consent(feature_type, integration.directory_id, automatic=integration.is_automatic)
    return Feature.objects.create(
        integration=integration,
        app_registration=app,
        tenant=integration.tenant,
        directory_id=integration.directory_id,
        feature_type=feature_type,
        consent_state=state,
        consent_reason=reason,
    )


def _name_free(tenant: Tenant, name: str, exclude_pk: int | None = None) -> None:
    taken = Integration.objects.filter(tenant=tenant, name__iexact=name.strip())
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise IntegrationError(f"An integration named “{name.strip()}” already exists. Choose another name.")


def _integration_new(*, tenant: Tenant, actor: User, name: str, setup_mode: str, **fields: str) -> Integration:
    _name_free(tenant, name)
    return Integration.objects.create(
        tenant=tenant, name=name.strip(), setup_mode=setup_mode, created_by=actor, **fields
    )


def _created(integration: Integration, actor: User, **details: object) -> None:
    audit_record(
        actor=actor,
        action="integration.created",
        target=integration,
        details={"setup_mode": integration.setup_mode, **details},
    )


@transaction.atomic
def integration_create_automatic(*, tenant: Tenant, actor: User, name: str) -> Integration:
    """Split applications: one operator-owned app per feature; the directory comes at Select tenant."""
    integration = _integration_new(tenant=tenant, actor=actor, name=name, setup_mode=SetupMode.AUTOMATIC)
    for feature_type, spec in FEATURES.items():
        app = AppRegistration.objects.create(
            integration=integration, kind=AppKind.OPERATOR_SPLIT, operator_app=spec.operator_app
        )
        _feature_create(integration, app, feature_type)
    _created(integration, actor)
    return integration


def _app_fields(setup: ManualSetup) -> dict[str, object]:
    if is_legacy_app(setup.application_id):
        return {"kind": AppKind.LEGACY, "operator_app": "LEGACY", "customer_client_id": "", "client_secret": ""}
    return {"kind": AppKind.CUSTOMER, "operator_app": "", "customer_client_id": setup.application_id.lower()}


@transaction.atomic
def integration_create_manual(*, tenant: Tenant, actor: User, checked: CheckedSetup) -> Integration:
    """A custom (or the legacy) application for every feature; every feature starts disabled."""
    setup = checked.setup
    integration = _integration_new(
        tenant=tenant,
        actor=actor,
        name=setup.name,
        setup_mode=SetupMode.MANUAL,
        directory_id=checked.directory_id,
        directory_domain=checked.directory_domain,
    )
    app = AppRegistration(integration=integration, secret_expires_on=setup.secret_expires_on, **_app_fields(setup))
    if app.kind == AppKind.CUSTOMER:
        app.client_secret = setup.client_secret or ""
    app.save()
    for feature_type in FEATURES:
        _feature_create(integration, app, feature_type)
    _created(integration, actor, application_id=app.client_id, directory_id=checked.directory_id)
    return integration


# --- editing --------------------------------------------------------------------------------------------


def integration_change_impact(*, integration: Integration, directory_id: str, application_id: str) -> Impact:
    """What saving these values would affect: consent, features that must stop, stored connections."""
    app = manual_app_get(integration)
    features = list(integration.features.all())
    feature_ids = [f.pk for f in features]
    app_changed = application_id.strip().lower() != app.client_id.lower()
    directory_changed = directory_id != integration.directory_id
    impact = Impact(enabled_features=[f.spec.label for f in features if f.enabled])
    if not (app_changed or directory_changed):
        return impact
    if app_changed and app.kind == AppKind.LEGACY and not is_legacy_app(application_id):
        leaving_legacy_impact(integration, impact, features)
        if not directory_id:
            impact.features_disabled = [f.spec.label for f in features if f.enabled and f.spec.needs_directory]
        return impact
    impact.features_losing_consent = [f.spec.label for f in features if f.consent_state == ConsentState.GRANTED]
    if not directory_id:
        impact.features_disabled = [f.spec.label for f in features if f.enabled and f.spec.needs_directory]
    if app_changed:
        impact.connections_dropped = feature_credential_count(tenant=integration.tenant, feature_ids=feature_ids)
    elif directory_id:
        impact.connections_dropped = feature_credential_count(
            tenant=integration.tenant, feature_ids=feature_ids, exclude_directory=directory_id
        )
    if impact.connections_dropped:
        impact.users_affected = feature_connected_user_count(tenant=integration.tenant, feature_ids=feature_ids)
    return impact


def _reset_consent(feature: Feature, reason: str) -> None:
    state, initial_reason = _initial_consent(feature.feature_type, feature.directory_id, automatic=False)
    feature.consent_state = state
    feature.consent_reason = initial_reason or reason
    feature.consent_error_code = None
    feature.granted_delegated = []
    feature.granted_application = []
    feature.consent_granted_at = None
    feature.consent_granted_by = ""
    if feature.enabled and feature.spec.needs_directory and not feature.directory_id:
        feature.enabled = False
        feature.enabled_at = None


def _app_apply(app: AppRegistration, setup: ManualSetup) -> None:
    for name, value in _app_fields(setup).items():
        setattr(app, name, value)
    if app.kind == AppKind.CUSTOMER and setup.client_secret:
        app.client_secret = setup.client_secret
    app.secret_expires_on = setup.secret_expires_on
    app.save()


def _features_rebind(integration: Integration, *, app_changed: bool) -> None:
    """The features follow a new app or directory: their consent starts again, and the stored connections that
    cannot be used any more (all of them for a new app, those of other directories for a new directory) go."""
    directory_id = integration.directory_id
    reason = (
        "The Application ID changed: grant consent to the new application."
        if app_changed
        else "The Directory (Tenant) ID changed: grant consent in that directory."
    )
    for feature in integration.features.select_for_update():
        feature.directory_id = directory_id
        _reset_consent(feature, reason)
        holder = rule_conflict(feature) if feature.enabled else None
        if holder is not None:
            raise rule_violation(feature, holder)
        feature.save()
    feature_credentials_delete(
        tenant=integration.tenant,
        feature_ids=list(integration.features.values_list("pk", flat=True)),
        keep_directory=None if app_changed or not directory_id else directory_id,
    )


@transaction.atomic
def integration_update_manual(*, integration: Integration, actor: User, checked: CheckedSetup) -> ManualUpdate:
    """Save the edited manual setup. `actor` is kept on the switch's row when the edit leaves the legacy app; the
    trail's actor and address are the request context's."""
    setup, directory_id = checked.setup, checked.directory_id
    tenant_lock(pk=integration.tenant_id)
    integration = Integration.objects.select_for_update().get(pk=integration.pk)
    _name_free(integration.tenant, setup.name, exclude_pk=integration.pk)
    app = manual_app_get(integration)
    old_client_id, old_directory = app.client_id.lower(), integration.directory_id
    leaving_legacy = app.kind == AppKind.LEGACY and not is_legacy_app(setup.application_id)
    _app_apply(app, setup)
    switch = legacy_leave(integration=integration, app=app, actor=actor) if leaving_legacy else None
    app_changed, directory_changed = app.client_id.lower() != old_client_id, directory_id != old_directory
    integration.name = setup.name.strip()
    integration.directory_id, integration.directory_domain = directory_id, checked.directory_domain
    integration.save()
    if app_changed or directory_changed:
        _features_rebind(integration, app_changed=app_changed)
    audit_record(
        action="integration.updated",
        target=integration,
        details={
            "application_id": app.client_id,
            "application_changed": app_changed,
            "directory_id": directory_id,
            "directory_changed": directory_changed,
            "secret_changed": bool(setup.client_secret),
            "secret_expires_on": setup.secret_expires_on.isoformat() if setup.secret_expires_on else None,
        },
    )
    return ManualUpdate(integration=integration, left_legacy=switch)


@transaction.atomic
def integration_rename(*, integration: Integration, name: str) -> Integration:
    _name_free(integration.tenant, name, exclude_pk=integration.pk)
    old = integration.name
    integration.name = name.strip()
    integration.save(update_fields=["name", "updated_at"])
    audit_record(
        action="integration.renamed",
        target=integration,
        details={"from": old, "to": integration.name},
    )
    return integration


# --- deleting -------------------------------------------------------------------------------------------


def integration_delete_impact(*, integration: Integration) -> Impact:
    features = list(integration.features.all())
    feature_ids = [f.pk for f in features]
    return Impact(
        enabled_features=[f.spec.label for f in features if f.enabled],
        features_losing_consent=[f.spec.label for f in features if f.consent_state == ConsentState.GRANTED],
        connections_dropped=feature_credential_count(tenant=integration.tenant, feature_ids=feature_ids),
        users_affected=feature_connected_user_count(tenant=integration.tenant, feature_ids=feature_ids),
        warnings=sentences(integration_delete_warnings.send(sender=Integration, integration=integration)),
    )


@transaction.atomic
def integration_delete(*, integration: Integration) -> list[str]:
    """Delete the integration, its features and their stored connections. Consent granted in the Microsoft
    directory stays there (an administrator removes it under Enterprise applications). Returns what other parts
    of Roger said it leaves behind, for the admin."""
    left_behind = sentences(integration_deleting.send(sender=Integration, integration=integration))
    feature_ids = list(integration.features.values_list("pk", flat=True))
    dropped = feature_credentials_delete(tenant=integration.tenant, feature_ids=feature_ids)
    audit_record(
        action="integration.deleted",
        target=integration,
        details={
            "enabled_features": list(integration.features.filter(enabled=True).values_list("feature_type", flat=True)),
            "connections_dropped": dropped,
        },
    )
    integration.features.all().delete()
    integration.delete()
    return left_behind
