"""The QuickBooks consent callback's grant: parameters checked, code exchanged, company confirmed.

Everything here is a claim of the caller's until Intuit has confirmed it. Reference §7: the callback
carries `code`, `state` and `realmId`; the token endpoint answers a bad or reused code with 400
`invalid_grant`; it never sees `realmId` (intuitlib's `get_bearer_token` posts only grant type, code and
redirect URI), so a `realmId` that is not the code's shows only when that company refuses the new grant.
Only Intuit failing (5xx, throttled, unreachable) is a 502; everything the caller got wrong is a 400.
"""
from __future__ import annotations

import logging
import re
import threading
from dataclasses import replace

from flask import request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from clients.quickbooks_auth import QboTokens
from clients.quickbooks_errors import AuthorizationRevoked, QuickBooksError, ServiceUnavailable, Throttled
from store.db import transaction
from webhooks.bitrix24_events import revoke_later, revoke_pending
from webhooks.errors import PageError
from webhooks.runtime import runtime
from webhooks.services import qbo_oauth, quickbooks_client

log = logging.getLogger("qb24.qbo.connect")

# Intuit company ids are decimal (every realmId in reference §1 and the fixtures; QboConnection.realm_id
# is String(32)); codes are short URL-safe strings (`AB11…`), so visible ASCII bounds them generously.
REALM_ID = re.compile(r"[0-9]{1,32}")
AUTH_CODE = re.compile(r"[\x21-\x7e]{1,512}")
OAUTH_ERROR = re.compile(r"[a-z_]{1,40}")  # RFC 6749 §4.1.2.1 error codes
AGAIN = _l("Nothing was connected. Go back to the app in Bitrix24 and click Log in again.")
MALFORMED = _l("QuickBooks sent back an incomplete or malformed answer.")
CODE_REFUSED = _l("QuickBooks says this sign-in code is not valid: it was already used, has expired or was altered.")
REALM_REFUSED = _l("QuickBooks did not confirm access to the QuickBooks company this sign-in named: the answer was "
                   "altered, or names a company that was not chosen.")


class CallbackRefused(PageError):
    """A callback whose code or company Intuit does not confirm, or whose parameters are malformed (400)."""

    kind = "oauth_callback"

    def __init__(self, why: str) -> None:
        super().__init__(400, f"{why} {AGAIN}", _("QuickBooks not connected"))


class IntuitUnavailable(PageError):
    """Intuit failed (5xx, throttled, unreachable) while the callback needed it."""

    kind = "qbo_unavailable"

    def __init__(self) -> None:
        super().__init__(502, _("QuickBooks did not complete the connection; please click Log in again."),
                         _("QuickBooks not connected"))


class HeldTokens:
    """RealmTokens for a grant not stored yet: the callback reads CompanyInfo before linking."""

    def __init__(self, tokens: QboTokens) -> None:
        self._tokens, self._guard = tokens, threading.Lock()

    def load(self, realm_id: str) -> QboTokens:
        return self.current

    def save(self, tokens: QboTokens) -> None:
        with self._guard:
            self._tokens = tokens

    @property
    def current(self) -> QboTokens:
        """The latest pair (a 401 on the first read rotates it once)."""
        with self._guard:
            return self._tokens


def oauth_error_label(error: str) -> str:
    """The callback's `error` as a log value: the caller's text only when shaped like an OAuth error code."""
    return error if OAUTH_ERROR.fullmatch(error) else "malformed"


def callback_params() -> tuple[str, str]:
    """The code and realmId; malformed ones never reach Intuit, the store or a log."""
    code, realm_id = request.args.get("code", ""), request.args.get("realmId", "")
    if not AUTH_CODE.fullmatch(code) or not REALM_ID.fullmatch(realm_id):
        raise CallbackRefused(MALFORMED)
    return code, realm_id


def exchange(portal_id: int, code: str, realm_id: str) -> QboTokens:
    """The grant behind `code`; a forged, reused or expired code is the caller's error, not Intuit's."""
    try:
        return qbo_oauth().exchange_code(code, realm_id)
    except AuthorizationRevoked:  # 400 invalid_grant: no grant was made
        log.info("qbo.connect.code_refused", extra={"portal_id": portal_id})
        raise CallbackRefused(CODE_REFUSED) from None
    except QuickBooksError as exc:
        raise unavailable(portal_id, exc) from None


def confirm_company(portal_id: int, realm_id: str, held: HeldTokens) -> str | None:
    """The company's name, read through the new grant, which proves the grant is for `realm_id`.

    Refused by the company (401/403, or any other non-transient answer to a brand-new token): the
    realmId is not the code's, and the grant is revoked here. Its true company is unknown, so the
    live-elsewhere check cannot apply; only that company's own user could consent to it, so revoking
    it gives nobody a power they lacked. Intuit failing raises IntuitUnavailable; the caller revokes.
    """
    try:
        company = quickbooks_client(realm_id, held).company_info()
    except (ServiceUnavailable, Throttled) as exc:
        raise unavailable(portal_id, exc) from None
    except QuickBooksError as exc:
        log.info("qbo.connect.realm_refused", extra={"portal_id": portal_id, "error": type(exc).__name__})
        revoke_unknown(held.current)
        raise CallbackRefused(REALM_REFUSED) from None
    return company.get("CompanyName")


def unavailable(portal_id: int, exc: QuickBooksError) -> IntuitUnavailable:
    """The 502 to raise, logged with the failure's class and status only (its text may hold a URL)."""
    log.warning("qbo.connect.failed", extra={"portal_id": portal_id, "error": type(exc).__name__,
                                             "status": exc.status})
    return IntuitUnavailable()


def revoke_unknown(tokens: QboTokens) -> None:
    """Revoke a grant whose company is unknown, by the worker (workers/revocations.py), with its retries.
    Its tokens carry the realm the callback claimed, not its company: stored with no realm, so a live
    connection to the claimed realm is no reason for the worker to keep it."""
    with transaction(runtime().sessions) as session:
        revoke_later(session, replace(tokens, realm_id=""), "stray")
    revoke_pending(session)
