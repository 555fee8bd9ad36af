"""The daily check that keeps integrations from lapsing unnoticed.

Each enabled feature's app token is refreshed (so a consent removed in the directory shows up as "needs
consent" before a job fails on it), the features follow their tokens' states, and the tenant's admins are
emailed once per problem; a fixed problem's key is cleared so a recurrence is told again.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from accounts.selectors import tenants_by_ids
from audit.services import audit_record
from credentials.choices import CredentialState
from credentials.selectors import credential_list
from credentials.services import credential_refresh
from integrations.choices import ConsentState
from integrations.models import Feature, Integration
from integrations.selectors import FEATURE_OWNER_TYPE, Problem, integration_problems, notified_problem_keys
from notifications.services import admins_notification_clear, admins_notify
from ui.links import portal_url

if TYPE_CHECKING:
    from accounts.models import Tenant

logger = logging.getLogger(__name__)


def _app_credentials(tenant: Tenant) -> list[tuple[Feature, object]]:
    features = {
        f.pk: f
        for f in Feature.objects.filter(tenant=tenant, enabled=True).select_related("integration", "app_registration")
    }
    credentials = credential_list(owner_type=FEATURE_OWNER_TYPE, tenant=tenant).filter(
        owner_id__in=list(features), user__isnull=True
    )
    return [(features[c.owner_id], c) for c in credentials]


def features_app_tokens_probe(*, tenant: Tenant) -> int:
    """Refresh each enabled feature's app token now; the token store records how it went."""
    probed = 0
    for _feature, credential in _app_credentials(tenant):
        if getattr(credential, "state", None) == CredentialState.ACTIVE:
            credential_refresh(credential_id=credential.pk, force=True)  # type: ignore[attr-defined]
            probed += 1
    return probed


def features_consent_sync(*, tenant: Tenant) -> list[Feature]:
    """Features whose app token stopped for want of consent are marked so (with the token's reason)."""
    marked = []
    for feature, credential in _app_credentials(tenant):
        # An app token has no user to reconnect it: whether Microsoft says consent or "unknown app here" (the
        # enterprise app was removed), the fix is the admin consent that puts the app back into the directory.
        if getattr(credential, "state", None) not in CredentialState.terminal() or not feature.has_consent:
            continue
        with transaction.atomic():
            feature.consent_state = ConsentState.NEEDS_CONSENT
            feature.consent_reason = app_token_refused_reason(feature, getattr(credential, "last_error_code", None))
            feature.consent_error_code = getattr(credential, "last_error_code", None)
            feature.save(update_fields=["consent_state", "consent_reason", "consent_error_code", "updated_at"])
            audit_record(
                tenant=tenant,
                actor=None,
                action="integration.consent_lost",
                target=feature,
                details={"feature": feature.feature_type, "reason": feature.consent_reason},
            )
        marked.append(feature)
    return marked


def app_token_refused_reason(feature: Feature, code: int | None) -> str:
    app = feature.app_registration.display_name
    cause = f" (AADSTS{code})" if code else ""
    return (
        f"Microsoft refused the app token of {app}{cause}: its consent in this directory is missing or was "
        "removed. Use Reapply Consents (or Grant consent) to grant it again."
    )


def _subject(problem: Problem) -> str:
    return f"Integration needs attention: {problem.integration.name}"[:200]


def _body(problem: Problem) -> str:
    health = problem.health
    return f"{health.reason}\n\n{health.fix}\n\nOpen the integration: {portal_url(health.fix_url)}\n"


def problems_notify(*, tenant: Tenant, problems: list[Problem]) -> int:
    """Email the admins once per problem; clear the keys of this module's problems that are fixed."""
    told = sum(admins_notify(tenant=tenant, key=p.key, subject=_subject(p), body=_body(p)) for p in problems)
    current = {p.key for p in problems}
    for key in notified_problem_keys(tenant=tenant):
        if key not in current:
            admins_notification_clear(tenant=tenant, key=key)
    return told


def tenant_attention_check(*, tenant: Tenant, now: datetime | None = None, probe: bool = True) -> list[Problem]:
    if probe:
        features_app_tokens_probe(tenant=tenant)
    features_consent_sync(tenant=tenant)
    problems = integration_problems(tenant=tenant, now=now)
    problems_notify(tenant=tenant, problems=problems)
    return problems


def integrations_attention_check(*, now: datetime | None = None) -> int:
    """Every Roger tenant with integrations (the daily beat task). Returns how many problems were found."""
    now = now or timezone.now()
    found = 0
    tenant_ids = Integration.objects.values_list("tenant_id", flat=True).distinct()
    for tenant in tenants_by_ids(ids=tenant_ids):
        try:
            found += len(tenant_attention_check(tenant=tenant, now=now))
        except Exception:  # one tenant's failure must not keep the others' admins uninformed
            logger.exception("Integrations attention check failed for tenant %s", tenant.pk)
    return found
