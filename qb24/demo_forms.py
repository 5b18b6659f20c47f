"""`make demo` submits the pages' own forms as a browser would: what a form sends is read from the page
(its action, hidden inputs, ticked boxes, chosen options), so the demo follows the page as it changes."""
from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin


@dataclass
class Form:
    """One <form>: where it posts and the fields a browser would send unchanged."""

    attrs: dict[str, str]
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def action(self) -> str:
        return self.attrs.get("action", "")

    def url(self, page_url: str) -> str:
        return urljoin(page_url, self.action)


@dataclass
class Link:
    href: str
    attrs: dict[str, str]
    text: str = ""


class _Reader(HTMLParser):
    """Forms (with their successful controls) and links of a page; enough for the pages the demo walks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.links: list[Link] = []
        self._form: Form | None = None
        self._select: tuple[str, str | None] | None = None  # (name, first option's value)
        self._link: Link | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = Form(a)
            self.forms.append(self._form)
        elif tag == "a" and "href" in a:
            self._link = Link(a["href"], a)
            self.links.append(self._link)
        elif self._form is not None:
            self._control(tag, a)

    def _control(self, tag: str, a: dict[str, str]) -> None:
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return  # an unticked box is not sent
            if kind not in ("submit", "button", "image", "reset", "file"):
                self._form.fields[name] = a.get("value", "on" if kind == "checkbox" else "")
        elif tag == "select" and name:
            self._select = (name, None)
        elif tag == "option" and self._select is not None:
            name, first = self._select
            value = a.get("value", "")
            if first is None:
                self._select = (name, value)
                self._form.fields.setdefault(name, value)  # no option selected: the first is sent
            if "selected" in a:
                self._form.fields[name] = value
        elif tag == "textarea" and name:
            self._form.fields[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "a":
            self._link = None

    def handle_data(self, data: str) -> None:
        if self._link is not None:
            self._link.text += data


def read_page(html: str) -> tuple[list[Form], list[Link]]:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.forms, reader.links


def form_with(html: str, **attrs: str) -> Form:
    """The page's form whose attributes include `attrs` (e.g. id="placement-x-0"); ValueError if none."""
    for form in read_page(html)[0]:
        if all(form.attrs.get(k) == v for k, v in attrs.items()):
            return form
    raise ValueError(f"no form with {attrs} on the page")


def form_posting_to(html: str, path: str) -> Form:
    """The page's form whose action ends with `path`; ValueError if none."""
    for form in read_page(html)[0]:
        if form.action.split("?")[0].endswith(path):
            return form
    raise ValueError(f"no form posting to {path} on the page")


def link_to(html: str, fragment: str) -> Link:
    """The page's first link whose href contains `fragment`; ValueError if none."""
    for link in read_page(html)[1]:
        if fragment in link.href:
            return link
    raise ValueError(f"no link to {fragment!r} on the page")
