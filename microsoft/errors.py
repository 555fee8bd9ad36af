"""What can go wrong when talking to Microsoft, classified for the services that decide what to do.

- `TransientError`: try again later (timeouts, dropped connections, 429, 5xx), honouring `retry_after`.
- `ReconsentRequired`: a person has to sign in or consent again; retrying will not help.
- `ConfigurationError`: something is set up wrongly (client id, secret, tenant, app registration).

Each error carries the AADSTS code and an explanation an admin can act on, from one catalogue.
Reference: https://learn.microsoft.com/entra/identity-platform/reference-error-codes
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = [
    "CATALOGUE",
    "AccessTokenRejected",
    "ConfigurationError",
    "ContentTooLarge",
    "DeltaExpired",
    "IdTokenRejected",
    "MicrosoftError",
    "NameConflict",
    "PermissionMissing",
    "PrintOperationRefused",
    "QuotaExceeded",
    "ReconsentRequired",
    "ResourceNotFound",
    "StateMismatch",
    "TransientError",
    "UploadSessionGone",
    "classify",
    "graph_classify",
    "parse_retry_after",
]

logger = logging.getLogger(__name__)


class MicrosoftError(Exception):
    """A failed exchange with Microsoft, with a human explanation and the remedy.

    Two attributes tell the caller what to do next, whatever the class (healthchecks.io's
    `TransportError(permanent=...)` is the model): `permanent`, trying again will not help; `needs_person`,
    a person must act before it can work (sign in or consent again, fix the app or the values entered). A
    failure that is neither is retried by itself. Each class has its defaults; one error may say otherwise.
    """

    permanent = False
    needs_person = False

    def __init__(
        self,
        explanation: str,
        *,
        code: int | None = None,
        error: str = "",
        retry_after: float | None = None,
        description: str = "",
        correlation_id: str | None = None,
        status: int | None = None,
        permanent: bool | None = None,
        needs_person: bool | None = None,
    ) -> None:
        self.explanation = explanation
        self.code = code
        self.error = error
        self.retry_after = retry_after
        self.description = description  # Microsoft's own first line, for logs and support
        self.correlation_id = correlation_id
        self.status = status  # the HTTP status, when Microsoft answered one
        if permanent is not None:
            self.permanent = permanent
        if needs_person is not None:
            self.needs_person = needs_person
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.explanation} (AADSTS{self.code})" if self.code else self.explanation

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, error={self.error!r})"


class TransientError(MicrosoftError):
    """Microsoft was unreachable, slow or busy: retry with backoff, honouring `retry_after`."""


class ReconsentRequired(MicrosoftError):
    """A person must sign in or consent again (invalid_grant family, revoked or declined consent)."""

    permanent = needs_person = True


class ConfigurationError(MicrosoftError):
    """The app registration or the values entered for it are wrong (client id, secret, tenant, URIs)."""

    permanent = needs_person = True


class IdTokenRejected(MicrosoftError):
    """Microsoft answered, but the identity it asserted failed our checks; the sign-in is refused."""

    permanent = needs_person = True


class StateMismatch(MicrosoftError):
    """A browser callback did not carry the state we issued: forged, replayed or from another tab."""

    permanent = needs_person = True


class AccessTokenRejected(MicrosoftError):
    """The resource (Graph) refused the access token (401): it expired early, or was revoked.

    Get a new one from the token store (``force_refresh``) and try once more; a second refusal is the token store's
    to classify (a grant that is gone becomes ReconsentRequired there).
    """


class PermissionMissing(ReconsentRequired):
    """Graph answered 403: the app lacks a permission here, or its admin consent was removed. A person must grant it."""


class ResourceNotFound(MicrosoftError):
    """The object asked for does not exist (any more) in the Microsoft 365 directory or drive (404)."""

    permanent = True


class NameConflict(MicrosoftError):
    """An item of that name is already in the folder (409 ``nameAlreadyExists``, conflictBehavior ``fail``)."""


class QuotaExceeded(TransientError):
    """The user's OneDrive (or the site) is full (507 ``quotaLimitReached``); it works again once space is freed."""


class UploadSessionGone(ResourceNotFound):
    """An upload session's URL no longer answers (404, or 401 past its lifetime): it expired, was cancelled, or its
    last fragment committed the file. Look for the file before starting a new session."""


class ContentTooLarge(MicrosoftError):
    """A file Microsoft serves is larger than the caller accepts; the download stopped at ``limit`` bytes.

    ``size`` is what Microsoft announced (None when it streamed without announcing a length).
    """

    permanent = True

    def __init__(self, explanation: str, *, limit: int, size: int | None = None, **details: Any) -> None:
        self.limit = limit
        self.size = size
        super().__init__(explanation, **details)


class PrintOperationRefused(MicrosoftError):
    """Universal Print refused an operation the state of a printer or job does not allow (Graph's 400).

    A second task trigger on a printer (Universal Print allows one; ``app_id`` names the app whose trigger is there,
    when known), or aborting a job no task of this app holds any more. Retrying will not help; a person decides.
    """

    permanent = needs_person = True

    def __init__(self, explanation: str, *, app_id: str | None = None, **details: Any) -> None:
        self.app_id = app_id
        super().__init__(explanation, **details)


class DeltaExpired(MicrosoftError):
    """A delta (change tracking) link Microsoft no longer accepts: start a full read again.

    400 ``syncStateNotFound`` when it is older than Microsoft keeps them (7 days for users and groups), 410
    ``resyncRequired`` when Microsoft reset its side; then ``resync_url`` is where to start (the 410's Location).
    """

    permanent = True  # for this link: the caller starts a full read by itself

    def __init__(self, explanation: str, *, resync_url: str | None = None, **details: Any) -> None:
        self.resync_url = resync_url
        super().__init__(explanation, **details)


_ADMIN_CONSENT_FIX = (
    "Ask a Global Administrator of the Microsoft 365 directory to use Reapply Consents on the integration, "
    "or to grant admin consent in the Azure portal under Enterprise applications > the app > Permissions."
)
_SIGN_IN_AGAIN = "The connection needs to be signed in again: use Reconnect and sign in with the account."

CATALOGUE: dict[int, tuple[type[MicrosoftError], str]] = {
    50011: (
        ConfigurationError,
        "The redirect URI this portal sent is not registered on the app. In the Azure portal, open the app "
        "registration > Authentication and add the portal's redirect URI exactly as shown (https, host and "
        "path), then save.",
    ),
    50020: (
        ReconsentRequired,
        "The account used to sign in belongs to another Microsoft 365 directory and is not a guest in this "
        "one. Sign in with an account of the connected directory, or invite the user as a guest first.",
    ),
    50034: (
        ReconsentRequired,
        "The account does not exist in this Microsoft 365 directory. Check the address and sign in with an "
        "existing account.",
    ),
    50057: (
        ReconsentRequired,
        "The Microsoft account is disabled. Enable it in the Microsoft 365 admin center, then sign in again.",
    ),
    50058: (ReconsentRequired, "Nobody is signed in with Microsoft in this browser. Sign in again."),
    50076: (
        ReconsentRequired,
        "The directory requires multi-factor authentication for this account. Sign in again interactively "
        "and complete the second factor.",
    ),
    50126: (
        ReconsentRequired,
        "The user name or password was wrong. Sign in again with the correct password.",
    ),
    50173: (
        ReconsentRequired,
        "The sign-in was revoked, usually because the account's password was changed or an administrator "
        f"revoked its sessions. {_SIGN_IN_AGAIN}",
    ),
    50194: (
        ConfigurationError,
        "The app is registered for a single directory, so it cannot be used through the shared "
        "'organizations' or 'common' sign-in. Enter the Directory (Tenant) ID in the integration, or in the "
        "Azure portal set the app's Supported account types to accounts in any organizational directory.",
    ),
    50196: (
        TransientError,
        "Microsoft saw the same request too many times in a short period and paused it. It will be retried "
        "automatically a little later.",
    ),
    53003: (
        ConfigurationError,
        "A Conditional Access policy of the Microsoft 365 directory blocked the sign-in. Ask its "
        "administrator to allow this app in the policy, then sign in again.",
    ),
    54005: (
        ReconsentRequired,
        "This sign-in code was already used. Start the sign-in again.",
    ),
    65001: (
        ReconsentRequired,
        "The app has not been granted the permissions it needs in this Microsoft 365 directory (consent is "
        f"missing or was removed). {_ADMIN_CONSENT_FIX}",
    ),
    65004: (
        ReconsentRequired,
        "The consent request was declined, so the app received no permissions. Start again and choose "
        "Accept on Microsoft's consent page (an administrator may need to do it for the whole organization).",
    ),
    70000: (
        ReconsentRequired,
        "Some of the requested permissions are not (or no longer) granted to the app. " + _ADMIN_CONSENT_FIX,
    ),
    70008: (
        ReconsentRequired,
        f"The stored sign-in expired or was revoked. {_SIGN_IN_AGAIN}",
    ),
    70011: (
        ConfigurationError,
        "The app asked Microsoft for a permission (scope) that does not exist or is not valid for this kind "
        "of sign-in. Check the permissions configured for the app.",
    ),
    70019: (
        ReconsentRequired,
        "The code was not entered in time (codes are valid for 15 minutes). Start the connection again and "
        "enter the new code promptly.",
    ),
    70043: (
        ReconsentRequired,
        "A Conditional Access sign-in frequency policy of the Microsoft 365 directory ended the session. "
        f"{_SIGN_IN_AGAIN} To avoid this, exclude the app from the policy.",
    ),
    70020: (
        ReconsentRequired,
        "The code was not entered in time (codes are valid for 15 minutes). Start the connection again and "
        "enter the new code promptly.",
    ),
    28000: (
        ConfigurationError,
        "The app asked for permissions of several Microsoft services in one request, which Microsoft "
        "does not allow. Check the permissions configured for the app.",
    ),
    500117: (
        ReconsentRequired,
        "The sign-in was finished with a different reply address than it was started with. Start the sign-in again.",
    ),
    501481: (
        ReconsentRequired,
        "The sign-in answer did not match the sign-in this portal started (PKCE check failed). Start the "
        "sign-in again.",
    ),
    1002012: (
        ConfigurationError,
        "App-only access must ask for a '/.default' permission of the service. Check the permissions "
        "configured for the app.",
    ),
    90002: (
        ConfigurationError,
        "Microsoft does not know this directory. Check the Directory (Tenant) ID or domain: in the Azure "
        "portal it is shown on Microsoft Entra ID > Overview.",
    ),
    90094: (
        ReconsentRequired,
        f"The app needs permissions that only an administrator can grant. {_ADMIN_CONSENT_FIX}",
    ),
    700016: (
        ConfigurationError,
        "Microsoft does not know this Application (client) ID in this directory. Check the Application ID "
        "(Azure portal > App registrations > Overview), and that the app is consented into this directory.",
    ),
    700025: (
        ConfigurationError,
        "The app is registered as a public client, so Microsoft refuses a client secret. Leave the "
        "Application Secret empty for this connection, or in the Azure portal set 'Allow public client "
        "flows' to No if the app is meant to use a secret.",
    ),
    700082: (
        ReconsentRequired,
        "The stored sign-in expired because it was not used for 90 days. " + _SIGN_IN_AGAIN,
    ),
    700084: (
        ReconsentRequired,
        f"The stored sign-in reached its maximum lifetime. {_SIGN_IN_AGAIN}",
    ),
    7000112: (
        ConfigurationError,
        "The app is disabled in this Microsoft 365 directory. Enable it in the Azure portal under "
        "Enterprise applications > the app > Properties ('Enabled for users to sign-in').",
    ),
    7000215: (
        ConfigurationError,
        "The Application Secret is wrong. In the Azure portal, open the app registration > Certificates & "
        "secrets, create a new client secret and paste its Value (not the Secret ID) here.",
    ),
    7000218: (
        ConfigurationError,
        "Public client flows are not allowed for this app. In the Azure portal, open the app registration > "
        "Authentication > Advanced settings, set 'Allow public client flows' to Yes, and save.",
    ),
    7000222: (
        ConfigurationError,
        "The Application Secret has expired. In the Azure portal, open the app registration > Certificates "
        "& secrets, create a new client secret and paste its Value here.",
    ),
    530003: (
        ConfigurationError,
        "A Conditional Access policy of the Microsoft 365 directory requires a managed device. Ask its "
        "administrator to exclude this app from the policy, then sign in again.",
    ),
    9002313: (
        ReconsentRequired,
        "Microsoft could not read the sign-in response (it was malformed or altered). Start the sign-in again.",
    ),
}

_RECONSENT_ERRORS = frozenset(
    {
        "invalid_grant",
        "interaction_required",
        "consent_required",
        "login_required",
        "access_denied",
        "permission_denied",
        "authorization_declined",
        "expired_token",
    }
)
_CONFIGURATION_ERRORS = frozenset(
    {
        "invalid_client",
        "unauthorized_client",
        "invalid_request",
        "invalid_scope",
        "invalid_resource",
        "invalid_tenant",
        "invalid_instance",
        "unsupported_grant_type",
        "unsupported_response_type",
        "bad_verification_code",
    }
)
_TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error", "slow_down"})

_FALLBACK_EXPLANATIONS: dict[type[MicrosoftError], str] = {
    ReconsentRequired: f"Microsoft no longer accepts the stored sign-in or consent. {_SIGN_IN_AGAIN}",
    ConfigurationError: (
        "Microsoft refused the request because of how the app is set up. Check the Application ID, the "
        "secret and the Directory (Tenant) ID entered for it."
    ),
    TransientError: "Microsoft is temporarily unavailable. It will be retried automatically.",
    MicrosoftError: "Microsoft refused the request for an unexpected reason.",
}

_AADSTS_PATTERN = re.compile(r"AADSTS(\d+)")
_SECRET_LOOKING = re.compile(r"(?i)(secret|token|assertion|code)=\S+")


def classify(
    response: Mapping[str, Any] | None,
    status_code: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> MicrosoftError:
    """Turn Microsoft's error JSON and HTTP status into the right `MicrosoftError` subclass.

    Reference: https://learn.microsoft.com/entra/identity-platform/reference-error-codes
    """
    body: Mapping[str, Any] = response or {}
    error, description = _error_and_description(body)
    code = _aadsts_code(body, description)
    retry_after = parse_retry_after(headers)
    details: dict[str, Any] = {
        "code": code,
        "error": error,
        "retry_after": retry_after,
        "description": _first_line(description),
        "correlation_id": body.get("correlation_id"),
    }
    if status_code is not None and (status_code == 429 or status_code >= 500):
        explanation = (
            "Microsoft is limiting how fast this service may call it. It will be retried automatically."
            if status_code == 429
            else _FALLBACK_EXPLANATIONS[TransientError]
        )
        return TransientError(explanation, **details)
    if code in CATALOGUE:
        error_class, explanation = CATALOGUE[code]
        return error_class(explanation, **details)
    error_class = _class_for_error(error)
    return error_class(_FALLBACK_EXPLANATIONS[error_class], **details)


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), if any."""
    if not headers:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_and_description(body: Mapping[str, Any]) -> tuple[str, str]:
    error = body.get("error")
    if isinstance(error, Mapping):  # Graph's shape: {"error": {"code": ..., "message": ...}}
        return str(error.get("code") or ""), str(error.get("message") or "")
    return str(error or ""), str(body.get("error_description") or "")


def _aadsts_code(body: Mapping[str, Any], description: str) -> int | None:
    codes = body.get("error_codes")
    if isinstance(codes, list) and codes:
        try:
            return int(codes[0])
        except (TypeError, ValueError):
            pass
    match = _AADSTS_PATTERN.search(description)
    return int(match.group(1)) if match else None


def _class_for_error(error: str) -> type[MicrosoftError]:
    if error in _RECONSENT_ERRORS:
        return ReconsentRequired
    if error in _CONFIGURATION_ERRORS:
        return ConfigurationError
    if error in _TRANSIENT_ERRORS:
        return TransientError
    return MicrosoftError


def _first_line(description: str) -> str:
    """Microsoft's description without trace ids, and without anything shaped like a credential."""
    line = description.strip().splitlines()[0] if description.strip() else ""
    return _SECRET_LOOKING.sub(r"\1=***", line)[:300]


# --- Microsoft Graph ----------------------------------------------------------------------------------------------

_DELTA_EXPIRED_CODES = frozenset({"syncstatenotfound", "resyncrequired"})
_GRAPH_EXPLANATIONS: dict[type[MicrosoftError], str] = {
    AccessTokenRejected: (
        "Microsoft Graph refused the access token (it expired early or was revoked). A new token is requested "
        "automatically."
    ),
    PermissionMissing: (
        "Microsoft 365 refused access: the app lacks a permission it needs in this directory (for example "
        f"User.Read.All or Group.Read.All), or its admin consent was removed. {_ADMIN_CONSENT_FIX}"
    ),
    ResourceNotFound: "The object no longer exists in Microsoft 365.",
    NameConflict: "An item with that name already exists in the folder.",
    QuotaExceeded: (
        "The OneDrive is full. Free some space in it (and empty its recycle bin); it will be retried automatically."
    ),
    DeltaExpired: (
        "Microsoft no longer accepts the stored position of the change tracking (it expires after 7 days without a "
        "synchronization, or Microsoft reset it). A full read starts over automatically."
    ),
    TransientError: "Microsoft Graph is temporarily unavailable. It will be retried automatically.",
    MicrosoftError: (
        "Microsoft Graph refused the request as invalid. This is a problem in this service, not in your settings; "
        "it has been logged."
    ),
}


def graph_classify(
    status_code: int, body: Mapping[str, Any] | None, headers: Mapping[str, str] | None = None
) -> MicrosoftError:
    """Turn Graph's error answer (``{"error": {"code", "message", "innerError"}}``) into a `MicrosoftError`.

    401 AccessTokenRejected, 403 PermissionMissing, 404 ResourceNotFound, 400 ``syncStateNotFound`` and 410
    DeltaExpired (with the 410's ``Location``), 409 ``nameAlreadyExists`` NameConflict, 507 QuotaExceeded, 429 and
    5xx TransientError (with ``Retry-After``); other answers are our own mistakes: MicrosoftError. Branch on the
    class, never on Graph's message.

    Reference: https://learn.microsoft.com/graph/errors
    """
    error = (body or {}).get("error")
    error = error if isinstance(error, Mapping) else {}
    code = str(error.get("code") or "")
    inner = error.get("innerError") or error.get("innererror") or {}
    details: dict[str, Any] = {
        "error": code,
        "description": _first_line(str(error.get("message") or "")),
        "retry_after": parse_retry_after(headers),
        "correlation_id": inner.get("request-id") if isinstance(inner, Mapping) else None,
        "status": status_code,
    }
    error_class = _graph_class(status_code, code)
    explanation = _GRAPH_EXPLANATIONS[error_class]
    if status_code == 429:
        explanation = "Microsoft is limiting how fast this service may call it. It will be retried automatically."
    if error_class is DeltaExpired:
        location = next((v for k, v in (headers or {}).items() if k.lower() == "location"), None)
        return DeltaExpired(explanation, resync_url=location if status_code == 410 else None, **details)
    return error_class(explanation, **details)


def _graph_class(status_code: int, code: str) -> type[MicrosoftError]:
    if status_code == 410 or code.lower() in _DELTA_EXPIRED_CODES:
        return DeltaExpired
    if status_code == 409 and code.lower() == "namealreadyexists":
        return NameConflict
    if status_code == 507 or code.lower() == "quotalimitreached":
        return QuotaExceeded
    if status_code == 429 or status_code >= 500:
        return TransientError
    return {401: AccessTokenRejected, 403: PermissionMissing, 404: ResourceNotFound}.get(status_code, MicrosoftError)
