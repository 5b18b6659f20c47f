"""Only a portal administrator manages the app: who is one, and the guard on state-changing routes.

Every user who can open the app gets a genuine AUTH_ID, so a confirmed frame POST says nothing
about rights. `user.admin` (DOCS api-reference/common/users/user-admin.md: any user may call it,
`{"result": true|false}`, no errors of its own) asked with that AUTH_ID does, for the installer and
ONAPPINSTALL; the app's opening asks `profile` and `user.get` instead (admin_checks.opening_right),
since user.admin keeps saying true for a dismissed user and for a system-user clone.

Rights change while a page is open (an administrator demoted, an employee terminated), so every
state-changing action asks again, and a verdict is believed for RECHECK_SECONDS only; linking a
QuickBooks company always asks. The question is `profile` with the user's own token (DOCS
common/users/profile.md: `ADMIN` "matches the result of user.admin", `ID` is the token's user, and
"if the user is inactive, the object is empty"), which also catches a terminated employee whose
tokens moved to a system-user clone with the same rights (DOCS settings/system-user.md): user.admin
would still say true, but the ID is no longer theirs. Any doubt counts as not-admin.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timezone

from flask_babel import lazy_gettext as _l

from clients.bitrix24_auth import PortalAuth
from store.crypto import TokenDecryptError
from store.portals import portal_by_member_id
from webhooks.admin_checks import (Right, ask_with_token, judge, opening_right, portal_profile, profile_of,
                                   verdict_key)
from webhooks.errors import PageError
from webhooks.frame_auth import FramePost
from webhooks.runtime import runtime
from webhooks.services import token_cipher
from webhooks.session import SESSION_LIFETIME, PortalSession, check_csrf, require_session
from webhooks.shared_cache import SharedCache, shared_cache

log = logging.getLogger("qb24.b24.admins")
RECHECK_SECONDS = 60  # how long Bitrix24's answer stands; DESIGN.md: rights are re-checked, not remembered
UNKNOWN_SECONDS = 30  # how long "Bitrix24 did not say" stands: a polling page must not cost a call a poll
VERDICTS = {Right.ADMIN: "1", Right.NOT_ADMIN: "0", Right.UNKNOWN: "?"}
TOKEN_MARGIN_SECONDS = 60  # a frame token this close to its expiry is not kept
# Lazy: each is read in the language of the request that raises it (webhooks/errors.PageError).
ADMIN_ONLY = _l("Only a Bitrix24 administrator can change these settings.")
UNCONFIRMED = _l("Bitrix24 did not confirm that you are still an administrator. "
                 "Open the app again from Bitrix24 and try again.")
INSTALL_ADMIN_ONLY = _l("Only a Bitrix24 administrator can install this app. Ask an administrator of your portal.")
ADMINS_ONLY = _l("Administrators only")  # the refusal's title


class AdminRequired(PageError):
    """A state-changing request from a user who is not a portal administrator (403)."""

    kind = "not_admin"


def user_is_admin(client_endpoint: str, access_token: str, member_id: str) -> bool:
    """Whether the token's user is a portal administrator; any failure to tell counts as no (and is logged)."""
    # client_endpoint is the trusted one (from app.info), never the request's own claim.
    answer = ask_with_token(client_endpoint, "user.admin", {"auth": access_token}, member_id)
    return answer.working and answer.result is True


def remember_opening(member_id: str, install_id: str | None, user_id: str | None, auth: PortalAuth,
                     right: Right) -> None:
    """Keep the opening's verdict and, for an administrator only, the frame access token (until
    shortly before it expires), encrypted, for the checks of the actions that follow."""
    if not user_id or not install_id:
        return
    key, cache = verdict_key(member_id, install_id, user_id), shared_cache()
    _keep(cache, key, right)
    ttl = (auth.expires_at - datetime.now(timezone.utc)).total_seconds() - TOKEN_MARGIN_SECONDS
    if auth.access_token:
        # Any opener's: it shows the app is still installed when the portal's own tokens are refused
        # for another reason (webhooks/uninstall.py, an installer dismissed). Never an authority.
        cache.put(opening_key(member_id, install_id), token_cipher().encrypt(auth.access_token) or "",
                  min(ttl, SESSION_LIFETIME.total_seconds()))
    if right is not Right.ADMIN or not auth.access_token:
        cache.delete("token:" + key)  # an earlier opening's token must not outlive a "no"
        return
    # Only the access token: the refresh token went to the portal's store (pages.py), and a
    # second holder refreshing it would break the sync's tokens (reference §2: rotation).
    cache.put("token:" + key, token_cipher().encrypt(auth.access_token) or "",
              min(ttl, SESSION_LIFETIME.total_seconds()))


def _keep(cache: SharedCache, key: str, right: Right) -> None:
    """A verdict stands RECHECK_SECONDS; "could not tell" only UNKNOWN_SECONDS (it may be a blip)."""
    cache.put("admin:" + key, VERDICTS[right], UNKNOWN_SECONDS if right is Right.UNKNOWN else RECHECK_SECONDS)


def opening_verdict(frame: FramePost) -> Right:
    """Whether the user who opened the app is an administrator, asked on their confirmed frame token."""
    return opening_right(frame.client_endpoint, frame.auth.access_token, frame.user_id, frame.member_id)


def opening_key(member_id: str, install_id: str) -> str:
    """The cache key of the latest opener's frame token for one install of one portal."""
    return "opening:" + verdict_key(member_id, install_id, "")


def latest_opening_token(member_id: str, install_id: str) -> str | None:
    """The frame access token of the latest user to open this install of the app, if still fresh."""
    return _unseal(shared_cache().get(opening_key(member_id, install_id)))


def admin_now(member_id: str, user_id: str | None, *, fresh: bool = False) -> Right:
    """Whether the user is an administrator of the portal's current install now, as Bitrix24 says
    (believed for RECHECK_SECONDS unless `fresh`). Costs at most one `profile` call per verdict,
    two when the user's frame token no longer works and the portal's tokens are asked instead."""
    with runtime().sessions() as db:
        portal = portal_by_member_id(db, member_id)
        if portal is None or portal.status != "installed" or not portal.install_id or not user_id:
            return Right.UNKNOWN  # nothing to ask about: the page must be opened again
        key, client_endpoint = verdict_key(member_id, portal.install_id, user_id), portal.client_endpoint
    cache = shared_cache()
    cached = None if fresh else cache.get("admin:" + key)
    for right, value in VERDICTS.items():
        if cached == value:
            return right
    right = _ask(member_id, client_endpoint, user_id, cache, key, fresh)
    _keep(cache, key, right)
    return right


def _ask(member_id: str, client_endpoint: str, user_id: str, cache: SharedCache, key: str, fresh: bool) -> Right:
    """The user's own frame token first; once it no longer works, the portal's stored tokens, whose
    answer stands only when they are this same user's (the last administrator to open the app)."""
    token = _unseal(cache.get("token:" + key))
    if token:
        answer = profile_of(client_endpoint, token, member_id)
        log.info("b24.admin.asked", extra={"member_id": member_id, "via": "frame", "fresh": fresh})
        if answer.working:
            return judge(answer.result, user_id, own_token=True)
        cache.delete("token:" + key)  # refused once, refused for good: never ask with it again
    answer = portal_profile(member_id)
    log.info("b24.admin.asked", extra={"member_id": member_id, "via": "portal", "fresh": fresh})
    return judge(answer.result, user_id, own_token=False) if answer.working else Right.UNKNOWN


def _unseal(sealed: str | None) -> str | None:
    try:
        return token_cipher().decrypt(sealed) if sealed else None
    except TokenDecryptError:  # the key was rotated away: ask with the portal's tokens instead
        return None


def refusal(right: Right) -> AdminRequired | None:
    """The 403 for a verdict other than ADMIN: not an administrator, or Bitrix24 did not say."""
    if right is Right.ADMIN:
        return None
    return AdminRequired(403, ADMIN_ONLY if right is Right.NOT_ADMIN else UNCONFIRMED, ADMINS_ONLY)


def require_admin(who: PortalSession) -> PortalSession:
    """403 for a session whose user was no administrator when the app opened (no call to Bitrix24)."""
    if not who.admin:
        raise AdminRequired(403, ADMIN_ONLY, ADMINS_ONLY)
    return who


def admin_action(*, fresh: bool = False) -> PortalSession:
    """The session of a state-changing POST: opened by an administrator, CSRF-checked, and its user
    still an administrator as Bitrix24 says now (asked at most every RECHECK_SECONDS unless `fresh`)."""
    who = require_admin(require_session())
    check_csrf()  # before any call to Bitrix24: a forged POST costs nothing
    error = refusal(admin_now(who.member_id, who.user_id, fresh=fresh))
    if error is not None:
        raise error
    return who


def as_now(who: PortalSession) -> PortalSession:
    """The session with `admin` as it stands now, for the page's controls (cached like actions)."""
    if not who.admin:
        return who
    return replace(who, admin=admin_now(who.member_id, who.user_id) is Right.ADMIN)


__all__ = ["ADMINS_ONLY", "ADMIN_ONLY", "INSTALL_ADMIN_ONLY", "AdminRequired", "Right", "admin_action", "admin_now",
           "as_now", "latest_opening_token", "opening_verdict", "refusal", "remember_opening", "require_admin",
           "user_is_admin"]
