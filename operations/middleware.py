"""One middleware sets the request context and writes the request's one log line."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from operations.context import RequestContext, context_bound, correlation_id_new, correlation_id_valid
from throttling.clients import client_address

logger = logging.getLogger("operations.request")

# A correlation id our own proxy may hand in (believed only behind TRUSTED_PROXY_COUNT proxies), and the header
# every answer carries so that a report of a failure can name its flow.
REQUEST_ID_HEADER = "X-Request-ID"
_QUIET_PATHS = ("/healthz", "/metrics")  # probed every few seconds: logged at DEBUG
# URL parts that are keys themselves (an invitation's token, a password reset's token): never logged.
_SECRET_URL_KWARGS = ("token",)


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        context = RequestContext(
            correlation_id=_correlation_id(request), client_address=client_address(request), request=request
        )
        started = time.monotonic()
        with context_bound(context):
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = context.correlation_id
            duration_ms = round((time.monotonic() - started) * 1000, 1)
            # The path only: a query string can carry codes and tokens (Microsoft's redirects do); a token in the
            # path itself is masked.
            path = _logged_path(request)
            logger.log(
                logging.DEBUG if request.path.startswith(_QUIET_PATHS) else logging.INFO,
                "%s %s %s %sms",
                request.method,
                path,
                response.status_code,
                duration_ms,
                extra={
                    "method": request.method,
                    "path": path,
                    "status": response.status_code,
                    "duration_ms": duration_ms,
                    "user_id": context.current_actor_id,
                },
            )
        return response


def _logged_path(request: HttpRequest) -> str:
    match = request.resolver_match
    path = request.path
    if match is not None:
        for name in _SECRET_URL_KWARGS:
            value = match.kwargs.get(name)
            if isinstance(value, str) and value:
                path = path.replace(value, "[masked]")
    return path


def _correlation_id(request: HttpRequest) -> str:
    given = request.META.get("HTTP_X_REQUEST_ID", "")
    if int(settings.TRUSTED_PROXY_COUNT) > 0 and given and correlation_id_valid(given):
        return str(given)
    return correlation_id_new()
