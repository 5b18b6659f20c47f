"""Authenticate the POST Bitrix24 sends when it opens the installer, the app page or a widget.

The POST's fields are only claims: anyone can send them. Its AUTH_ID is believed only once a
*configured* OAuth server (never one named by the request) answers `app.info` for it with this
app's client id and the same member_id; the portal's domain comes from that answer too.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Request

from clients.bitrix24_auth import PortalAuth
from webhooks.confirm_limit import admit_confirmation
from webhooks.errors import PageError
from webhooks.runtime import runtime
from webhooks.session import origin

log = logging.getLogger("qb24.b24.frame_auth")
TIMEOUT = (5, 15)
AUTH_LIFETIME = re.compile(r"[0-9]{1,9}")


class FrameAuthError(PageError):
    """The frame POST is malformed (400), not confirmed (401) or for another app/portal (403)."""

    kind = "frame_auth"


@dataclass
class FramePost:
    """A confirmed iframe POST: who opened what, with the user's fresh tokens."""

    member_id: str
    user_id: str | None
    domain: str
    protocol: str
    client_endpoint: str
    server_endpoint: str
    auth: PortalAuth = field(repr=False)
    application_token: str | None = field(repr=False)
    placement: str
    placement_options: dict
    lang: str
    installed: bool | None = None  # app.info INSTALLED on the trusted server, when it said


@dataclass(frozen=True)
class TrustedToken:
    """What a trusted OAuth server confirmed about an access token."""

    member_id: str
    domain: str
    client_endpoint: str
    server_endpoint: str  # <trusted server>/rest/
    installed: bool | None
    user_id: str | None
    expires_at: datetime | None


def trusted_server(server_endpoint: str) -> str | None:
    """The configured server `server_endpoint` (`<base>/rest/`) points at, or None if it is not one."""
    try:
        parts = urlsplit(server_endpoint.strip())
    except ValueError:  # e.g. "http://[::1/rest/": an unclosed IPv6 bracket
        return None
    if parts.path.rstrip("/") not in ("", "/rest") or parts.query or parts.username or parts.password:
        return None
    wanted = f"{parts.scheme}://{parts.netloc}".lower()
    for base in runtime().settings.b24_oauth_servers:
        if base.lower().rstrip("/") == wanted:
            return base.rstrip("/")
    return None


def confirm_token(server_endpoint: str | None, access_token: str, member_id: str) -> TrustedToken:
    """Ask the trusted server who `access_token` belongs to; raise FrameAuthError unless it is ours."""
    if server_endpoint:
        base = trusted_server(server_endpoint)
        if base is None:
            raise FrameAuthError(401, "This request names a Bitrix24 OAuth server this app does not trust.")
        candidates = [base]
    else:
        # The captured install POST (fixtures) has no SERVER_ENDPOINT: try each trusted server.
        candidates = [b.rstrip("/") for b in runtime().settings.b24_oauth_servers]
    admit_confirmation()  # anyone can send this request: bound the calls it makes, per address
    answer, base = _ask_servers(candidates, access_token)
    return _trusted(answer, base, member_id)


def still_installed(server_endpoint: str, access_token: str, member_id: str) -> bool:
    """Whether app.info, asked with a user's frame token on the portal's stored (trusted) server,
    says our app is installed on the portal; any failure or doubt is False (no per-address bound:
    the caller already took its slot, or runs off any request)."""
    base = trusted_server(server_endpoint)
    if base is None:
        return False
    try:
        trusted = _trusted(*_ask_servers([base], access_token), member_id)
    except FrameAuthError:
        return False
    return trusted.installed is True


def _ask_servers(candidates: list[str], access_token: str) -> tuple[dict, str]:
    unreachable = False
    for base in candidates:
        try:
            response = requests.post(f"{base}/rest/app.info.json", data={"auth": access_token},
                                     timeout=TIMEOUT, allow_redirects=False)
        except requests.RequestException as exc:
            log.warning("b24.frame_auth.unreachable", extra={"server": base, "error": type(exc).__name__})
            unreachable = True
            continue
        body = _json(response)
        if response.status_code == 200 and isinstance(body.get("result"), dict):
            return body["result"], base
        log.info("b24.frame_auth.refused", extra={"server": base, "status": response.status_code,
                                                   "code": str(body.get("error", ""))[:64]})
    if unreachable:
        raise FrameAuthError(502, "Bitrix24 could not be reached to confirm this request; try again shortly.")
    raise FrameAuthError(401, "Bitrix24 did not confirm this request (the sign-in is invalid or has expired). "
                              "Open the app again from your Bitrix24 portal.")


def _json(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _install_block(answer: dict) -> dict:
    """app.info's `install` block: `{installed, version, status, scope, domain, uri, client_endpoint,
    member_id, member_type}` beside top-level `client_id, scope, expires, user_id` (b24pysdk 1.3.2
    schemas/api.py B24AppInfoResultData, the official SDK's parser of this very answer)."""
    install = answer.get("install")
    return install if isinstance(install, dict) else {}


def _expires_at(value: Any) -> datetime | None:
    """`expires` is an ISO 8601 string with an offset (b24pysdk parses it with fromisoformat)."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment.astimezone(timezone.utc) if moment.tzinfo else None


def _trusted(answer: dict, base: str, member_id: str) -> TrustedToken:
    install = _install_block(answer)
    if answer.get("client_id") != runtime().settings.b24_client_id:
        raise FrameAuthError(403, "This sign-in was issued to another Bitrix24 application.")
    if install.get("member_id") != member_id:
        raise FrameAuthError(403, "This sign-in belongs to another Bitrix24 portal.")
    domain = install.get("domain")
    if not domain or not isinstance(domain, str):
        raise FrameAuthError(401, "Bitrix24 did not name the portal for this sign-in; open the app again.")
    # The portal speaks the trusted server's scheme: https in production, http only in the sandbox.
    scheme = urlsplit(base).scheme
    installed, user_id = install.get("installed"), answer.get("user_id")
    return TrustedToken(
        member_id=member_id, domain=domain, client_endpoint=f"{scheme}://{domain}/rest/",
        server_endpoint=f"{base}/rest/", installed=installed if isinstance(installed, bool) else None,
        user_id=None if user_id in (None, "") else str(user_id), expires_at=_expires_at(answer.get("expires")),
    )


def _profile_user_id(client_endpoint: str, access_token: str) -> str | None:
    """The user who opened the frame (`profile`), when the OAuth server did not say."""
    try:
        response = requests.post(f"{client_endpoint}profile.json", json={"auth": access_token},
                                 timeout=TIMEOUT, allow_redirects=False)
        user = _json(response).get("result") or {}
    except requests.RequestException:
        return None
    return str(user["ID"]) if isinstance(user, dict) and user.get("ID") else None


def _placement_options(raw: str) -> dict:
    if not raw:
        return {}
    try:
        options = json.loads(raw)
    except (ValueError, RecursionError):  # "[[[[…" deeper than the parser's stack is malformed too
        raise FrameAuthError(400, "PLACEMENT_OPTIONS is not valid JSON.") from None
    return options if isinstance(options, dict) else {}


def authenticate_frame_post(req: Request, outside: str | None = None) -> FramePost:
    """Parse and confirm an installer/app/widget POST; raise FrameAuthError when it is not genuine.
    `outside`: what to tell a POST without Bitrix24's sign-in (a page opened outside the portal)."""
    form = req.form
    access_token, member_id = form.get("AUTH_ID", "").strip(), form.get("member_id", "").strip()
    if not access_token or not member_id:
        raise FrameAuthError(400, outside or "This page must be opened by Bitrix24 (AUTH_ID and member_id are missing).")
    options = _placement_options(form.get("PLACEMENT_OPTIONS", ""))
    lifetime = form.get("AUTH_EXPIRES", "").strip() or "3600"
    if not AUTH_LIFETIME.fullmatch(lifetime):  # str.isdigit() admits "²", and 10**30 s overflows
        raise FrameAuthError(400, "AUTH_EXPIRES is not a number of seconds.")
    trusted = confirm_token(form.get("SERVER_ENDPOINT"), access_token, member_id)
    expires_at = trusted.expires_at or datetime.now(timezone.utc) + timedelta(seconds=int(lifetime))
    auth = PortalAuth(member_id=member_id, domain=trusted.domain, client_endpoint=trusted.client_endpoint,
                      server_endpoint=trusted.server_endpoint, access_token=access_token,
                      refresh_token=form.get("REFRESH_ID", ""), expires_at=expires_at)
    user_id = trusted.user_id or _profile_user_id(trusted.client_endpoint, access_token)
    return FramePost(
        member_id=member_id, user_id=user_id, domain=trusted.domain,
        protocol="1" if trusted.client_endpoint.startswith("https:") else "0",
        client_endpoint=trusted.client_endpoint, server_endpoint=trusted.server_endpoint, auth=auth,
        application_token=form.get("APPLICATION_TOKEN") or None, placement=form.get("PLACEMENT") or "DEFAULT",
        placement_options=options, lang=req.args.get("LANG") or "en", installed=trusted.installed,
    )


def portal_origin(post: FramePost | TrustedToken) -> str:
    """The portal's origin, for `Content-Security-Policy: frame-ancestors`."""
    return origin(post.client_endpoint)
