"""The HTTP session every Microsoft call goes through (MSAL's `http_client=` and Graph calls)."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from microsoft import config, errors

__all__ = ["MicrosoftSession", "json_or_empty", "session_create", "transport_error"]

logger = logging.getLogger(__name__)


class _NoNetrcAuth(AuthBase):
    """Keeps requests from reading ~/.netrc credentials and sending them to Microsoft."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


class MicrosoftSession(requests.Session):
    """A requests session with our timeout and CA bundle on every request.

    `trust_env` stays on so HTTPS_PROXY/NO_PROXY from the environment keep working. But with
    `trust_env` requests also lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE replace `Session.verify` (it only
    keeps a `verify` given to the request itself), and this machine exports them. So `verify` is
    passed per request, and the configured bundle always wins.
    """

    def __init__(self, *, verify: str | bool, timeout: float) -> None:
        super().__init__()
        self.verify = verify
        self.timeout = timeout
        self.auth = _NoNetrcAuth()
        self.last_response: requests.Response | None = None
        self.pooled = False

    def close(self) -> None:
        if not self.pooled:  # the thread's pool outlives the operation
            super().close()

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, url_is_secret: bool = False, **kwargs: Any
    ) -> requests.Response:
        """``url_is_secret``: the URL is its own credential (a pre-authenticated download or upload URL), so only
        its host is logged."""
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        if kwargs.get("verify") is None:
            kwargs["verify"] = self.verify
        response = super().request(method, url, *args, **kwargs)
        # MSAL hides the status and headers of error responses (429 bodies come back as plain dicts,
        # 5xx as a bare exception), so the caller reads them from here to classify the failure.
        self.last_response = response
        shown = f"{urlsplit(response.url).netloc} (pre-authenticated)" if url_is_secret else response.url.split("?")[0]
        logger.info("Microsoft %s %s -> %s", method, shown, response.status_code)
        return response


def session_create(*, pooled: bool = False) -> MicrosoftSession:
    """A new session for one operation, configured from settings.

    `pooled`: its connections come from this thread's pool and go back to it, so a worker that refreshes
    thousands of tokens or polls hundreds of device codes opens one TLS connection, not one per call (the
    session itself, with the last response the caller classifies, is still the operation's own).
    """
    endpoints = config.endpoints()
    session = MicrosoftSession(verify=endpoints.ca_bundle or True, timeout=endpoints.http_timeout)
    if pooled:
        adapter = _thread_pool()
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.pooled = True
    return session


_local = threading.local()


def _thread_pool() -> HTTPAdapter:
    """This thread's connection pool; a forked worker (another pid) makes its own rather than share sockets."""
    cached: tuple[int, HTTPAdapter] | None = getattr(_local, "pool", None)
    if cached is None or cached[0] != os.getpid():
        cached = (os.getpid(), HTTPAdapter())
        _local.pool = cached
    return cached[1]


def transport_error(exc: requests.RequestException) -> errors.MicrosoftError:
    """Classify a failure to exchange anything with Microsoft at all."""
    if isinstance(exc, requests.exceptions.SSLError):
        return errors.ConfigurationError(
            "The Microsoft server's certificate could not be verified. If this network inspects TLS traffic, "
            "configure MICROSOFT_CA_BUNDLE with the proxy's certificate authority.",
            error="tls_error",
            # The operator's to fix, not the tenant admin's: what needed Microsoft retries meanwhile.
            permanent=False,
            needs_person=False,
        )
    if isinstance(exc, requests.Timeout):
        return errors.TransientError(
            "Microsoft did not answer in time. It will be retried automatically.", error="timeout"
        )
    return errors.TransientError(
        "Microsoft could not be reached (the connection failed or was dropped). It will be retried automatically.",
        error="connection_error",
    )


def json_or_empty(response: requests.Response) -> dict[str, Any]:
    """The response's JSON object, or {} when the body is not one (an HTML error page, a bare value)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
