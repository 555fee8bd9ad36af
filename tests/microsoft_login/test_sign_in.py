"""Login with Microsoft against the emulator's real pages: who gets in, who does not (and is told why, and it is in
the audit trail), registration, personal accounts, the lockout's abuse limit, linking in My Settings."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from accounts.choices import Role, UserSource
from accounts.models import User
from audit.models import AuditEvent
from integrations.choices import FlowKind
from integrations.models import AuthorizationFlow
from microsoft_login.models import LoginSettings
from tests.microsoft_login.conftest import (
    ADELE,
    ADELE_ID,
    ALEX,
    CONTOSO,
    CONTOSO_ADMIN,
    CONTOSO_ADMIN_ID,
    FABRIKAM,
    MEGAN,
    MEGAN_ID,
    PERSONAL,
    PERSONAL_ACCOUNT,
    PERSONAL_ID,
    linked,
    login_feature,
    microsoft_sign_in,
    microsoft_start,
    signed_in_as,
)
from tests.security.conftest import MicrosoftPageError, at_microsoft, page_text, post_sign_in_answer

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]


def refusals(tenant) -> list[str]:
    return [
        event.details["reason"]
        for event in AuditEvent.objects.filter(tenant=tenant, action="user.microsoft_sign_in_refused").order_by("pk")
    ]


def test_a_synced_user_signs_in_on_a_fresh_session_and_it_is_audited(m365, client, admin_a):
    feature = login_feature(admin_a)
    adele = linked(admin_a.tenant, ADELE[0], ADELE_ID, source=UserSource.SYNCED)
    session = client.session
    session["before"] = "kept?"
    session.save()
    before = session.session_key

    final = microsoft_sign_in(m365, client, feature, ADELE)

    assert final.redirect_chain[-1][0] == reverse("dashboard") and "Welcome" in page_text(final)
    assert signed_in_as(client) == adele.pk
    assert client.session.session_key != before
    event = AuditEvent.objects.get(tenant=admin_a.tenant, action="user.signed_in")
    assert event.details["with"] == "microsoft" and event.ip_address == "127.0.0.1"
    flow = AuthorizationFlow.objects.get(kind=FlowKind.MICROSOFT_SIGN_IN)
    assert flow.admin_id is None and flow.answer == "" and flow.msal_flow == ""  # nothing of the sign-in is kept


def test_the_role_comes_from_roger_not_from_the_token(m365, client, admin_a):
    """Contoso's Global Administrator is a plain user in Roger: the token's admin role changes nothing."""
    feature = login_feature(admin_a)
    person = linked(admin_a.tenant, CONTOSO_ADMIN[0], CONTOSO_ADMIN_ID, role=Role.USER)
    microsoft_sign_in(m365, client, feature, CONTOSO_ADMIN)
    assert signed_in_as(client) == person.pk
    assert client.get(reverse("integrations:list")).status_code == 403
    User.objects.filter(pk=person.pk).update(role=Role.ADMIN)
    assert client.get(reverse("integrations:list")).status_code == 200


def test_an_unknown_user_is_refused_then_registered_once_the_tenant_allows_it(m365, client, admin_a):
    feature = login_feature(admin_a)
    refused = microsoft_sign_in(m365, client, feature, ALEX)
    assert refused.status_code == 403 and signed_in_as(client) is None
    assert "Roger has no user with the Microsoft account alex.wilber@contoso.onmicrosoft.com" in page_text(refused)
    assert refusals(admin_a.tenant) == ["unknown_user"]

    LoginSettings.objects.create(tenant=admin_a.tenant, allow_registration=True)
    microsoft_sign_in(m365, client, feature, ALEX)
    alex = User.objects.get(tenant=admin_a.tenant, email=ALEX[0])
    assert signed_in_as(client) == alex.pk and alex.role == Role.USER and not alex.has_usable_password()
    assert (alex.directory_tenant_id, alex.directory_object_id) == (CONTOSO, "a1b2c3d4-0003-4000-8000-00000000c003")
    assert AuditEvent.objects.filter(tenant=admin_a.tenant, action="user.registered").count() == 1


def test_registration_never_takes_over_an_address_another_user_has(m365, client, admin_a):
    feature = login_feature(admin_a)
    LoginSettings.objects.create(tenant=admin_a.tenant, allow_registration=True)
    local = linked(admin_a.tenant, ALEX[0], "", directory_id="")
    final = microsoft_sign_in(m365, client, feature, ALEX)
    assert signed_in_as(client) is None and "already exists" in page_text(final)
    local.refresh_from_db()
    assert local.directory_object_id == ""


def test_a_deactivated_user_is_refused(m365, client, admin_a):
    feature = login_feature(admin_a)
    linked(admin_a.tenant, ADELE[0], ADELE_ID, is_active=False)
    final = microsoft_sign_in(m365, client, feature, ADELE)
    assert signed_in_as(client) is None and "is deactivated" in page_text(final)
    assert refusals(admin_a.tenant) == ["deactivated"]


def test_a_user_of_another_directory_is_refused_with_the_explanation(m365, client, admin_a):
    feature = login_feature(admin_a)
    linked(admin_a.tenant, MEGAN[0], MEGAN_ID, directory_id=FABRIKAM)  # even linked: not this integration's directory
    final = microsoft_sign_in(m365, client, feature, MEGAN)
    text = page_text(final)
    assert signed_in_as(client) is None
    assert "belongs to another organisation" in text and "AADSTS50020" in text
    assert refusals(admin_a.tenant) == ["other_directory"]


def test_a_cancelled_sign_in_says_so(m365, client, admin_a):
    feature = login_feature(admin_a)
    linked(admin_a.tenant, ADELE[0], ADELE_ID)
    final = microsoft_sign_in(m365, client, feature, ADELE, accept=False)  # declines the consent Microsoft asks for
    assert signed_in_as(client) is None and "was cancelled" in page_text(final)
    assert refusals(admin_a.tenant) == ["cancelled"]


def test_personal_accounts_never_sign_in_with_a_directory_on_the_integration(m365, client, admin_a):
    feature = login_feature(admin_a)
    linked(admin_a.tenant, PERSONAL_ACCOUNT[0], PERSONAL_ID, directory_id=PERSONAL)
    LoginSettings.objects.create(tenant=admin_a.tenant, allow_personal_accounts=True, allow_registration=True)
    start = microsoft_start(client, "alpha", feature)
    with pytest.raises(MicrosoftPageError, match="AADSTS50020"):  # Microsoft itself refuses: organisations only
        at_microsoft(m365, start["Location"], PERSONAL_ACCOUNT)
    assert signed_in_as(client) is None


def test_personal_accounts_without_a_directory_need_their_own_setting(m365, client, admin_a):
    feature = login_feature(admin_a, directory_id="")
    person = linked(admin_a.tenant, PERSONAL_ACCOUNT[0], PERSONAL_ID, directory_id=PERSONAL)
    start = microsoft_start(client, "alpha", feature)
    with pytest.raises(MicrosoftPageError, match="AADSTS50020"):
        at_microsoft(m365, start["Location"], PERSONAL_ACCOUNT)

    LoginSettings.objects.create(tenant=admin_a.tenant, allow_personal_accounts=True)
    microsoft_sign_in(m365, client, feature, PERSONAL_ACCOUNT)
    assert signed_in_as(client) == person.pk


def test_without_a_directory_linked_users_of_any_organisation_sign_in_and_registration_needs_the_list(
    m365, client, admin_a
):
    feature = login_feature(admin_a, directory_id="")
    adele = linked(admin_a.tenant, ADELE[0], ADELE_ID)
    microsoft_sign_in(m365, client, feature, ADELE)
    assert signed_in_as(client) == adele.pk
    client.post(reverse("accounts:logout"))

    settings = LoginSettings.objects.create(tenant=admin_a.tenant, allow_registration=True)
    final = microsoft_sign_in(m365, client, feature, MEGAN)
    assert signed_in_as(client) is None and "Roger has no user" in page_text(final)
    settings.registration_directory_ids = [FABRIKAM]
    settings.save()
    microsoft_sign_in(m365, client, feature, MEGAN)
    megan = User.objects.get(tenant=admin_a.tenant, email=MEGAN[0])
    assert signed_in_as(client) == megan.pk and megan.directory_object_id == MEGAN_ID


def test_sign_in_starts_are_limited_per_client(m365, client, admin_a, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "microsoft_sign_in.client": "3/15m"}
    feature = login_feature(admin_a)
    for _ in range(3):
        assert microsoft_start(client, "alpha", feature).status_code == 302
    throttled = microsoft_start(client, "alpha", feature)
    assert throttled.status_code == 303 and "Retry-After" in throttled
    assert AuthorizationFlow.objects.filter(kind=FlowKind.MICROSOFT_SIGN_IN).count() == 3


def test_a_user_links_their_microsoft_account_in_my_settings_then_signs_in_with_it(
    m365, client, user_a_client, admin_a, user_a
):
    feature = login_feature(admin_a)
    page = user_a_client.get(reverse("microsoft_login:account"))
    assert "Link my Microsoft account" in page_text(page)
    start = user_a_client.post(reverse("microsoft_login:link", args=[feature.pk]))
    answer = at_microsoft(m365, start["Location"], ADELE)
    final = post_sign_in_answer(user_a_client, answer)
    assert "is linked" in page_text(final)
    user_a.refresh_from_db()
    assert (user_a.directory_tenant_id, user_a.directory_object_id) == (CONTOSO, ADELE_ID)
    link = AuditEvent.objects.get(tenant=admin_a.tenant, action="user.identity_linked")
    assert link.actor == user_a and link.ip_address == "127.0.0.1"

    microsoft_sign_in(m365, client, feature, ADELE)
    assert signed_in_as(client) == user_a.pk


def test_an_identity_linked_to_someone_else_is_not_linked_again(m365, user_a_client, admin_a, user_a):
    feature = login_feature(admin_a)
    linked(admin_a.tenant, ADELE[0], ADELE_ID)
    start = user_a_client.post(reverse("microsoft_login:link", args=[feature.pk]))
    final = post_sign_in_answer(user_a_client, at_microsoft(m365, start["Location"], ADELE))
    assert "already linked to another Roger user" in page_text(final)
    user_a.refresh_from_db()
    assert user_a.directory_object_id == ""


def test_login_without_consent_in_the_directory_is_explained_with_the_admins_consent_link(client, admin_a, m365):
    """Microsoft answers AADSTS65001 when the Login app has no consent where the person signs in."""
    feature = login_feature(admin_a)
    start = microsoft_start(client, "alpha", feature)
    answer = {
        "state": parse_qs(urlsplit(start["Location"]).query)["state"][0],
        "error": "invalid_client",
        "error_description": "AADSTS65001: The user or administrator has not consented to use the application.",
    }
    final = post_sign_in_answer(client, answer)
    text = page_text(final)
    assert signed_in_as(client) is None and "has not allowed Roger to sign people in yet" in text
    assert reverse("integrations:detail", args=[feature.integration_id]) in text
    assert refusals(admin_a.tenant) == ["not_consented"]


def test_refused_sign_ins_count_towards_the_clients_sign_in_lockout(m365, client, admin_a, settings, password):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 2
    feature = login_feature(admin_a)
    for _ in range(2):
        microsoft_sign_in(m365, client, feature, ALEX)  # nobody in Roger has Alex's account
    assert refusals(admin_a.tenant) == ["unknown_user", "unknown_user"]
    locked = microsoft_start(client, "alpha", feature)
    assert locked.status_code == 303
    assert "too many that failed" in page_text(client.get(locked.url))
    password_page = client.post(
        reverse("accounts:login"),
        {"tenancy_name": "alpha", "email": admin_a.email, "password": password},
    )
    assert "Too many failed sign-ins" in page_text(password_page)  # one lockout, whichever way


def test_the_page_asked_for_before_signing_in_is_where_a_microsoft_sign_in_ends(m365, client, admin_a):
    feature = login_feature(admin_a)
    adele = linked(admin_a.tenant, ADELE[0], ADELE_ID)
    tenant_page = client.get(reverse("accounts:login_tenancy", args=["alpha"]) + "?next=/jobs/")
    assert reverse("microsoft_login:start") + "?next=/jobs/" in page_text(tenant_page)
    start = client.post(
        reverse("microsoft_login:start") + "?next=/jobs/", {"tenancy_name": "alpha", "feature": feature.pk}
    )
    final = post_sign_in_answer(client, at_microsoft(m365, start["Location"], ADELE))
    assert final.redirect_chain[-1][0] == "/jobs/" and signed_in_as(client) == adele.pk
    elsewhere = client.post(
        reverse("microsoft_login:start") + "?next=https://evil.example/",
        {"tenancy_name": "alpha", "feature": feature.pk},
    )
    assert "microsoft_sign_in_next" not in client.session and elsewhere.status_code == 302


def test_login_turned_off_during_a_sign_in_lets_nobody_in(m365, client, admin_a):
    feature = login_feature(admin_a)
    linked(admin_a.tenant, ADELE[0], ADELE_ID)
    start = microsoft_start(client, "alpha", feature)
    answer = at_microsoft(m365, start["Location"], ADELE)
    feature.enabled = False
    feature.save()
    final = post_sign_in_answer(client, answer)
    assert signed_in_as(client) is None and "was turned off" in page_text(final)
    assert refusals(admin_a.tenant) == ["unavailable"]
