"""Endpoints come from settings, with Microsoft's public cloud as the default."""

from __future__ import annotations

from typing import Any

import pytest

from microsoft import config
from microsoft.http import session_create


def test_empty_settings_mean_microsofts_public_cloud(settings: Any) -> None:
    settings.MICROSOFT_AUTHORITY_HOST = ""
    settings.MICROSOFT_GRAPH_URL = ""
    settings.MICROSOFT_SMTP_HOST = ""
    settings.MICROSOFT_IMAP_HOST = ""
    settings.MICROSOFT_POP_HOST = ""
    settings.MICROSOFT_CA_BUNDLE = None

    endpoints = config.endpoints()

    assert endpoints.authority_host == "https://login.microsoftonline.com"
    assert endpoints.graph_url == "https://graph.microsoft.com"
    assert (endpoints.smtp_host, endpoints.smtp_port) == ("smtp.office365.com", 587)
    assert (endpoints.imap_host, endpoints.imap_port) == ("outlook.office365.com", 993)
    assert (endpoints.pop_host, endpoints.pop_port) == ("outlook.office365.com", 995)
    assert endpoints.ca_bundle is None
    assert (
        config.authority_url("contoso.onmicrosoft.com") == "https://login.microsoftonline.com/contoso.onmicrosoft.com"
    )
    assert config.instance_discovery_enabled()


def test_settings_override_every_endpoint(settings: Any) -> None:
    settings.MICROSOFT_AUTHORITY_HOST = "https://127.0.0.1:8443/"
    settings.MICROSOFT_GRAPH_URL = "https://127.0.0.1:8443/graph"
    settings.MICROSOFT_SMTP_HOST = "127.0.0.1"
    settings.MICROSOFT_SMTP_PORT = 2525
    settings.MICROSOFT_CA_BUNDLE = "/tmp/ca.pem"
    settings.MICROSOFT_HTTP_TIMEOUT = 3.5

    endpoints = config.endpoints()

    assert config.authority_url("organizations") == "https://127.0.0.1:8443/organizations"
    assert endpoints.graph_url == "https://127.0.0.1:8443/graph"
    assert (endpoints.smtp_host, endpoints.smtp_port) == ("127.0.0.1", 2525)
    assert endpoints.ca_bundle == "/tmp/ca.pem"
    assert endpoints.http_timeout == 3.5
    assert not config.instance_discovery_enabled()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://login.microsoftonline.com/common", True),
        ("https://login.microsoftonline.us/tenant", True),
        ("https://login.windows.net", True),
        ("https://127.0.0.1:8443/tenant", False),
        ("https://localhost/", False),
        ("https://microsoftonline.com.evil.example/", False),
    ],
)
def test_is_microsoft_host(url: str, expected: bool) -> None:
    assert config.is_microsoft_host(url) is expected


def test_session_uses_the_configured_bundle_over_the_environment(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.MICROSOFT_CA_BUNDLE = "/tmp/our-ca.pem"
    settings.MICROSOFT_HTTP_TIMEOUT = 4.0
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    session = session_create()

    merged = session.merge_environment_settings("https://login.example/x", {}, None, session.verify, None)

    assert merged["verify"] == "/tmp/our-ca.pem"
    assert merged["proxies"]["https"] == "http://proxy.example:3128"
    assert session.timeout == 4.0


def test_the_proxies_from_the_environment_follow_its_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    session = session_create()
    url = "https://login.example/token"

    def proxies() -> dict[str, str]:
        return dict(session.merge_environment_settings(url, {}, None, True, None)["proxies"])

    assert "https" not in proxies()
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert proxies()["https"] == "http://proxy.example:3128"
    monkeypatch.setenv("NO_PROXY", "login.example")
    assert "https" not in proxies(), "a host NO_PROXY names goes direct"
    assert (
        dict(session.merge_environment_settings("https://graph.example/v1.0", {}, None, True, None)["proxies"])["https"]
        == "http://proxy.example:3128"
    )
    assert session.merge_environment_settings(url, {}, None, True, None)["verify"] is not None
