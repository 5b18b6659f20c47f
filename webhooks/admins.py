"""Only a portal administrator manages the app: who is one, and the guard on state-changing routes.

Every user who can open the app gets a genuine AUTH_ID, so a confirmed frame POST says nothing
about rights. `user.admin` (DOCS api-reference/common/users/user-admin.md: any user may call it,
`{"result": true|false}`, no errors of its own) asked with that AUTH_ID does.
"""
from __future__ import annotations

import logging

import requests

from webhooks.errors import PageError
from webhooks.session import PortalSession

log = logging.getLogger("qb24.b24.admins")
TIMEOUT = (5, 15)
ADMIN_ONLY = "Only a Bitrix24 administrator can change these settings."
INSTALL_ADMIN_ONLY = "Only a Bitrix24 administrator can install this app. Ask an administrator of your portal."


class AdminRequired(PageError):
    """A state-changing request from a user who is not a portal administrator (403)."""

    kind = "not_admin"


def user_is_admin(client_endpoint: str, access_token: str, member_id: str) -> bool:
    """Whether the token's user is a portal administrator; any failure to tell counts as no (and is logged)."""
    # client_endpoint is the trusted one (from app.info), never the request's own claim.
    try:
        response = requests.post(f"{client_endpoint}user.admin.json", json={"auth": access_token},
                                 timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        log.warning("b24.user_admin.failed", extra={"member_id": member_id, "error": type(exc).__name__})
        return False
    try:
        body = response.json()
    except ValueError:
        body = None
    result = body.get("result") if isinstance(body, dict) else None
    if response.status_code != 200 or not isinstance(result, bool):
        code = str(body.get("error", "")) if isinstance(body, dict) else "not_json"
        log.warning("b24.user_admin.failed", extra={"member_id": member_id, "status": response.status_code,
                                                    "code": code[:64]})
        return False
    return result


def require_admin(who: PortalSession) -> PortalSession:
    """The session unchanged when its user is an administrator; 403 otherwise."""
    if not who.admin:
        raise AdminRequired(403, ADMIN_ONLY, "Administrators only")
    return who
