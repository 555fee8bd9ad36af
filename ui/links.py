"""The portal's own address of a page, for what leaves the portal: links in mail, the redirect URIs Microsoft sends
browsers back to.

It is `settings.PORTAL_BASE_URL`, never the request's Host header, which the client chooses: a forged Host would
put another site into a link that carries a reset token or an invitation, or into a redirect URI.
"""

from __future__ import annotations

from django.conf import settings

__all__ = ["portal_url"]


def portal_url(path: str) -> str:
    """The absolute URL of `path` (a path of the portal, as `reverse` gives it)."""
    return str(settings.PORTAL_BASE_URL).rstrip("/") + path
