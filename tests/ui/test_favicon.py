"""The icon browsers show for the portal: named in every page's head, and at /favicon.ico, which browsers ask for
by themselves."""

from __future__ import annotations

import pytest
from django.templatetags.static import static
from django.test import Client


def test_favicon_ico_leads_to_the_icon_without_signing_in():
    client = Client()

    response = client.get("/favicon.ico")

    assert response.status_code == 302
    assert response["Location"] == static("favicon.svg")
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert icon["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in b"".join(icon.streaming_content)


@pytest.mark.django_db
def test_every_page_names_the_icon(admin_a_client):
    for path in ("/", "/accounts/sign-in/"):
        html = (admin_a_client if path == "/" else Client()).get(path).content.decode()
        head = html[: html.index("</head>")]
        assert f'<link rel="icon" href="{static("favicon.svg")}" type="image/svg+xml">' in head, path
