"""Every integrations view: the admin's own objects work, another Roger tenant gets 404, a plain user 403."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from integrations import binding
from integrations.choices import FlowKind
from integrations.models import AuthorizationFlow, Integration
from integrations.services.integrations import integration_create_automatic
from tests.factories import AuthorizationFlowFactory, IntegrationFactory, MicrosoftCredentialFactory
from tests.integrations.conftest import consented, feature_of

pytestmark = pytest.mark.django_db

TENANT_PAGES = [
    "integrations:list",
    "integrations:add",
    "integrations:add_microsoft",
    "integrations:add_automatic",
    "integrations:add_manual",
    "integrations:guide",
]
OBJECT_GETS = ["integrations:detail", "integrations:edit", "integrations:delete"]
OBJECT_POSTS = ["integrations:select_tenant", "integrations:prove_directory", "integrations:delete"]
FEATURE_POSTS = ["integrations:feature_enable", "integrations:feature_disable", "integrations:feature_consent"]


@pytest.mark.parametrize("name", TENANT_PAGES)
def test_admin_opens_the_pages(admin_a_client, name):
    assert admin_a_client.get(reverse(name)).status_code == 200


@pytest.mark.parametrize("name", [n for n in TENANT_PAGES if n != "integrations:guide"])
def test_plain_user_gets_403(user_a_client, name):
    assert user_a_client.get(reverse(name)).status_code == 403


@pytest.mark.parametrize("name", OBJECT_GETS)
def test_own_object_pages_open(admin_a_client, contoso_a, name):
    assert admin_a_client.get(reverse(name, args=[contoso_a.pk])).status_code == 200


@pytest.mark.parametrize("name", OBJECT_GETS)
def test_other_tenant_gets_404_on_object_pages(admin_b_client, contoso_a, name):
    assert admin_b_client.get(reverse(name, args=[contoso_a.pk])).status_code == 404


@pytest.mark.parametrize("name", OBJECT_POSTS)
def test_other_tenant_gets_404_on_object_actions(admin_b_client, contoso_a, name):
    assert admin_b_client.post(reverse(name, args=[contoso_a.pk])).status_code == 404
    assert Integration.objects.filter(pk=contoso_a.pk).exists()


@pytest.mark.parametrize("name", FEATURE_POSTS)
def test_other_tenant_gets_404_on_feature_actions(admin_b_client, contoso_a, name):
    feature = consented(feature_of(contoso_a, "onedrive"))
    assert admin_b_client.post(reverse(name, args=[contoso_a.pk, feature.pk])).status_code == 404
    feature.refresh_from_db()
    assert not feature.enabled


@pytest.mark.parametrize("name", FEATURE_POSTS)
def test_feature_of_another_integration_path_is_404(admin_a_client, admin_a, contoso_a, name):
    other = integration_create_automatic(tenant=admin_a.tenant, actor=admin_a, name="Other")
    feature = feature_of(other, "onedrive")
    assert admin_a_client.post(reverse(name, args=[contoso_a.pk, feature.pk])).status_code == 404


def test_list_shows_only_own_integrations(admin_a_client, admin_a, admin_b):
    integration_create_automatic(tenant=admin_a.tenant, actor=admin_a, name="Alpha M365")
    integration_create_automatic(tenant=admin_b.tenant, actor=admin_b, name="Bravo M365")
    page = admin_a_client.get(reverse("integrations:list")).content.decode()
    assert "Alpha M365" in page and "Bravo M365" not in page


def test_add_provider_offers_microsoft_and_shows_others_as_coming_later(admin_a_client):
    page = admin_a_client.get(reverse("integrations:add")).content.decode()
    assert reverse("integrations:add_microsoft") in page
    assert 'aria-disabled="true"' in page and "Coming later" in page


def test_automatic_save_creates_four_disabled_features_with_operator_app_names(admin_a_client, settings):
    response = admin_a_client.post(reverse("integrations:add_automatic"), {"name": "Contoso"})
    integration = Integration.objects.get(name="Contoso")
    assert response.status_code == 302
    assert sorted(integration.features.values_list("feature_type", flat=True)) == [
        "login",
        "onedrive",
        "universal_print",
        "user_sync",
    ]
    assert not integration.features.filter(enabled=True).exists()
    page = admin_a_client.get(response.url).content.decode()
    assert "Select tenant" in page
    assert settings.MICROSOFT_APPS["ONEDRIVE"]["display_name"] in page
    assert AuditEvent.objects.filter(action="integration.created", target_id=str(integration.pk)).exists()


def test_delete_says_what_it_affects_then_deletes(admin_a_client, admin_a, contoso_a):
    from integrations.services.features import feature_enable

    onedrive = consented(feature_of(contoso_a, "onedrive"))
    feature_enable(feature=onedrive)
    MicrosoftCredentialFactory(tenant=admin_a.tenant, owner_id=onedrive.pk, user=admin_a)
    page = admin_a_client.get(reverse("integrations:delete", args=[contoso_a.pk])).content.decode()
    assert "Enabled features: OneDrive" in page
    response = admin_a_client.post(reverse("integrations:delete", args=[contoso_a.pk]), REMOTE_ADDR="203.0.113.8")
    assert response.status_code == 302 and not Integration.objects.filter(pk=contoso_a.pk).exists()
    events = AuditEvent.objects.filter(action__in=["integration.deleted", "credential.deleted"])
    assert sorted((e.action, e.actor, e.ip_address) for e in events) == [
        ("credential.deleted", admin_a, "203.0.113.8"),
        ("integration.deleted", admin_a, "203.0.113.8"),
    ], "the page's user and address, from the request context"


def test_enable_shows_the_rule_error_naming_this_tenants_integration(admin_a_client, admin_a, contoso_a):
    from integrations.services.features import feature_enable
    from tests.integrations.conftest import manual_integration

    feature_enable(feature=consented(feature_of(contoso_a, "login")))
    spare = manual_integration(admin_a, name="Spare")
    feature = consented(feature_of(spare, "login"))
    response = admin_a_client.post(reverse("integrations:feature_enable", args=[spare.pk, feature.pk]), follow=True)
    page = response.content.decode()
    assert "Login is already enabled for this Microsoft directory in the integration “Contoso”" in page


def test_enabling_a_feature_on_the_page_audits_the_pages_admin(admin_a_client, admin_a, contoso_a):
    feature = consented(feature_of(contoso_a, "onedrive"))
    admin_a_client.post(reverse("integrations:feature_enable", args=[contoso_a.pk, feature.pk]))
    event = AuditEvent.objects.get(action="integration.feature_enabled")
    assert (event.actor, event.target_id) == (admin_a, str(feature.pk)), "the page's user, from the request context"


# --- callbacks: forged, replayed, foreign, expired state -----------------------------------------------


def _flow(admin, integration, *, browser=None, **extra):
    """A consent flow of User Synchronization as its start leaves it; `browser` gets its binding cookie (the
    browser that started it)."""
    key, key_hash = binding.key_new()
    extra.setdefault("feature", feature_of(integration, "user_sync"))
    flow = AuthorizationFlowFactory(admin=admin, integration=integration, browser_key_hash=key_hash, **extra)
    if browser is not None:
        browser.cookies[binding.cookie_name(flow.state)] = key
    return flow


def _consent_answer(client, state):
    params = {
        "admin_consent": "True",
        "tenant": "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
        "state": state,
        "scope": "https://graph.microsoft.com/.default",
    }
    return client.get(reverse("integration_callbacks:consent"), params, follow=True).content.decode()


def test_forged_consent_state_changes_nothing(admin_a_client, admin_a, contoso_a):
    _flow(admin_a, contoso_a, browser=admin_a_client)
    page = _consent_answer(admin_a_client, "forged-state")
    assert "does not belong to any request started in this portal" in page
    assert feature_of(contoso_a, "user_sync").consent_state == "not_granted"


def test_foreign_consent_state_changes_nothing(admin_a_client, admin_a, contoso_a, tenant_a):
    from tests.factories import AdminFactory

    colleague = AdminFactory(tenant=tenant_a, email="colleague@alpha.example")
    flow = _flow(colleague, contoso_a, browser=admin_a_client)  # a shared computer: the colleague's browser
    page = _consent_answer(admin_a_client, flow.state)
    assert "started by someone else" in page
    assert feature_of(contoso_a, "user_sync").consent_state == "not_granted"


def test_another_tenants_state_is_refused_without_saying_whose_it_is(admin_b_client, admin_a, contoso_a):
    flow = _flow(admin_a, contoso_a)
    page = _consent_answer(admin_b_client, flow.state)
    assert "not started in this browser" in page and "Contoso" not in page
    assert feature_of(contoso_a, "user_sync").consent_state == "not_granted"


def test_replayed_and_expired_consent_states_change_nothing(admin_a_client, admin_a, contoso_a):
    used = _flow(admin_a, contoso_a, state="u" * 43, finished_at=timezone.now(), browser=admin_a_client)
    assert "already used" in _consent_answer(admin_a_client, used.state)
    expired = _flow(
        admin_a, contoso_a, state="e" * 43, expires_at=timezone.now() - timedelta(seconds=1), browser=admin_a_client
    )
    assert "expired" in _consent_answer(admin_a_client, expired.state)
    assert feature_of(contoso_a, "user_sync").consent_state == "not_granted"


def test_sign_in_callback_with_unknown_state_changes_nothing(admin_a_client, admin_a):
    integration = integration_create_automatic(tenant=admin_a.tenant, actor=admin_a, name="Auto")
    response = admin_a_client.post(reverse("integration_callbacks:select_tenant"), {"state": "forged", "code": "x"})
    page = admin_a_client.get(response.url, follow=True).content.decode()
    assert "does not belong to any request" in page
    integration.refresh_from_db()
    assert integration.directory_id == ""


def test_consent_granted_in_another_directory_is_refused_with_the_fix(admin_a_client, admin_a, contoso_a):
    flow = _flow(admin_a, contoso_a, browser=admin_a_client)
    params = {"admin_consent": "True", "tenant": "9e8d7c6b-5a49-4382-a716-f5e4d3c2b1a0", "state": flow.state}
    page = admin_a_client.get(reverse("integration_callbacks:consent"), params, follow=True).content.decode()
    assert "granted in another Microsoft directory" in page and "administrator of the connected directory" in page
    assert feature_of(contoso_a, "user_sync").consent_state == "not_granted"


def test_a_sign_in_back_in_its_browser_but_signed_out_asks_to_sign_in_and_keeps_the_flow(client, admin_a):
    integration = integration_create_automatic(tenant=admin_a.tenant, actor=admin_a, name="Auto")
    flow = _flow(admin_a, integration, kind=FlowKind.SELECT_TENANT, feature=None, browser=client)
    finish = f"{reverse('integration_callbacks:sign_in_finish')}?state={flow.state}&answer=x"

    response = client.get(finish)

    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))
    flow.refresh_from_db()
    assert flow.finished_at is None, "the same browser finishes it once signed in"


def _select_tenant_answered(client, m365, integration, account, *, accept=True):
    from tests.security.conftest import at_microsoft

    start = client.post(reverse("integrations:select_tenant", args=[integration.pk]))
    return at_microsoft(m365, start["Location"], account, accept=accept)


@pytest.mark.emulator
def test_select_tenant_answer_is_applied_only_for_the_admin_who_started_it(m365, admin_a, tenant_a):
    from tests.factories import AdminFactory
    from tests.security.conftest import CONTOSO_ADMIN, post_sign_in_answer

    integration = integration_create_automatic(tenant=admin_a.tenant, actor=admin_a, name="Auto")
    shared = Client()  # one computer: a colleague starts Select tenant, then admin_a signs in on it
    shared.force_login(AdminFactory(tenant=tenant_a, email="colleague@alpha.example"))
    answer = _select_tenant_answered(shared, m365, integration, CONTOSO_ADMIN)
    shared.force_login(admin_a)
    page = post_sign_in_answer(shared, answer).content.decode()
    assert "started by someone else" in page
    integration.refresh_from_db()
    assert integration.directory_id == ""

    own = Client()
    own.force_login(admin_a)
    answer = _select_tenant_answered(own, m365, integration, CONTOSO_ADMIN)
    response = own.post(reverse("integration_callbacks:select_tenant"), answer)
    page = own.get(response["Location"], follow=True).content.decode()
    integration.refresh_from_db()
    assert integration.directory_id == "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
    assert set(integration.features.values_list("directory_id", flat=True)) == {integration.directory_id}
    assert "User.Read" in feature_of(integration, "login").granted_delegated
    assert "Connected to the Microsoft directory" in page
    replay = own.get(response["Location"], follow=True).content.decode()
    assert "already used" in replay


@pytest.mark.emulator
def test_select_tenant_refusal_is_explained(m365, admin_a, admin_a_client):
    from tests.security.conftest import CONTOSO_ADMIN, post_sign_in_answer

    integration = integration_create_automatic(tenant=admin_a.tenant, actor=admin_a, name="Auto")
    answer = _select_tenant_answered(admin_a_client, m365, integration, CONTOSO_ADMIN, accept=False)
    page = post_sign_in_answer(admin_a_client, answer).content.decode()
    assert "The consent request was declined" in page
    integration.refresh_from_db()
    assert integration.directory_id == ""


def test_the_set_up_guide_says_how_roger_s_applications_prove_a_directory(admin_a_client):
    import json
    import re

    page = admin_a_client.get(reverse("integrations:guide")).content.decode()
    login = re.search(r'<pre id="manifest-login">(.*?)</pre>', page, re.DOTALL)
    assert login and json.loads(login.group(1).replace("&quot;", '"'))["groupMembershipClaims"] == "DirectoryRole"
    assert "groupMembershipClaims" not in re.search(r'<pre id="manifest-user_sync">(.*?)</pre>', page, re.DOTALL)[1]
    assert "Global Administrator or Privileged Role Administrator" in page
    assert "Privileged Identity Management" in page


def test_the_set_up_guide_has_login_apps_ask_for_verified_email_claims(admin_a_client):
    import json
    import re

    page = admin_a_client.get(reverse("integrations:guide")).content.decode()
    login = re.search(r'<pre id="manifest-login">(.*?)</pre>', page, re.DOTALL)
    assert login
    claims = json.loads(login.group(1).replace("&quot;", '"'))["optionalClaims"]["idToken"]
    assert [claim["name"] for claim in claims] == ["email", "xms_edov"]
    assert "optionalClaims" not in re.search(r'<pre id="manifest-onedrive">(.*?)</pre>', page, re.DOTALL)[1]
    assert "Add optional claim" in page and "xms_edov" in page


def test_renaming_an_automatic_integration_is_audited(admin_a_client, admin_a):
    integration = integration_create_automatic(tenant=admin_a.tenant, actor=admin_a, name="Auto")
    edit = reverse("integrations:edit", args=[integration.pk])
    response = admin_a_client.post(edit, {"name": "Contoso"}, REMOTE_ADDR="203.0.113.8")
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.name == "Contoso"
    event = AuditEvent.objects.get(action="integration.renamed", details__to="Contoso")
    assert (event.actor, event.ip_address) == (admin_a, "203.0.113.8"), "the page's user and address"


def test_disabling_a_feature_on_the_page_audits_the_pages_admin_and_address(admin_a_client, admin_a, contoso_a):
    from integrations.services.features import feature_enable

    feature = feature_enable(feature=consented(feature_of(contoso_a, "onedrive")))
    disable = reverse("integrations:feature_disable", args=[contoso_a.pk, feature.pk])
    admin_a_client.post(disable, REMOTE_ADDR="203.0.113.8")
    event = AuditEvent.objects.get(action="integration.feature_disabled")
    assert (event.actor, event.ip_address) == (admin_a, "203.0.113.8"), "the page's user and address"


@pytest.mark.parametrize("model", ["integration", "appregistration", "feature", "authorizationflow"])
def test_operator_sees_everything_in_django_admin(client, admin_a, contoso_a, model):
    from accounts.models import User

    operator = User.objects.create_superuser("operator", "operator@roger.example", "pw-operator-1")
    client.force_login(operator)
    _flow(admin_a, contoso_a, answer='{"code": "1.A-the-code-is-a-secret"}')
    objects = {
        "integration": contoso_a,
        "appregistration": contoso_a.app_registrations.get(),
        "feature": feature_of(contoso_a, "login"),
        "authorizationflow": AuthorizationFlow.objects.get(),
    }
    assert client.get(reverse(f"admin:integrations_{model}_changelist")).status_code == 200
    page = client.get(reverse(f"admin:integrations_{model}_change", args=[objects[model].pk]))
    assert page.status_code == 200
    assert "single~Secret.Value.0005" not in page.content.decode()
    assert "the-code-is-a-secret" not in page.content.decode()


def test_the_list_pages_through_the_integrations_by_name(admin_a, admin_a_client, admin_b):
    """50 a page, A to Z, Next then Previous: a tenant with a thousand integrations does not render them all."""
    row = re.compile(r'href="/administration/integrations/microsoft/(\d+)/"')
    next_link = re.compile(r'href="\?before=([^"]+)">Next<')
    previous_link = re.compile(r'href="\?after=([^"]+)">Previous<')
    names = [f"Directory {n:03d}" for n in range(110)] + ["Directory_underscore", "directory lower"]
    for name in reversed(names):
        IntegrationFactory(tenant=admin_a.tenant, name=name, features=False)
    IntegrationFactory(tenant=admin_b.tenant, name="Directory 050b", features=False)
    expected = list(Integration.objects.filter(tenant=admin_a.tenant).values_list("pk", flat=True))  # name order

    pages, query = [], ""
    while True:
        html = admin_a_client.get(f"{reverse('integrations:list')}{query}").content.decode()
        pages.append([int(pk) for pk in row.findall(html)])
        found = next_link.search(html)
        if found is None:
            break
        query = f"?before={unescape(found.group(1))}"
    assert [pk for page in pages for pk in page] == expected
    assert [len(page) for page in pages] == [50, 50, 12]
    assert ">First<" in html and "Previous" in html

    back = []
    while (found := previous_link.search(html)) is not None:
        html = admin_a_client.get(f"{reverse('integrations:list')}?after={unescape(found.group(1))}").content.decode()
        back.append([int(pk) for pk in row.findall(html)])
    assert back == [pages[1], pages[0]]
    assert ">First<" not in html and "Next" in html
