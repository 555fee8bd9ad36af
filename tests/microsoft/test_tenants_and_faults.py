"""Tenant discovery, and what outages, throttling and dropped connections turn into."""

from __future__ import annotations

from typing import Any

import pytest

from microsoft import errors, identity
from microsoft.config import AppCredentials
from tests.microsoft.conftest import (
    CONTOSO,
    DEVICE_APP,
    GRAPH_DEFAULT,
    SINGLE_TENANT_APP,
    SMTP_SEND,
    WEB_APP,
)

pytestmark = pytest.mark.emulator


@pytest.mark.parametrize("name", ["contoso.onmicrosoft.com", "contoso.com", CONTOSO.upper()])
def test_tenant_resolves_by_domain_or_guid(m365: Any, name: str) -> None:
    assert identity.tenant_resolve(name) == CONTOSO


@pytest.mark.parametrize("name", ["nobody.onmicrosoft.com", "organizations", ""])
def test_unknown_tenant_is_a_configuration_error(m365: Any, name: str) -> None:
    with pytest.raises(errors.ConfigurationError) as raised:
        identity.tenant_resolve(name)

    assert raised.value.code == 90002
    assert "Directory (Tenant) ID" in raised.value.explanation


def test_discovery_is_fetched_once_for_many_operations(m365: Any) -> None:
    identity._document_cache.clear()
    m365.control.clear_requests()

    first = identity.discovery(CONTOSO)
    identity.client_credentials_acquire(app=WEB_APP, tenant=CONTOSO, scope=GRAPH_DEFAULT)
    identity.client_credentials_acquire(app=WEB_APP, tenant=CONTOSO, scope=GRAPH_DEFAULT)

    assert first["token_endpoint"] == f"{m365.https_url}/{CONTOSO}/oauth2/v2.0/token"
    assert len(m365.control.requests_received("discovery")) == 1
    assert m365.control.requests_received("instance_discovery") == []


def test_single_tenant_app_through_organizations(m365: Any) -> None:
    app = AppCredentials(client_id=SINGLE_TENANT_APP.client_id, client_secret=None)

    with pytest.raises(errors.ConfigurationError) as raised:
        identity.device_flow_start(app=app, tenant="organizations", scopes=[SMTP_SEND])

    assert raised.value.code == 50194


def test_public_client_given_a_secret(m365: Any) -> None:
    app = AppCredentials(client_id=DEVICE_APP.client_id, client_secret="not-for-a-public-client")

    with pytest.raises(errors.ConfigurationError) as raised:
        identity.client_credentials_acquire(app=app, tenant=CONTOSO, scope=GRAPH_DEFAULT)

    assert raised.value.code == 700025
    assert "not-for-a-public-client" not in str(raised.value)


def test_throttled_token_request_is_transient_with_retry_after(m365: Any) -> None:
    m365.control.inject_fault("token", status=429, retry_after=7)

    with pytest.raises(errors.TransientError) as raised:
        identity.client_credentials_acquire(app=WEB_APP, tenant=CONTOSO, scope=GRAPH_DEFAULT)

    assert raised.value.retry_after == 7.0
    assert "limiting" in raised.value.explanation
    assert identity.client_credentials_acquire(app=WEB_APP, tenant=CONTOSO, scope=GRAPH_DEFAULT).access_token


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_transient(m365: Any, status: int) -> None:
    m365.control.inject_fault("token", status=status, retry_after=3)

    with pytest.raises(errors.TransientError) as raised:
        identity.client_credentials_acquire(app=WEB_APP, tenant=CONTOSO, scope=GRAPH_DEFAULT)

    assert raised.value.retry_after == 3.0


def test_device_code_request_during_an_outage_is_transient(m365: Any) -> None:
    m365.control.inject_fault("devicecode", status=503)

    with pytest.raises(errors.TransientError):
        identity.device_flow_start(app=DEVICE_APP, tenant=CONTOSO, scopes=[SMTP_SEND])


def test_dropped_connection_is_transient(m365: Any) -> None:
    m365.control.inject_fault("token", drop=True)

    with pytest.raises(errors.TransientError) as raised:
        identity.client_credentials_acquire(app=WEB_APP, tenant=CONTOSO, scope=GRAPH_DEFAULT)

    assert raised.value.error == "connection_error"


def test_slow_answer_times_out_as_transient(m365: Any, settings: Any) -> None:
    settings.MICROSOFT_HTTP_TIMEOUT = 0.5
    m365.control.inject_fault("token", latency_ms=3000)

    with pytest.raises(errors.TransientError) as raised:
        identity.client_credentials_acquire(app=WEB_APP, tenant=CONTOSO, scope=GRAPH_DEFAULT)

    assert raised.value.error == "timeout"
