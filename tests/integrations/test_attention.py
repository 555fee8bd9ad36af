"""What needs attention: needs consent, a custom app secret expiring within the warning days, a token retrying
for over a day; shown on the integrations pages and the dashboard, emailed once per problem by the daily check."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from credentials.choices import CredentialState
from integrations.choices import ConsentState, DirectoryProof
from integrations.models import AppRegistration, Feature
from integrations.selectors import integration_problems
from integrations.services.attention import integrations_attention_check, tenant_attention_check
from integrations.services.features import feature_enable
from notifications.models import AdminNotification
from tests.factories import CONTOSO, IntegrationFactory, MicrosoftCredentialFactory
from tests.integrations.conftest import CUSTOM_APP, FABRIKAM, consented, feature_of, manual_integration

pytestmark = pytest.mark.django_db


def _expiring(admin: Any, days: int, name: str = "Contoso") -> AppRegistration:
    integration = manual_integration(admin, name=name)
    app = integration.app_registrations.get()
    app.secret_expires_on = timezone.localdate() + timedelta(days=days)
    app.save()
    return app


def _check(tenant: Any, capture: Any) -> list[Any]:
    with capture(execute=True):
        return tenant_attention_check(tenant=tenant, probe=False)


@pytest.mark.parametrize(("days", "warned"), [(31, False), (30, True), (1, True), (0, True), (-3, True)])
def test_secret_expiry_warning_starts_at_the_threshold(admin_a: Any, days: int, warned: bool) -> None:
    _expiring(admin_a, days)
    problems = integration_problems(tenant=admin_a.tenant)
    assert bool(problems) is warned
    if warned:
        (problem,) = problems
        assert problem.health.level == ("error" if days < 0 else "warning")
        assert "Application Secret" in problem.health.reason and "Certificates & secrets" in problem.health.fix


def test_the_threshold_is_configurable(admin_a: Any, settings: Any) -> None:
    settings.INTEGRATIONS_SECRET_EXPIRY_WARNING_DAYS = 10
    _expiring(admin_a, 11)
    assert not integration_problems(tenant=admin_a.tenant)
    _expiring(admin_a, 10, name="Other")
    assert len(integration_problems(tenant=admin_a.tenant)) == 1


def test_one_email_per_problem_and_again_only_after_it_was_fixed(
    admin_a: Any, django_capture_on_commit_callbacks: Any
) -> None:
    app = _expiring(admin_a, 30)
    integration = app.integration
    feature_enable(feature=consented(feature_of(integration, "onedrive")))
    user_sync = feature_of(integration, "user_sync")
    user_sync.enabled = True  # enabled, but its consent is missing
    user_sync.save()

    _check(admin_a.tenant, django_capture_on_commit_callbacks)
    _check(admin_a.tenant, django_capture_on_commit_callbacks)

    assert len(mail.outbox) == 2, [m.subject for m in mail.outbox]
    bodies = " ".join(str(m.body) for m in mail.outbox)
    assert bodies.count("Application Secret expires in 30 day(s)") == 1
    assert bodies.count("User Synchronization is enabled but needs consent") == 1
    assert all(m.to == ["admin@alpha.example"] for m in mail.outbox)

    # Fixed: a new secret with a later date clears the key; the new date is a new problem only when it is near.
    app.secret_expires_on = timezone.localdate() + timedelta(days=365)
    app.save()
    _check(admin_a.tenant, django_capture_on_commit_callbacks)
    assert list(AdminNotification.objects.values_list("key", flat=True)) == [
        f"integrations:feature:{user_sync.pk}:needs_consent"
    ]
    app.secret_expires_on = timezone.localdate() + timedelta(days=5)
    app.save()
    _check(admin_a.tenant, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 3


def test_a_token_retrying_for_over_a_day_needs_attention(admin_a: Any) -> None:
    integration = manual_integration(admin_a)
    onedrive = feature_enable(feature=consented(feature_of(integration, "onedrive")))
    credential = MicrosoftCredentialFactory(
        tenant=admin_a.tenant,
        owner_type="feature",
        owner_id=onedrive.pk,
        client_id=CUSTOM_APP,
        user=admin_a,
        state=CredentialState.RETRYING,
        state_reason="Microsoft is temporarily unavailable.",
        retrying_since=timezone.now() - timedelta(hours=23),
    )
    assert not integration_problems(tenant=admin_a.tenant)

    credential.retrying_since = timezone.now() - timedelta(hours=25)
    credential.save()

    (problem,) = integration_problems(tenant=admin_a.tenant)
    assert problem.key == f"credentials:{credential.pk}:retrying", "the token store's key: told once"
    assert "OneDrive token of admin@alpha.example has been retrying since" in problem.health.reason


def test_an_app_token_needing_consent_marks_its_feature(admin_a: Any) -> None:
    integration = manual_integration(admin_a)
    user_sync = feature_enable(feature=consented(feature_of(integration, "user_sync")))
    reason = "The app has not been granted the permissions it needs (consent is missing or was removed)."
    MicrosoftCredentialFactory(
        tenant=admin_a.tenant,
        owner_type="feature",
        owner_id=user_sync.pk,
        client_id=CUSTOM_APP,
        state=CredentialState.NEEDS_CONSENT,
        state_reason=reason,
        last_error_code=65001,
    )

    problems = tenant_attention_check(tenant=admin_a.tenant, probe=False)

    user_sync.refresh_from_db()
    assert user_sync.consent_state == ConsentState.NEEDS_CONSENT
    assert "(AADSTS65001): its consent in this directory is missing or was removed" in user_sync.consent_reason
    (problem,) = problems
    assert problem.key.startswith("credentials:") and "User Synchronization needs consent" in problem.health.reason


def test_disabled_features_without_consent_need_no_attention(admin_a: Any) -> None:
    manual_integration(admin_a)
    assert integration_problems(tenant=admin_a.tenant) == []


def test_pages_and_dashboard_show_the_problems_of_their_own_tenant_only(
    admin_a: Any, admin_b: Any, admin_a_client: Any, admin_b_client: Any, user_a_client: Any
) -> None:
    app = _expiring(admin_a, 7)
    needle = "the Application Secret expires in 7 day(s)"

    for url in (reverse("integrations:list"), reverse("integrations:detail", args=[app.integration_id]), "/"):
        page = admin_a_client.get(url).content.decode()
        assert needle in page, url
    assert needle not in admin_b_client.get(reverse("integrations:list")).content.decode()
    assert needle not in admin_b_client.get("/").content.decode()
    assert needle not in user_a_client.get("/").content.decode()


def test_the_daily_task_checks_every_tenant(
    admin_a: Any, admin_b: Any, django_capture_on_commit_callbacks: Any
) -> None:
    _expiring(admin_a, 3)
    _expiring(admin_b, 3)
    with django_capture_on_commit_callbacks(execute=False):
        assert integrations_attention_check() == 2
    assert AdminNotification.objects.filter(tenant=admin_a.tenant).count() == 1
    assert AdminNotification.objects.filter(tenant=admin_b.tenant).count() == 1


def test_the_beat_runs_the_task_daily(admin_a: Any, django_capture_on_commit_callbacks: Any) -> None:
    from config.celery import app
    from integrations.tasks import integrations_attention_check as task

    entry = app.conf.beat_schedule["integrations-attention-check"]
    assert entry["task"] == task.name and entry["schedule"].hour == {6}
    _expiring(admin_a, 3)
    with django_capture_on_commit_callbacks(execute=False):
        assert task.apply().get() == 1


def test_the_tenant_wide_problems_are_those_of_each_integration_checked_alone(admin_a: Any) -> None:
    """The tenant's list reads only the integrations that may have a problem (SQL): it misses none of them."""
    tenant = admin_a.tenant
    IntegrationFactory(tenant=tenant, name="Unproven", automatic=True)
    IntegrationFactory(tenant=tenant, name="Proven", automatic=True, proven=True)
    IntegrationFactory(
        tenant=tenant, name="Proven in upper case", automatic=True, proven=True, proven_directory_id=CONTOSO.upper()
    )
    IntegrationFactory(
        tenant=tenant, name="Proven for another", automatic=True, proven=True, proven_directory_id=FABRIKAM
    )
    IntegrationFactory(
        tenant=tenant,
        name="Before the rule",
        automatic=True,
        directory_proof=DirectoryProof.BEFORE_RULE,
        proven_directory_id=CONTOSO,
    )
    IntegrationFactory(tenant=tenant, name="Any organization", automatic=True, directory_id="")
    manual_integration(admin_a, name="Healthy")
    _expiring(admin_a, 30, name="Expiring")
    enabled = manual_integration(admin_a, name="Enabled without consent")
    Feature.objects.filter(integration=enabled, feature_type="user_sync").update(enabled=True)

    def keys(problems: list[Any]) -> set[str]:
        return {problem.key for problem in problems}

    alone = set().union(*(keys(integration_problems(tenant=tenant, integration=i)) for i in tenant.integrations.all()))
    assert keys(integration_problems(tenant=tenant)) == alone
    assert {key.split(":")[-1] for key in alone} >= {"needs_proof", "proven_before_rule", "needs_consent"}
    assert len(alone) == 5, alone  # Unproven, Proven for another, Before the rule, Expiring, Enabled without consent
