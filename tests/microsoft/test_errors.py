"""Microsoft's error JSON classified into the error a service can act on."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from microsoft import errors


def _body(code: int, error: str, **extra: object) -> dict[str, object]:
    return {
        "error": error,
        "error_description": f"AADSTS{code}: Something happened.\r\nTrace ID: t\r\nCorrelation ID: c",
        "error_codes": [code],
        "correlation_id": "c-1",
        **extra,
    }


@pytest.mark.parametrize(
    ("code", "error", "expected"),
    [
        (50173, "invalid_grant", errors.ReconsentRequired),
        (700082, "invalid_grant", errors.ReconsentRequired),
        (65001, "invalid_grant", errors.ReconsentRequired),
        (7000215, "invalid_client", errors.ConfigurationError),
        (7000218, "invalid_client", errors.ConfigurationError),
        (700016, "unauthorized_client", errors.ConfigurationError),
        (90002, "invalid_request", errors.ConfigurationError),
    ],
)
def test_catalogue_codes_pick_their_class(code: int, error: str, expected: type[errors.MicrosoftError]) -> None:
    classified = errors.classify(_body(code, error), 400)

    assert type(classified) is expected
    assert classified.code == code
    assert classified.explanation == errors.CATALOGUE[code][1]
    assert classified.correlation_id == "c-1"
    assert str(classified).endswith(f"(AADSTS{code})")


def test_every_catalogue_entry_is_explained_without_raw_jargon() -> None:
    required = {
        50020,
        50076,
        50126,
        50173,
        50194,
        54005,
        65001,
        65004,
        70000,
        70008,
        70011,
        70043,
        90002,
        90094,
        700016,
        700025,
        700082,
        7000215,
        7000218,
        7000222,
        530003,
        9002313,
        50011,
        70019,
    }
    assert required <= set(errors.CATALOGUE)
    for error_class, explanation in errors.CATALOGUE.values():
        assert issubclass(error_class, errors.MicrosoftError)
        assert "AADSTS" not in explanation
        assert len(explanation) > 40


def test_public_client_flows_explanation_tells_where_to_click() -> None:
    explanation = errors.classify(_body(7000218, "invalid_client"), 401).explanation

    assert "Allow public client flows" in explanation
    assert "Authentication" in explanation


def test_code_is_read_from_the_description_when_error_codes_are_missing() -> None:
    classified = errors.classify({"error": "invalid_grant", "error_description": "AADSTS70043: expired"})

    assert isinstance(classified, errors.ReconsentRequired)
    assert classified.code == 70043


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("invalid_grant", errors.ReconsentRequired),
        ("interaction_required", errors.ReconsentRequired),
        ("invalid_client", errors.ConfigurationError),
        ("invalid_scope", errors.ConfigurationError),
        ("temporarily_unavailable", errors.TransientError),
        ("something_new", errors.MicrosoftError),
    ],
)
def test_unknown_codes_fall_back_on_the_oauth_error(error: str, expected: type[errors.MicrosoftError]) -> None:
    classified = errors.classify(_body(123456, error), 400)

    assert type(classified) is expected
    assert classified.code == 123456


def test_429_is_transient_with_retry_after() -> None:
    classified = errors.classify(_body(90055, "temporarily_unavailable"), 429, {"retry-after": "7"})

    assert isinstance(classified, errors.TransientError)
    assert classified.retry_after == 7.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_transient_whatever_the_body(status: int) -> None:
    assert isinstance(errors.classify(None, status), errors.TransientError)


def test_retry_after_as_http_date_in_the_past_is_zero() -> None:
    assert errors.parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert errors.parse_retry_after({"Retry-After": "soon"}) is None
    assert errors.parse_retry_after(None) is None


def test_graph_error_shape_is_understood() -> None:
    classified = errors.classify({"error": {"code": "InvalidAuthenticationToken", "message": "expired"}}, 401)

    assert classified.error == "InvalidAuthenticationToken"
    assert classified.description == "expired"


def test_description_never_carries_credentials() -> None:
    classified = errors.classify(
        {"error": "invalid_request", "error_description": "Bad body client_secret=abc123 refresh_token=xyz"}
    )

    assert "abc123" not in classified.description
    assert "xyz" not in classified.description


def _graph_body(code: str, message: str = "a message", inner: str = "innerError") -> dict[str, Any]:
    return {"error": {"code": code, "message": message, inner: {"request-id": "rid-1", "date": "2024-01-01T00:00:00"}}}


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (401, "InvalidAuthenticationToken", errors.AccessTokenRejected),
        (403, "Authorization_RequestDenied", errors.PermissionMissing),
        (404, "Request_ResourceNotFound", errors.ResourceNotFound),
        (400, "syncStateNotFound", errors.DeltaExpired),
        (410, "SyncStateNotFound", errors.DeltaExpired),  # Outlook resources spell it this way
        (429, "TooManyRequests", errors.TransientError),
        (503, "serviceNotAvailable", errors.TransientError),
        (400, "BadRequest", errors.MicrosoftError),
    ],
)
def test_graph_errors_are_classified_by_status_and_code(
    status: int, code: str, expected: type[errors.MicrosoftError]
) -> None:
    classified = errors.graph_classify(status, _graph_body(code), {"Retry-After": "4"})

    assert type(classified) is expected
    assert classified.error == code and classified.status == status and classified.correlation_id == "rid-1"


def test_graph_410_carries_where_to_start_again() -> None:
    classified = errors.graph_classify(410, _graph_body("resyncRequired"), {"Location": "https://g/v1.0/users/delta"})

    assert isinstance(classified, errors.DeltaExpired)
    assert classified.resync_url == "https://g/v1.0/users/delta"


def test_graph_throttling_keeps_retry_after_and_the_lowercase_innererror() -> None:
    classified = errors.graph_classify(429, _graph_body("TooManyRequests", inner="innererror"), {"retry-after": "12"})

    assert classified.retry_after == 12.0 and classified.correlation_id == "rid-1"


def test_graph_messages_never_carry_credentials() -> None:
    classified = errors.graph_classify(400, _graph_body("BadRequest", "Bad token=eyJabc.def and more"))

    assert "eyJabc" not in classified.description


# --- what the caller does next: permanent / needs_person -------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "status", "permanent", "needs_person"),
    [
        ({"error": "invalid_grant", "error_codes": [50173]}, 400, True, True),  # revoked: sign in again
        ({"error": "invalid_client", "error_codes": [7000222]}, 401, True, True),  # expired secret: fix the app
        ({"error": "invalid_grant", "error_codes": [65001]}, 400, True, True),  # consent removed
        ({"error": "temporarily_unavailable"}, 503, False, False),  # retried by itself
        ({"error": "server_error"}, 429, False, False),
        ({"error": "something_new"}, 400, False, False),  # an unknown refusal is retried, not blamed on a person
    ],
)
def test_every_error_says_whether_retrying_helps_and_whether_a_person_must_act(
    response: dict[str, Any], status: int, permanent: bool, needs_person: bool
) -> None:
    error = errors.classify(response, status)

    assert (error.permanent, error.needs_person) == (permanent, needs_person)


def test_one_error_may_say_otherwise_than_its_class() -> None:
    from microsoft.http import transport_error

    certificate = transport_error(requests.exceptions.SSLError("self-signed certificate"))

    assert isinstance(certificate, errors.ConfigurationError)
    assert not certificate.permanent and not certificate.needs_person, "the operator's to fix: retried meanwhile"
    assert errors.ConfigurationError("Wrong secret").needs_person
