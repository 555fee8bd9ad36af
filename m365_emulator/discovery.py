"""OIDC discovery, instance discovery and the JWKS (protocols.md §1.1, §1.7)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from m365_emulator import errors
from m365_emulator.errors import AadError
from m365_emulator.responses import emulator_state, error_response
from m365_emulator.state import State, TenantRef

DISCOVERY_CACHE = {"Cache-Control": "max-age=86400, private", "Access-Control-Allow-Origin": "*"}


def openid_configuration_document(state: State, tenant: TenantRef) -> dict[str, Any]:
    path_tenant = tenant.directory.tenant_id if tenant.directory else tenant.segment
    issuer_tenant = tenant.directory.tenant_id if tenant.directory else "{tenantid}"
    https, http = state.https_base, state.http_base
    return {
        "token_endpoint": f"{https}/{path_tenant}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{https}/{path_tenant}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{https}/{issuer_tenant}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{https}/graph/oidc/userinfo",
        "authorization_endpoint": f"{http}/{path_tenant}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{https}/{path_tenant}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{http}/{path_tenant}/oauth2/v2.0/logout",
        "claims_supported": [
            "sub",
            "iss",
            "cloud_instance_name",
            "cloud_instance_host_name",
            "cloud_graph_host_name",
            "msgraph_host",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "nonce",
            "preferred_username",
            "name",
            "tid",
            "ver",
            "at_hash",
            "c_hash",
            "email",
        ],
        "kerberos_endpoint": f"{https}/{path_tenant}/kerberos",
        "tenant_region_scope": "EU" if tenant.directory else None,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }


async def openid_configuration(request: Request) -> Response:
    state = emulator_state(request)
    try:
        tenant = state.resolve_tenant(request.path_params["tenant"])
    except AadError as error:
        error.error = "invalid_tenant"
        return error_response(request, error)
    return JSONResponse(openid_configuration_document(state, tenant), headers=DISCOVERY_CACHE)


async def instance_discovery(request: Request) -> Response:
    state = emulator_state(request)
    api_version = request.query_params.get("api-version")
    if not api_version:
        return error_response(request, errors.missing_parameter("api-version"))
    authorization_endpoint = request.query_params.get("authorization_endpoint", "")
    parsed = urlparse(authorization_endpoint)
    own_hosts = {urlparse(state.https_base).netloc, urlparse(state.http_base).netloc}
    if authorization_endpoint and parsed.netloc not in own_hosts:
        return error_response(request, errors.AadError(50049, "invalid_instance", "Unknown or invalid instance."))
    tenant = (parsed.path.strip("/").split("/") or ["common"])[0] or "common"
    body: dict[str, Any] = {
        "tenant_discovery_endpoint": f"{state.https_base}/{tenant}/v2.0/.well-known/openid-configuration",
        "api-version": api_version,
    }
    if api_version != "1.0":
        host_port = urlparse(state.https_base).netloc
        hostname = urlparse(state.https_base).hostname or host_port
        body["metadata"] = [
            {"preferred_network": host_port, "preferred_cache": host_port, "aliases": [host_port, hostname]}
        ]
    return JSONResponse(body, headers=DISCOVERY_CACHE)


async def keys(request: Request) -> Response:
    state = emulator_state(request)
    try:
        tenant = state.resolve_tenant(request.path_params["tenant"])
    except AadError as error:
        return error_response(request, error)
    issuer_tenant = tenant.directory.tenant_id if tenant.directory else "{tenantid}"
    jwk = {**state.signing_key.jwk(), "issuer": f"{state.https_base}/{issuer_tenant}/v2.0"}
    return JSONResponse({"keys": [jwk]}, headers=DISCOVERY_CACHE)
