"""A tiny form-following browser for the emulator's HTML pages (requests + html.parser)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlparse

import requests


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: dict[str, str] = field(default_factory=dict)  # id -> "name=value"
    attrs: dict[str, str] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(values.get("action", ""), values.get("method", "get").upper(), attrs=values))
        elif tag == "input" and self.forms and values.get("name"):
            if values.get("type") == "checkbox" and "checked" not in values:
                return
            self.forms[-1].fields[values["name"]] = values.get("value", "")
        elif tag == "button" and self.forms and values.get("name"):
            self.forms[-1].buttons[values.get("id", values["name"])] = f"{values['name']}={values.get('value', '')}"


def forms_of(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


class Browser:
    """Follows redirects only inside the emulator; a redirect to the client stops and is returned."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.trust_env = False

    def get(self, url: str) -> requests.Response:
        return self._follow(self.session.get(urljoin(self.base_url, url), allow_redirects=False, timeout=10))

    def submit(
        self, response: requests.Response, *, form_id: str | None = None, button: str | None = None, **fields: str
    ) -> requests.Response:
        forms = forms_of(response.text)
        form = next(f for f in forms if form_id is None or f.attrs.get("id") == form_id)
        data = dict(form.fields)
        data.update(fields)
        if button:
            name, _, value = form.buttons[button].partition("=")
            data[name] = value
        url = urljoin(response.url, form.action)
        return self._follow(self.session.post(url, data=data, allow_redirects=False, timeout=10))

    def _follow(self, response: requests.Response) -> requests.Response:
        while response.is_redirect and urlparse(response.headers["location"]).netloc == urlparse(self.base_url).netloc:
            response = self.session.get(
                urljoin(response.url, response.headers["location"]), allow_redirects=False, timeout=10
            )
        return response


def redirect_params(response: requests.Response) -> dict[str, str]:
    """The query (or fragment) parameters of a redirect to the client."""
    assert response.status_code == 302, (response.status_code, response.text[:500])
    location = urlparse(response.headers["location"])
    return {k: v[0] for k, v in parse_qs(location.query or location.fragment).items()}
