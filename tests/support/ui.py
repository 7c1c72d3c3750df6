"""The web UI as a browser without JavaScript sees it: pages parsed, a signed-in cookie jar."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

from fastapi.testclient import TestClient

from tests.support.api import ApiWorld


@dataclass
class Element:
    """A start tag with its attributes and the text directly inside it."""

    tag: str
    attrs: dict[str, str]
    text: str = ""


class Page(HTMLParser):
    """Every element of a page, in document order, with its text (nesting not kept)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.elements.append(element)
        if tag not in {"input", "br", "meta", "link", "rect", "path"}:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop().tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text += data

    def find(self, tag: str | None = None, **attrs: str) -> list[Element]:
        """Elements with `tag` (any if None) and these attribute values (`_` for `-`)."""
        wanted = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [
            e
            for e in self.elements
            if (tag is None or e.tag == tag) and all(e.attrs.get(k) == v for k, v in wanted.items())
        ]

    def having(self, tag: str, attribute: str) -> list[Element]:
        """Elements with `tag` that carry `attribute`."""
        return [e for e in self.elements if e.tag == tag and attribute in e.attrs]


def parse(html: str) -> Page:
    """Parse a page."""
    page = Page()
    page.feed(html)
    page.close()
    return page


def browser(api: ApiWorld) -> TestClient:
    """A new cookie jar on the same app (the fixture's client runs the lifespan)."""
    return TestClient(api.client.app, follow_redirects=False)


def sign_in(api: ApiWorld, role: str) -> TestClient:
    """A client signed in as the user with `role` in finance."""
    client = browser(api)
    form = client.get("/ui/login")
    assert form.status_code == 200
    nonce = parse(form.text).find("input", name="login_nonce")[0].attrs["value"]
    done = client.post("/ui/login", data={"token": api.tokens[role], "login_nonce": nonce})
    assert done.status_code == 303, done.text
    return client


def csrf_of(html: str) -> str:
    """The CSRF token in a page's forms."""
    return parse(html).find("input", name="csrf_token")[0].attrs["value"]
