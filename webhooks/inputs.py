"""Every value a request carries is checked (alphabet, length) before any route reads it.

The check runs before each request's route, so a hostile value never reaches the database or
another server, and the answer cannot depend on the dialect: PostgreSQL refuses NUL in text and
values longer than a VARCHAR column where SQLite stores both, so without it the same request was a
400 on one and a 500 on the other. Known fields get the alphabet and length of what Bitrix24 and
Intuit really send (each rule cites its source), with room for what was not captured; every other
field may hold any text without control characters, up to FREE_TEXT_MAX.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from flask import Flask, request
from flask_babel import gettext as _

from webhooks.errors import PageError
from webhooks.i18n import CONSENT_COOKIE

# Any printable text, tab and newlines included; no other C0/C1 control, no surrogate, no
# non-character. werkzeug decodes invalid UTF-8 (a lone surrogate among it) as U+FFFD.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
FREE_TEXT_MAX = 16 * 1024  # PLACEMENT_OPTIONS, data[...] of events we ignore; real ones are far smaller
NAME_MAX = 128  # `data[FIELDS][UF_CRM_1234567890]`-like PHP bracket names are ~30 characters

# Tokens as an OAuth bearer token may be written (RFC 6750 §2.1 b64token: letters, digits,
# "-._~+/", then "="s). Bitrix24's are 70 hex digits in the captured bodies
# (fixtures/bitrix24/captured-bodies) and 32 alphanumerics in the docs' examples (doc-examples
# on-app-install); Intuit's authorization codes are alphanumeric. 512 leaves room for any issuer.
TOKEN = re.compile(r"[A-Za-z0-9._~+/-]{1,512}=*")
# 32 lowercase hex digits in every capture and doc example (010b6886…, a223c6b3…, d897063e…);
# no source fixes the alphabet, so letters of either case, digits, '_' and '-' up to the store's
# column width (Portal.member_id: String(64)) are accepted.
MEMBER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
DIGITS = re.compile(r"[0-9]{1,20}")  # user ids, handler ids, unix times, CRM ids (integers)
# DOMAIN and auth[domain] are free text: the app never reads them (the portal's domain comes from
# the trusted app.info answer), and a server-written value may hold a Unicode or underscored host.
# SERVER_ENDPOINT, client_endpoint: "https://oauth.bitrix.info/rest/" (reference §1.1, §3.2): a
# scheme, an ASCII (punycode) host, a port and a path; no query, userinfo or percent-escapes.
URL = re.compile(r"https?://[A-Za-z0-9.:\[\]/_-]{1,500}")
WORD = re.compile(r"[A-Za-z0-9_]{1,64}")  # event names (ONCRMCONTACTADD), placement codes
URLSAFE = re.compile(r"[A-Za-z0-9_-]{1,128}")  # our own states, tickets, CSRF tokens: token_urlsafe
SIGNED = re.compile(r"[A-Za-z0-9_.-]{1,1024}")  # itsdangerous URL-safe signed link tokens

FIELDS: dict[str, re.Pattern[str]] = {
    # The frame POST (installer, app page, widgets; reference §1.1 and §4) and its query string.
    "member_id": MEMBER_ID, "AUTH_ID": TOKEN, "REFRESH_ID": TOKEN, "APPLICATION_TOKEN": TOKEN,
    "AUTH_EXPIRES": re.compile(r"[0-9]{1,9}"), "SERVER_ENDPOINT": URL, "PLACEMENT": WORD,
    "APPLICATION_SCOPE": re.compile(r"[A-Za-z0-9_,.]{1,1024}"), "status": re.compile(r"[A-Z]{1,8}"),
    "PROTOCOL": re.compile(r"[01]"), "LANG": re.compile(r"[A-Za-z_-]{1,16}"),
    "APP_SID": re.compile(r"[A-Za-z0-9]{1,128}"),
    # Events (reference §3.2, the captured ONCRMCONTACTADD; DOCS on-app-install / on-app-uninstall).
    "event": WORD, "event_handler_id": DIGITS, "ts": DIGITS, "data[FIELDS][ID]": DIGITS,
    "auth[member_id]": MEMBER_ID, "auth[application_token]": TOKEN, "auth[access_token]": TOKEN,
    "auth[refresh_token]": TOKEN, "auth[user_id]": DIGITS,
    "auth[expires]": DIGITS, "auth[expires_in]": DIGITS, "auth[server_endpoint]": URL,
    "auth[client_endpoint]": URL, "auth[status]": re.compile(r"[A-Z]{1,8}"),
    # QuickBooks' redirect back (reference quickbooks-online.md §7): `code`, realmId the
    # company id (digits), `state` ours.
    "code": TOKEN, "state": URLSAFE, "realmId": re.compile(r"[0-9]{1,32}"),
    "error": re.compile(r"[A-Za-z0-9_.-]{1,64}"),
    # Our own forms.
    "t": SIGNED, "ticket": URLSAFE, "csrf_token": URLSAFE, "mode": WORD,
}
HEADERS = {"X-CSRF-Token": URLSAFE}
COOKIES = {"qb24_qbo_state": URLSAFE, CONSENT_COOKIE: FIELDS["LANG"]}


class BadInput(PageError):
    """A request field holds characters or a length no genuine request has (400)."""

    kind = "bad_input"


def problem(name: str, value: str, rule: re.Pattern[str] | None = None) -> str | None:
    """Why `value` (of field `name`) is refused, or None when it is acceptable; "" always is."""
    if _FORBIDDEN.search(name) or len(name) > NAME_MAX:
        return _("A field name in this request holds characters no genuine request has.")
    if value == "":
        return None
    rule = rule or FIELDS.get(name)
    if rule is None and _extends_a_field(name):
        return _("%(field)s nests values where Bitrix24 or QuickBooks sends a single one.", field=name)
    if rule is None:
        if _FORBIDDEN.search(value):
            return _("%(field)s holds control characters.", field=name)
        return _("%(field)s is too long.", field=name) if len(value) > FREE_TEXT_MAX else None
    if rule.fullmatch(value):
        return None
    return _("%(field)s is not in the form Bitrix24 or QuickBooks sends it.", field=name)


def _extends_a_field(name: str) -> bool:
    """`member_id[]`, `auth[member_id][x]`: PHP brackets would turn a checked field into a nested one."""
    return any(name.startswith(field + "[") for field in FIELDS)


def _first_problem(pairs: Iterable[tuple[str, str]]) -> str | None:
    return next((found for name, value in pairs if (found := problem(name, value))), None)


def _read_values() -> Iterable[tuple[str, str, re.Pattern[str] | None]]:
    """The headers and cookies the app reads, with their rules (others it never looks at)."""
    for name, rule in HEADERS.items():
        yield name, request.headers.get(name, ""), rule
    for name, rule in COOKIES.items():
        yield name, request.cookies.get(name, ""), rule


def check_request() -> None:
    """400 on the first field (query, form, a header or cookie the app reads) that fails its rule."""
    found = (_first_problem(request.args.items(multi=True)) or _first_problem(request.form.items(multi=True))
             or next((f for name, value, rule in _read_values() if (f := problem(name, value, rule))), None))
    if found:
        refused = _("The request was refused and changed nothing.")
        raise BadInput(400, f"{found} {refused}")


def init_app(app: Flask) -> None:
    """Check every request before its route runs."""
    app.before_request(check_request)
