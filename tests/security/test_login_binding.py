"""Login with Microsoft's flow is started by nobody yet, so only the browser binds it: an answer finished in any other
browser signs nobody in. Two attacks: a stranger sends a victim their own sign-in link (the victim's Microsoft
account would end up signed in in the stranger's browser), and a stranger feeds their own Microsoft answer to a
victim's browser (the victim would be signed in to the stranger's Roger account, a login CSRF)."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AuditEvent
from integrations.choices import FlowStatus
from integrations.models import AuthorizationFlow
from tests.microsoft_login.conftest import ADELE, ADELE_ID, ALEX, linked, login_feature, microsoft_start, signed_in_as
from tests.security.conftest import at_microsoft, page_text, post_sign_in_answer, state_of

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]


def test_a_sign_in_link_finished_in_another_browser_signs_nobody_in(m365, admin_a):
    feature = login_feature(admin_a)
    linked(admin_a.tenant, ADELE[0], ADELE_ID)
    stranger, victim = Client(), Client()
    start = microsoft_start(stranger, "alpha", feature)
    answer = at_microsoft(m365, start["Location"], ADELE)  # the victim signs in with the stranger's link

    final = post_sign_in_answer(victim, answer)

    assert final.status_code == 403 and "different browser" in page_text(final)
    assert signed_in_as(victim) is None and signed_in_as(stranger) is None
    flow = AuthorizationFlow.objects.get(state=state_of(start["Location"]))
    assert flow.status == FlowStatus.FAILED and flow.answer == "" and flow.msal_flow == ""
    # The stranger cannot collect it afterwards in their own browser either: the flow is spent.
    again = post_sign_in_answer(stranger, answer)
    assert signed_in_as(stranger) is None and "already used" in page_text(again)
    assert not AuditEvent.objects.filter(action="user.signed_in").exists()
    refused = AuditEvent.objects.get(action="user.microsoft_sign_in_refused")
    assert refused.tenant == admin_a.tenant and refused.details["reason"] == "other_browser"


def test_a_strangers_answer_fed_to_a_victims_browser_signs_nobody_in(m365, admin_a):
    feature = login_feature(admin_a)
    linked(admin_a.tenant, ALEX[0], "a1b2c3d4-0003-4000-8000-00000000c003")  # the stranger's own Roger account
    stranger, victim = Client(), Client()
    microsoft_start(victim, "alpha", feature)  # the victim has a flow of their own: its cookie is for another state
    start = microsoft_start(stranger, "alpha", feature)
    answer = at_microsoft(m365, start["Location"], ALEX)

    final = post_sign_in_answer(victim, answer)

    assert final.status_code == 403 and signed_in_as(victim) is None
    assert not AuditEvent.objects.filter(action="user.signed_in").exists()
