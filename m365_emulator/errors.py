"""Entra's error responses: the JSON shape of protocols.md §1.8 and a catalogue of the AADSTS codes we emit.

Messages follow Microsoft's wording where it is known (see protocols.md §1.9 and the captures cited there).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from m365_emulator.clock import format_timestamp


@dataclass
class AadError(Exception):
    code: int
    error: str
    message: str
    status: int = 400
    suberror: str | None = None

    def __str__(self) -> str:
        return self.description_head

    @property
    def description_head(self) -> str:
        return f"AADSTS{self.code}: {self.message}"

    def body(self, *, moment: datetime, correlation_id: str | None, error_base: str) -> dict[str, Any]:
        trace_id = str(uuid.uuid4())
        correlation_id = correlation_id or str(uuid.uuid4())
        timestamp = format_timestamp(moment)
        body: dict[str, Any] = {
            "error": self.error,
            "error_description": (
                f"{self.description_head}\r\nTrace ID: {trace_id}\r\n"
                f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}"
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"{error_base}/error?code={self.code}",
        }
        if self.suberror:
            body["suberror"] = self.suberror
        return body


# --- requests -------------------------------------------------------------------------------------------


def missing_parameter(name: str) -> AadError:
    return AadError(900144, "invalid_request", f"The request body must contain the following parameter: '{name}'.")


def required_parameter(params: Mapping[str, str], name: str) -> str:
    """The request's ``name``; absent or empty is Entra's AADSTS900144."""
    value = params.get(name)
    if not value:
        raise missing_parameter(name)
    return value


def tenant_not_found(tenant: str) -> AadError:
    return AadError(
        90002,
        "invalid_request",
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into "
        "the correct cloud. Check with your subscription administrator, this may happen if there are no active "
        "subscriptions for the tenant.",
    )


def unsupported_grant_type(grant_type: str) -> AadError:
    return AadError(70003, "unsupported_grant_type", f"The app requested an unsupported grant type '{grant_type}'.")


def malformed_request() -> AadError:
    return AadError(9002313, "invalid_grant", "Invalid request. Request is malformed or invalid.")


def scopes_of_several_resources(scope: str) -> AadError:
    return AadError(
        28000,
        "invalid_scope",
        f"Provided value for the input parameter scope is not valid because it contains more than one resource. "
        f"Scope {scope} is not valid.",
    )


def invalid_scope(scope: str) -> AadError:
    return AadError(
        70011,
        "invalid_scope",
        f"The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid.",
    )


def client_credentials_need_default(scope: str) -> AadError:
    return AadError(
        1002012,
        "invalid_scope",
        f"The provided value for scope {scope} is not valid. Client credential flows must have a scope value "
        "with /.default suffixed to the resource identifier (application ID URI).",
    )


def no_tenant_information() -> AadError:
    return AadError(
        50059,
        "invalid_request",
        "No tenant-identifying information found in either the request or implied by any provided credentials.",
    )


# --- applications and client authentication ------------------------------------------------------------


def app_not_found(client_id: str, directory_name: str) -> AadError:
    return AadError(
        700016,
        "unauthorized_client",
        f"Application with identifier '{client_id}' was not found in the directory '{directory_name}'. This can "
        "happen if the application has not been installed by the administrator of the tenant or consented to by "
        "any user in the tenant. You might have sent your authentication request to the wrong tenant.",
    )


def not_multi_tenant(client_id: str, app_name: str) -> AadError:
    return AadError(
        50194,
        "invalid_request",
        f"Application '{client_id}'({app_name}) is not configured as a multi-tenant application. Usage of the "
        "/common endpoint is not supported for such applications created after '10/15/2018'. Use a "
        "tenant-specific endpoint or configure the application to be multi-tenant.",
    )


def client_secret_missing() -> AadError:
    return AadError(
        7000218,
        "invalid_client",
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        status=401,
    )


def client_secret_invalid(client_id: str) -> AadError:
    return AadError(
        7000215,
        "invalid_client",
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, "
        f"not the client secret ID, for a secret added to app '{client_id}'.",
        status=401,
    )


def client_secret_expired(client_id: str) -> AadError:
    return AadError(
        7000222,
        "invalid_client",
        f"The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new "
        "keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added "
        "security: https://aka.ms/certCreds.",
        status=401,
    )


def public_client_sent_secret() -> AadError:
    return AadError(
        700025,
        "invalid_client",
        "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
        status=401,
    )


# --- grants ---------------------------------------------------------------------------------------------


def code_already_redeemed() -> AadError:
    return AadError(
        54005,
        "invalid_grant",
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing "
        "refresh token.",
    )


def code_expired() -> AadError:
    return AadError(
        70008,
        "invalid_grant",
        "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive "
        "authorization request for this user and resource.",
    )


def code_verifier_mismatch() -> AadError:
    return AadError(
        501481,
        "invalid_grant",
        "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
    )


def redirect_uri_mismatch_at_token(redirect_uri: str) -> AadError:
    return AadError(
        500117,
        "invalid_grant",
        f"The reply uri '{redirect_uri}' specified in the token request does not match the reply uri used to "
        "obtain the authorization code.",
    )


def grant_client_mismatch() -> AadError:
    return AadError(
        70000,
        "invalid_grant",
        "Provided grant is invalid or malformed. The grant was issued to a different client.",
        suberror="client_mismatch",
    )


def refresh_token_inactive(issued_on: str) -> AadError:
    return AadError(
        700082,
        "invalid_grant",
        f"The refresh token has expired due to inactivity. The token was issued on {issued_on} and was inactive "
        "for 90.00:00:00.",
        suberror="bad_token",
    )


def grant_revoked(issued_on: str, valid_from: str) -> AadError:
    return AadError(
        50173,
        "invalid_grant",
        "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have "
        f"changed or reset their password. The grant was issued on '{issued_on}' and the TokensValidFrom date "
        f"(before which tokens are not valid) for this user is '{valid_from}'.",
        suberror="bad_token",
    )


def consent_required(client_id: str, app_name: str) -> AadError:
    return AadError(
        65001,
        "invalid_grant",
        f"The user or administrator has not consented to use the application with ID '{client_id}' named "
        f"'{app_name}'. Send an interactive authorization request for this user and resource.",
        suberror="consent_required",
    )


def user_disabled() -> AadError:
    return AadError(50057, "invalid_grant", "The user account is disabled.", suberror="bad_token")


# --- device code ----------------------------------------------------------------------------------------


def authorization_pending() -> AadError:
    return AadError(
        70016, "authorization_pending", "OAuth 2.0 device flow error. Authorization is pending. Continue polling."
    )


def slow_down() -> AadError:
    # Entra's error table has no slow_down; RFC 8628 §3.5 defines it. The code is the pending one.
    return AadError(
        70016, "slow_down", "OAuth 2.0 device flow error. Polling too frequently; increase the interval by 5 seconds."
    )


def authorization_declined() -> AadError:
    return AadError(70000, "authorization_declined", "The end-user denied the authorization request.")


def device_code_expired() -> AadError:
    # Live Entra answers an expired device code with 70020 (responses captured by Azure's own CLI and SDK show it).
    return AadError(
        70020,
        "expired_token",
        "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
    )


def bad_verification_code() -> AadError:
    return AadError(
        70000, "bad_verification_code", "The provided value for the input parameter 'device_code' is not valid."
    )


# --- interactive pages (shown on a page or sent to the redirect URI) ------------------------------------


def redirect_uri_not_registered(redirect_uri: str, client_id: str) -> AadError:
    return AadError(
        50011,
        "invalid_request",
        f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured "
        f"for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to "
        "your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more "
        "about how to fix this.",
    )


def user_not_in_tenant(upn: str, tenant_name: str, client_id: str, app_name: str) -> AadError:
    return AadError(
        50020,
        "invalid_request",
        f"User account '{upn}' from identity provider 'https://sts.windows.net/' does not exist in tenant "
        f"'{tenant_name}' and cannot access the application '{client_id}'({app_name}) in that tenant. The account "
        "needs to be added as an external user in the tenant first. Sign out and sign in again with a different "
        "Azure Active Directory user account.",
    )


def personal_account_not_allowed() -> AadError:
    return AadError(
        50020,
        "invalid_request",
        "User account from a Microsoft personal account identity provider does not exist in tenant "
        "'organizations' and cannot access the application in that tenant.",
    )


def wrong_password() -> AadError:
    return AadError(50126, "invalid_grant", "Error validating credentials due to invalid username or password.")


def unknown_user(upn: str) -> AadError:
    return AadError(
        50034,
        "invalid_grant",
        f"The user account {upn} does not exist in the directory. To sign into "
        "this application, the account must be added to the directory.",
    )


def admin_approval_needed() -> AadError:
    return AadError(90094, "access_denied", "The grant requires admin permission.")


def user_declined_consent() -> AadError:
    return AadError(65004, "access_denied", "User declined to consent to access the app.")


def login_required() -> AadError:
    return AadError(50058, "login_required", "A silent sign-in request was sent but no user is signed in.")


def interaction_consent_required(client_id: str, app_name: str) -> AadError:
    error = consent_required(client_id, app_name)
    error.error = "consent_required"
    return error


def unsupported_response_type(response_type: str) -> AadError:
    return AadError(
        70005, "unsupported_response_type", f"response_type '{response_type}' is not enabled for the application."
    )


def invalid_code_challenge_method() -> AadError:
    return AadError(50149, "invalid_request", "Invalid Code_Challenge_method parameter.")


# --- throttling and outages injected by the control API -------------------------------------------------


def throttled() -> AadError:
    return AadError(
        90055,
        "temporarily_unavailable",
        "TenantThrottlingError - There are too many incoming requests. This exception is thrown for blocked tenants.",
        status=429,
    )


def service_error(status: int) -> AadError:
    error = "temporarily_unavailable" if status == 503 else "server_error"
    return AadError(
        50000, error, "There was an error issuing a token or an issue with our sign-in service.", status=status
    )
