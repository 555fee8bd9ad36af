"""The emulator's Graph base: bearer tokens, permissions, Graph's error JSON, injected faults, the request log."""

from __future__ import annotations

from typing import Any

import pytest

from m365_emulator.testing import EmulatorHandle
from tests.emulator.conftest import (
    CONTOSO,
    DEVICE_APP,
    GROUP_READER_APP,
    GROUP_READER_SECRET,
    READER_APP,
    SINGLE_TENANT_APP,
    SINGLE_TENANT_SECRET,
    WEB_APP,
    WEB_SECRET,
    app_token,
    assert_graph_error,
    graph,
    graph_client,
    public_app,
)

pytestmark = pytest.mark.emulator


def test_no_token_is_401_with_a_challenge(emu: EmulatorHandle) -> None:
    response = emu.session().get(graph(emu, "/users"), headers={"client-request-id": "my-own-id"}, timeout=10)

    assert_graph_error(response, 401, "InvalidAuthenticationToken", "Access token is empty.")
    assert response.json()["error"]["innerError"]["client-request-id"] == "my-own-id"
    assert response.headers["www-authenticate"].startswith('Bearer realm="", authorization_uri="')


@pytest.mark.parametrize("token", ["garbage", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"])
def test_a_token_the_emulator_did_not_sign_is_401(emu: EmulatorHandle, token: str) -> None:
    response = graph_client(emu, token).get(graph(emu, "/users"), timeout=10)

    assert_graph_error(response, 401, "InvalidAuthenticationToken", "Access token validation failure.")


def test_opaque_app_tokens_are_accepted(emu: EmulatorHandle) -> None:
    emu.control.set_opaque_tokens(READER_APP)
    token = app_token(emu)

    response = graph_client(emu, token).get(graph(emu, "/users?$top=1"), timeout=10)

    assert token.count(".") != 2 and response.status_code == 200


def test_a_token_for_another_resource_is_401(emu: EmulatorHandle) -> None:
    outlook = app_token(emu, WEB_APP, WEB_SECRET, scope="https://outlook.office.com/.default")

    response = graph_client(emu, outlook).get(graph(emu, "/users"), timeout=10)

    message = "Access token validation failure. Invalid audience."
    assert_graph_error(response, 401, "InvalidAuthenticationToken", message)


def test_an_expired_token_is_401_on_the_emulator_clock(emu: EmulatorHandle) -> None:
    client = graph_client(emu)
    assert client.get(graph(emu, "/users"), timeout=10).status_code == 200

    emu.control.advance_clock(3600 + 301)  # past the lifetime and the tolerated clock skew

    response = client.get(graph(emu, "/users"), timeout=10)
    assert_graph_error(response, 401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")


def test_revoked_tokens_are_refused_and_new_ones_work(emu: EmulatorHandle) -> None:
    old = graph_client(emu)

    emu.control.revoke_access_tokens(CONTOSO)

    response = old.get(graph(emu, "/users"), timeout=10)
    assert_graph_error(response, 401, "InvalidAuthenticationToken")
    assert "TokenIssuedBeforeRevocationTimestamp" in response.json()["error"]["message"]
    assert graph_client(emu).get(graph(emu, "/users"), timeout=10).status_code == 200


def test_revoking_one_app_leaves_the_others(emu: EmulatorHandle) -> None:
    reader, web = graph_client(emu), graph_client(emu, app_token(emu, WEB_APP, WEB_SECRET))

    emu.control.revoke_access_tokens(CONTOSO, client_id=WEB_APP)

    assert reader.get(graph(emu, "/users"), timeout=10).status_code == 200
    assert web.get(graph(emu, "/users"), timeout=10).status_code == 401


def test_an_app_token_without_the_role_is_403(emu: EmulatorHandle) -> None:
    # The single-tenant app lives in Contoso (so it gets tokens there) but nobody granted it User.Read.All.
    token = app_token(emu, SINGLE_TENANT_APP, SINGLE_TENANT_SECRET)

    response = graph_client(emu, token).get(graph(emu, "/users"), timeout=10)

    assert_graph_error(
        response, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
    )


def test_roles_are_read_from_the_token(emu: EmulatorHandle) -> None:
    users_only = graph_client(emu, app_token(emu, WEB_APP, WEB_SECRET))  # User.Read.All
    groups_only = graph_client(emu, app_token(emu, GROUP_READER_APP, GROUP_READER_SECRET))  # Group.Read.All

    assert users_only.get(graph(emu, "/users"), timeout=10).status_code == 200
    assert_graph_error(users_only.get(graph(emu, "/groups"), timeout=10), 403, "Authorization_RequestDenied")
    assert groups_only.get(graph(emu, "/groups"), timeout=10).status_code == 200
    assert_graph_error(groups_only.get(graph(emu, "/users/delta"), timeout=10), 403, "Authorization_RequestDenied")


def _delegated_token(emu: EmulatorHandle, upn: str) -> str:
    app = public_app(emu, tenant=CONTOSO)
    flow = app.initiate_device_flow(scopes=["User.Read"])
    emu.control.approve_device_code(flow["user_code"], upn)
    result: dict[str, Any] = app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)
    assert "access_token" in result, result
    return str(result["access_token"])


def test_a_delegated_token_reads_me_but_not_the_directory(emu: EmulatorHandle) -> None:
    assert DEVICE_APP  # the public test app with the delegated User.Read permission
    client = graph_client(emu, _delegated_token(emu, "adele.vance@contoso.onmicrosoft.com"))

    me = client.get(graph(emu, "/me?$select=displayName,department"), timeout=10)

    assert me.status_code == 200
    assert me.json()["displayName"] == "Adele Vance" and me.json()["department"] == "Retail"
    assert_graph_error(client.get(graph(emu, "/users"), timeout=10), 403, "Authorization_RequestDenied")


def test_me_needs_a_user(emu: EmulatorHandle) -> None:
    response = graph_client(emu).get(graph(emu, "/me"), timeout=10)

    assert_graph_error(response, 400, "BadRequest", "/me request is only valid with delegated authentication flow.")


def test_an_unknown_segment_is_400_as_graph_says(emu: EmulatorHandle) -> None:
    response = graph_client(emu).get(graph(emu, "/printerz"), timeout=10)

    assert_graph_error(response, 400, "BadRequest", "Resource not found for the segment 'printerz'.")


@pytest.mark.parametrize(
    ("status", "code"), [(429, "TooManyRequests"), (503, "serviceNotAvailable"), (500, "generalException")]
)
def test_injected_faults_answer_in_graphs_shape_with_retry_after(emu: EmulatorHandle, status: int, code: str) -> None:
    client = graph_client(emu)
    emu.control.inject_fault("graph", status=status, retry_after=7)

    failed = client.get(graph(emu, "/users"), timeout=10)
    recovered = client.get(graph(emu, "/users"), timeout=10)

    assert_graph_error(failed, status, code)
    assert failed.headers["retry-after"] == "7"
    assert recovered.status_code == 200


def test_graph_requests_are_recorded(emu: EmulatorHandle) -> None:
    client = graph_client(emu)
    emu.control.clear_requests()

    client.get(graph(emu, "/users?$top=1"), headers={"client-request-id": "abc"}, timeout=10)

    [record] = emu.control.requests_received("graph")
    assert record["path"] == "/graph/v1.0/users" and record["query"] == {"$top": "1"}
    assert record["headers"]["client-request-id"] == "abc" and record["status"] == 200


def test_organization(emu: EmulatorHandle) -> None:
    token = app_token(emu, WEB_APP, WEB_SECRET)  # no Organization.Read.All: refused
    assert graph_client(emu, token).get(graph(emu, "/organization"), timeout=10).status_code == 403

    body = graph_client(emu, _delegated_token(emu, "adele.vance@contoso.onmicrosoft.com")).get(
        graph(emu, "/organization"), timeout=10
    )

    [organization] = body.json()["value"]
    assert organization["id"] == CONTOSO and organization["displayName"] == "Contoso"
    assert [d["name"] for d in organization["verifiedDomains"]] == ["contoso.onmicrosoft.com", "contoso.com"]
