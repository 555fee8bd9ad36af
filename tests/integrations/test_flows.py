"""A sign-in Microsoft answered with an error instead of a code: nothing is redeemed, and the person is told why."""

from __future__ import annotations

import json
from typing import Any

import pytest

from integrations.choices import FlowKind
from integrations.services.directory_proof import CANCELLED
from integrations.services.flows import sign_in_redeem
from microsoft.config import AppCredentials
from microsoft.errors import MicrosoftError, ReconsentRequired
from tests.factories import AuthorizationFlowFactory

pytestmark = pytest.mark.django_db

LOGIN_APP = AppCredentials(client_id="6e1c0a01-7d2b-4c3e-9f10-000000000a01", client_secret="not-used")


def _answered(admin: Any, **answer: str) -> Any:
    return AuthorizationFlowFactory(admin=admin, kind=FlowKind.SELECT_TENANT, answer=json.dumps(answer))


def _redeem(flow: Any, **options: Any) -> Any:
    return sign_in_redeem(
        flow,
        app=LOGIN_APP,
        authority="organizations",
        expected_tenant_id=None,
        allow_personal_accounts=False,
        **options,
    )


def test_an_administrator_who_cancelled_is_told_so(admin_a: Any) -> None:
    flow = _answered(admin_a, state="s", error="access_denied", error_description="The user cancelled the sign-in.")

    with pytest.raises(ReconsentRequired, match="The sign-in was cancelled at Microsoft"):
        _redeem(flow, cancelled=CANCELLED)


def test_otherwise_microsofts_error_is_explained_from_the_catalogue(admin_a: Any) -> None:
    flow = _answered(
        admin_a,
        state="s",
        error="invalid_request",
        error_description="AADSTS50011: The redirect URI specified in the request does not match.",
    )

    with pytest.raises(MicrosoftError) as raised:
        _redeem(flow, cancelled=CANCELLED)

    assert raised.value.code == 50011 and "cancelled" not in raised.value.message
