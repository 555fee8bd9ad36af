"""The HTTP session every Microsoft call goes through (MSAL's `http_client=` and Graph calls)."""

from __future__ import annotations

import logging
import os
import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from requests.sessions import merge_setting
from requests.utils import get_environ_proxies

from microsoft import config, errors

if TYPE_CHECKING:
    from requests.sessions import _Settings

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

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> _Settings:
        """requests' own, with the proxies for a host read from the environment once, not at every request: it
        scans every environment variable and checks NO_PROXY each time, a tenth of a device code poll's CPU."""
        if not self.trust_env or proxies is None or proxies.get("no_proxy"):
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(str(url))
        settings = tuple(os.environ.get(name) for name in _PROXY_VARIABLES)  # a few lookups, not a scan
        for key, value in _environment_proxies(parts.scheme, parts.netloc, settings).items():
            proxies.setdefault(key, value)
        if verify is True or verify is None:
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or verify
        return {
            "proxies": merge_setting(proxies, self.proxies),
            "stream": merge_setting(stream, self.stream),
            "verify": merge_setting(verify, self.verify),
            "cert": merge_setting(cert, self.cert),
        }

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


_PROXY_VARIABLES = tuple(
    name for base in ("http_proxy", "https_proxy", "all_proxy", "no_proxy") for name in (base, base.upper())
)


@lru_cache(maxsize=256)
def _environment_proxies(scheme: str, netloc: str, settings: tuple[str | None, ...]) -> dict[str, str]:
    """What requests reads from the environment for a host; `settings` (the proxy variables) is only part of the
    key, so that a changed environment is read again."""
    return dict(get_environ_proxies(f"{scheme}://{netloc}/"))


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
