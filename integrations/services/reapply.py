"""Reapply Consents: re-run consent for every enabled feature of an integration.

A custom (or legacy single) app needs one admin consent; split applications need the admin consent of each
feature's app, one after another, the admin returning to the integration page in between. Each consent that
comes back records its result per feature, and the consent answer itself clears the needs-consent states
(feature and token store) it fixes. The operator's non-interactive variant re-acquires the app tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from integrations.binding import FlowStart
from integrations.choices import ConsentState
from integrations.errors import IntegrationError
from integrations.models import AppRegistration, AuthorizationFlow, Feature, Integration, ReapplyRun
from integrations.services.consent import consent_start
from integrations.services.directory_proof import proof_missing_message
from integrations.services.flows import FlowOutcome
from integrations.services.tokens import (
    feature_app_token_acquire,
    feature_app_tokens_save,
    feature_user_tokens_retry,
)
from microsoft import errors as microsoft_errors

if TYPE_CHECKING:
    from accounts.models import User

NO_DIRECTORY = (
    "This integration has no Directory (Tenant) ID, so there is no admin consent to reapply: each user consents "
    "when they sign in. Edit the integration and enter the Directory (Tenant) ID to use admin consent."
)


def _enabled_features(integration: Integration) -> list[Feature]:
    return list(integration.features.filter(enabled=True).select_related("app_registration").order_by("pk"))


def reapply_apps(integration: Integration, features: Iterable[Feature] | None = None) -> list[AppRegistration]:
    """The apps to consent to, once each, in the order of their enabled features. `features`: the integration's
    features with their apps when the caller has them (its page), else they are read here."""
    if features is None:
        features = _enabled_features(integration)
    apps: dict[int, AppRegistration] = {}
    for feature in sorted(features, key=attrgetter("pk")):
        if feature.enabled:
            apps.setdefault(feature.app_registration_id, feature.app_registration)
    return list(apps.values())


def reapply_check(integration: Integration) -> None:
    if integration.awaits_tenant_selection:
        raise IntegrationError("Select the tenant first: there is no Microsoft directory to consent in yet.")
    if not integration.directory_id:
        raise IntegrationError(NO_DIRECTORY)
    if not reapply_apps(integration):
        raise IntegrationError("No feature is enabled, so there is no consent to reapply. Enable a feature first.")


@transaction.atomic
def reapply_start(*, integration: Integration, admin: User) -> ReapplyRun:
    reapply_check(integration)
    if integration.uses_operator_app and not integration.directory_proven_by_sign_in:
        raise IntegrationError(proof_missing_message(integration))
    now = timezone.now()
    ReapplyRun.objects.filter(integration=integration, finished_at__isnull=True).update(finished_at=now, stopped=True)
    apps = reapply_apps(integration)
    run = ReapplyRun.objects.create(
        integration=integration, tenant=integration.tenant, admin=admin, app_ids=[app.pk for app in apps]
    )
    audit_record(
        actor=admin,
        action="integration.consents_reapply_started",
        target=integration,
        details={"apps": [app.client_id for app in apps], "run": run.pk},
    )
    return run


def reapply_next_feature(run: ReapplyRun, features: Iterable[Feature] | None = None) -> Feature | None:
    """The enabled feature whose app comes next (its consent covers every feature on that app), else the first
    on that app. `features`: the integration's features with their apps when the caller has them."""
    app_id = run.next_app_id
    if app_id is None or not run.is_open:
        return None
    if features is None:
        features = run.integration.features.filter(app_registration_id=app_id).select_related("app_registration")
    on_app = sorted((f for f in features if f.app_registration_id == app_id), key=attrgetter("pk"))
    return next((f for f in on_app if f.enabled), on_app[0] if on_app else None)


def reapply_next_start(*, run: ReapplyRun, admin: User) -> FlowStart:
    """Where the admin grants the next consent of the run."""
    feature = reapply_next_feature(run)
    if feature is None:
        raise IntegrationError("This Reapply Consents has finished. Start it again to repeat it.")
    return consent_start(feature=feature, admin=admin, reapply_run=run)


def reapply_step_record(*, flow: AuthorizationFlow, outcome: FlowOutcome) -> FlowOutcome:
    """Record one consent's result for each enabled feature on its app and move the run on."""
    feature = flow.feature
    assert feature is not None and flow.reapply_run_id is not None
    with transaction.atomic():
        run = ReapplyRun.objects.select_for_update().select_related("integration").get(pk=flow.reapply_run_id)
        if not run.is_open or run.next_app_id != feature.app_registration_id:
            return outcome  # a stale step (the run was stopped or restarted): the consent itself still counts
        for each in _step_features(run, feature.app_registration_id):
            run.results.append(_result(each, outcome))
        run.position += 1
        if run.next_app_id is None:
            run.finished_at = timezone.now()
            audit_record(
                tenant=run.tenant,
                actor=flow.admin,
                action="integration.consents_reapplied",
                target=run.integration,
                details={"run": run.pk, "results": run.results},
            )
        run.save(update_fields=["results", "position", "finished_at"])
    return _step_outcome(run, outcome)


def _step_features(run: ReapplyRun, app_id: int) -> list[Feature]:
    features = list(run.integration.features.filter(app_registration_id=app_id, enabled=True).order_by("pk"))
    return features or list(run.integration.features.filter(app_registration_id=app_id).order_by("pk")[:1])


def _result(feature: Feature, outcome: FlowOutcome) -> dict[str, object]:
    feature.refresh_from_db()
    ok = not outcome.error and feature.consent_state == ConsentState.GRANTED
    message = "Consent granted" if ok else (outcome.error or feature.consent_reason or "Consent was not granted")
    return {"feature": feature.feature_type, "label": feature.spec.label, "ok": ok, "message": message}


def _step_outcome(run: ReapplyRun, outcome: FlowOutcome) -> FlowOutcome:
    failed = [r["label"] for r in run.results[-_last_step_size(run) :] if not r["ok"]]
    progress = f"Reapply Consents: {run.position} of {run.total} done."
    if run.finished_at is not None:
        progress = "Reapply Consents finished: see the result of each feature below."
    if failed:
        return FlowOutcome(
            integration=run.integration, feature=outcome.feature, error=f"{progress} {outcome.error or ''}".strip()
        )
    return FlowOutcome(integration=run.integration, feature=outcome.feature, notice=progress)


def _last_step_size(run: ReapplyRun) -> int:
    app_id = int(run.app_ids[run.position - 1])
    return len(_step_features(run, app_id))


@transaction.atomic
def reapply_stop(*, run: ReapplyRun, admin: User) -> ReapplyRun:
    run = ReapplyRun.objects.select_for_update().get(pk=run.pk)
    if run.is_open:
        run.finished_at, run.stopped = timezone.now(), True
        run.save(update_fields=["finished_at", "stopped"])
        audit_record(
            tenant=run.tenant,
            actor=admin,
            action="integration.consents_reapply_stopped",
            target=run.integration,
            details={"run": run.pk, "position": run.position, "total": run.total},
        )
    return run


def reapply_latest(integration: Integration) -> ReapplyRun | None:
    return ReapplyRun.objects.filter(integration=integration).order_by("-created_at", "-pk").first()


# --- the operator's variant: no browser, so re-acquire what can be acquired -----------------------------------


@dataclass(frozen=True)
class RecheckResult:
    feature: str
    ok: bool
    message: str


def _recheck_app(app: AppRegistration, features: list[Feature], actor: User | None) -> list[RecheckResult]:
    directory = features[0].integration.directory_id
    try:
        grant = feature_app_token_acquire(app=app, directory_id=directory)
    except microsoft_errors.MicrosoftError as exc:
        consent_missing = isinstance(exc, microsoft_errors.ReconsentRequired)
        if consent_missing:
            for feature in features:
                feature.consent_state, feature.consent_reason = ConsentState.NEEDS_CONSENT, exc.message
                feature.consent_error_code = exc.code
                feature.save(update_fields=["consent_state", "consent_reason", "consent_error_code", "updated_at"])
        return [RecheckResult(f.spec.label, False, exc.message) for f in features]
    feature_app_tokens_save(features=features, grant=grant, actor=actor)
    for feature in features:
        if feature.consent_state in (ConsentState.NEEDS_CONSENT, ConsentState.ERROR):
            feature.consent_state, feature.consent_reason, feature.consent_error_code = ConsentState.GRANTED, "", None
            feature.save(update_fields=["consent_state", "consent_reason", "consent_error_code", "updated_at"])
    return [RecheckResult(f.spec.label, True, "App token acquired: consent is in place") for f in features]


def integration_consents_recheck(*, integration: Integration, actor: User | None) -> list[RecheckResult]:
    """Re-acquire the app tokens of the enabled features (proving their consent) and retry users' tokens that
    waited for consent. Marks features whose consent is missing; granting it needs the customer's admin."""
    reapply_check(integration)
    if integration.needs_directory_proof:
        raise IntegrationError(proof_missing_message(integration))
    features = _enabled_features(integration)
    results: list[RecheckResult] = []
    for app in reapply_apps(integration, features):
        app_features = [f for f in features if f.app_registration_id == app.pk and f.spec.application]
        if app_features:
            results += _recheck_app(app, app_features, actor)
    queued = feature_user_tokens_retry(features=features, actor=actor)
    for feature in features:
        if not feature.spec.application:
            note = f"{queued} user token(s) queued for refresh" if queued else "Each user's token is used as is"
            results.append(RecheckResult(feature.spec.label, True, note))
    audit_record(
        actor=actor,
        action="integration.consents_rechecked",
        target=integration,
        details={"results": [r.__dict__ for r in results]},
    )
    return results
