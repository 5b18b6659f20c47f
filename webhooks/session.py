"""The app page's session (a signed cookie, one portal only), link tokens and CSRF tokens."""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Flask, Request, Response, current_app, g, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from store.portals import portal_by_member_id
from webhooks.errors import PageError
from webhooks.runtime import runtime

SESSION_LIFETIME = timedelta(hours=8)
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class SessionError(PageError):
    """No valid session for this portal (401) or a session used against another portal (403)."""

    kind = "session"


@dataclass(frozen=True)
class PortalSession:
    """Who the framed app page is talking to."""

    member_id: str
    user_id: str | None
    portal_id: int
    # An administrator when the app was opened (user.admin then); every state-changing action asks
    # Bitrix24 again (webhooks/admins.py), so this alone authorises nothing.
    admin: bool = False


def start_session(member_id: str, user_id: str | None, admin: bool, install_id: str) -> None:
    """Begin a fresh session for one portal, user and install (after authenticate_frame_post)."""
    session.clear()
    session.update({"member_id": member_id, "user_id": user_id, "admin": admin is True,
                    "install": install_id, "csrf": secrets.token_urlsafe(24)})


def session_is_admin() -> bool:
    """Whether the request's session (if any) is an administrator's; a cookie from before the flag is not."""
    return session.get("admin") is True


def non_admin_session() -> bool:
    """The request carries a session, and it is not an administrator's."""
    return bool(session.get("member_id")) and not session_is_admin()


def require_session() -> PortalSession:
    """The current session; 401 when missing or the portal is gone, 403 when the request names another portal."""
    member_id = session.get("member_id")
    if not member_id:
        raise _no_session()
    named = request.values.get("member_id")
    # compare_digest refuses str with non-ASCII characters (TypeError); bytes take any input.
    if named is not None and not hmac.compare_digest(named.encode(), member_id.encode()):
        raise SessionError(403, "This session belongs to another Bitrix24 portal.")
    with runtime().sessions() as db:
        portal = portal_by_member_id(db, member_id)
        if portal is None or portal.status != "installed":
            raise SessionError(401, "The app is not installed on this portal any more.")
        g.frame_origin = origin(portal.client_endpoint)  # refusals from here on show in its frame
        if not _same_install(session.get("install"), portal.install_id):
            raise SessionError(401, "This session belongs to an earlier installation of the app. "
                                    "Open the app again from Bitrix24.")
        return PortalSession(member_id, session.get("user_id"), portal.id, session_is_admin())


def open_in_bitrix24() -> str:
    """How to open the app: it works only in the portal's frame, which signs the user in."""
    return _("This app works only inside your Bitrix24 portal. Open it there: click the app in the portal's left "
             "menu, or go to Applications (Market in newer Bitrix24) → Installed and open it from the list.")


def _no_session() -> SessionError:
    """Why a request has no session: none was ever started in this browser (the app was opened outside
    Bitrix24), the browser would not keep it in the frame, or it expired."""
    if request.cookies.get(current_app.config["SESSION_COOKIE_NAME"]):
        # Flask drops a cookie past its lifetime or with a bad signature: the session is gone, not absent
        return SessionError(401, _("Your session has expired. Open the app again from Bitrix24."))
    # Bitrix24 opens the frame with a POST that starts the session, so a framed request without the cookie
    # means the browser refused it (third-party cookies blocked). Sec-Fetch-Dest names the frame:
    # https://developer.mozilla.org/en-US/docs/Web/HTTP/Reference/Headers/Sec-Fetch-Dest
    if request.headers.get("Sec-Fetch-Dest") == "iframe":
        return SessionError(401, _("Your browser did not keep this app's session inside Bitrix24; it may block "
                                   "third-party cookies. Allow cookies for this app's site, then open the app "
                                   "again from Bitrix24."))
    return SessionError(401, open_in_bitrix24(), _("Open this app from Bitrix24"))


def _same_install(held: object, current: str | None) -> bool:
    """Whether the cookie names the portal's current install (a cookie from before the id is not)."""
    if not isinstance(held, str) or current is None:
        return False
    return hmac.compare_digest(held.encode(), current.encode())


def origin(url: str) -> str:
    """`scheme://host[:port]` of a URL; a scheme-relative one (`//api.bitrix24.com/...`) counts as https."""
    parts = urlsplit(url if "//" in url else "//" + url, scheme="https")
    return f"{parts.scheme}://{parts.netloc}"


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"qb24.link.{purpose}")


def link_token(member_id: str, user_id: str | None, purpose: str) -> str:
    """A signed, timestamped token for a top-level link (which cannot carry the framed cookie),
    bound like the session to the install it was issued under."""
    return _serializer(purpose).dumps([member_id, user_id, session.get("install")])


def read_link_token(token: str, purpose: str, max_age: int) -> tuple[str, str | None]:
    """(member_id, user_id) from a link token; 400 when forged, expired or for another purpose, 401
    when issued under an earlier install of the app (as its session would be)."""
    try:
        member_id, user_id, install = _serializer(purpose).loads(token, max_age=max_age)
    except SignatureExpired:
        raise SessionError(400, "This link has expired. Go back to the app in Bitrix24 and click again.") from None
    except (BadSignature, ValueError, TypeError):
        raise SessionError(400, "This link is not valid. Go back to the app in Bitrix24 and click again.") from None
    with runtime().sessions() as db:
        portal = portal_by_member_id(db, str(member_id))
        if portal is None or not _same_install(install, portal.install_id):
            raise SessionError(401, "This link belongs to an earlier installation of the app. "
                                    "Open the app again from Bitrix24.")
    return str(member_id), None if user_id is None else str(user_id)


def csrf_token() -> str:
    """The session's CSRF token, for hidden form fields and the X-CSRF-Token header."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def check_csrf() -> None:
    """403 unless the POST carries the session's CSRF token."""
    expected = session.get("csrf") or ""
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise SessionError(403, "This form has expired or did not come from the app. Reload the app and try again.")


class CookieSessions(SecureCookieSessionInterface):
    """The signed cookie, except on the paths in app.config["SESSIONLESS_PATHS"]: machine-to-machine routes
    (QuickBooks' webhook) read no session, so none is parsed or signed for them (Flask gives them its
    null session, which refuses writes and is never saved)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path in app.config.get("SESSIONLESS_PATHS", ()):
            return None
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    """Cookie flags: the app lives in a third-party iframe, so on https the cookie must be
    SameSite=None; Secure (and Partitioned, for browsers that block third-party cookies)."""
    https = runtime_https(app)
    app.config.update(SESSION_COOKIE_NAME="qb24_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="None" if https else "Lax", SESSION_COOKIE_SECURE=https,
                      SESSION_COOKIE_PARTITIONED=https,
                      # Bitrix24 re-posts fresh auth on every open, so a cookie older than this is
                      # refused instead of revived; one from an earlier install is refused at once.
                      PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME)
    app.session_interface = CookieSessions()
    app.after_request(frame_ancestors)


def frame_ancestors(response: Response) -> Response:
    """Every response not given a policy of its own (error pages, the consent tab, 404s) may be
    framed only by the confirmed portal, or by nobody when no portal is confirmed yet."""
    if "Content-Security-Policy" not in response.headers:
        response.headers["Content-Security-Policy"] = "frame-ancestors " + (g.get("frame_origin") or "'none'")
    response.headers.pop("X-Frame-Options", None)
    return response


def runtime_https(app: Flask) -> bool:
    return app.extensions["qb24"].settings.app_base_url.startswith("https:")
