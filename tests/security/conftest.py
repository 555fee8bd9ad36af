"""Helpers of the security suite: a person at Microsoft's pages (the emulator), and the portal's callbacks.

The portal side is Django's test client: one client is one browser (its cookie jar), so a second client is
"someone else's browser". Microsoft's side is the emulator's real pages, driven by a form-following browser.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from django.test import Client
from django.urls import reverse

from tests.emulator.browser import Browser, forms_of, redirect_params

CONTOSO = "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
FABRIKAM = "9e8d7c6b-5a49-4382-a716-f5e4d3c2b1a0"
NORTHWIND = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"
CONTOSO_ADMIN = ("admin@contoso.onmicrosoft.com", "Contoso-Admin-1")
CONTOSO_USER = ("adele.vance@contoso.onmicrosoft.com", "Contoso-User-1")
FABRIKAM_ADMIN = ("admin@fabrikam.onmicrosoft.com", "Fabrikam-Admin-1")
NORTHWIND_CLOUD_ADMIN = ("cloud.admin@northwind.onmicrosoft.com", "Northwind-Cloud-1")
NORTHWIND_PIM_ADMIN = ("pim.admin@northwind.onmicrosoft.com", "Northwind-Pim-1")
GRAPH_DEFAULT = "https://graph.microsoft.com/.default"


class MicrosoftPageError(AssertionError):
    """Microsoft showed a page instead of answering the portal (an error, "Need admin approval", ...)."""


def at_microsoft(m365: Any, url: str, account: tuple[str, str], *, accept: bool = True) -> dict[str, str]:
    """Someone opens Microsoft's URL, signs in and accepts (or declines) what is asked; returns the answer that
    Microsoft sends to the portal: the form_post fields of a sign-in, or the query of an admin consent."""
    browser = Browser(m365.http_url)
    page = browser.get(url)
    page = browser.submit(page, form_id="sign-in", login=account[0], passwd=account[1])
    if "consent" in {form.attrs.get("id") for form in forms_of(page.text)}:
        page = browser.submit(page, form_id="consent", button="idSIButton9" if accept else "idBtn_Back")
    if page.is_redirect:
        return redirect_params(page)
    return _form_post_fields(page)


def _form_post_fields(page: requests.Response) -> dict[str, str]:
    forms = forms_of(page.text)
    if not forms or forms[0].attrs.get("name") != "hiddenform":
        raise MicrosoftPageError(re.sub(r"<style>.*?</style>", "", page.text, flags=re.DOTALL))
    return dict(forms[0].fields)


def admin_consent_url(client_id: str, tenant: str, redirect_uri: str, state: str = "seed-consent") -> str:
    query = urlencode({"client_id": client_id, "scope": GRAPH_DEFAULT, "redirect_uri": redirect_uri, "state": state})
    return f"/{tenant}/v2.0/adminconsent?{query}"


def state_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


def post_sign_in_answer(browser: Client, fields: dict[str, str]) -> Any:
    """Microsoft's form_post arrives at the portal in `browser`, which follows the redirects it is given."""
    return browser.post(reverse("integration_callbacks:select_tenant"), fields, follow=True)


def get_consent_answer(browser: Client, params: dict[str, str]) -> Any:
    return browser.get(reverse("integration_callbacks:consent"), params, follow=True)


def page_text(response: Any) -> str:
    return str(response.content.decode())
