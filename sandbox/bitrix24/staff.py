"""Changing a portal user's standing: an administrator demoted or promoted, an employee terminated.

A terminated employee's integrations go one of two ways, chosen by the administrator in a dialog
(DOCS settings/system-user.md § How the transfer works): "Terminate and disable integrations"
(webhooks and applications stop working) or "Terminate and preserve integrations" (a system user,
EXTERNAL_AUTH_ID `rest_system`, is created per application with the employee's access groups, and
the application works with that clone "transparently"; not supported for local applications).
"""
from __future__ import annotations

import re
from typing import Any

from sandbox.bitrix24.errors import RestError
from sandbox.bitrix24.permissions import set_read
from sandbox.bitrix24.state import Portal, State, Token, User

INTEGRATIONS = ("disable", "preserve")
LANGUAGE_ID = re.compile(r"[a-z]{2}")  # Bitrix24's ids are two lowercase letters: en, de, ru, ua, br, la, sc, tc, …


def is_language(value: Any) -> bool:
    """Whether `value` has the shape of a Bitrix24 language id (the portal does not check it is one it ships)."""
    return isinstance(value, str) and LANGUAGE_ID.fullmatch(value) is not None


def update_user(state: State, portal: Portal, user_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """Apply `admin` (bool), `active` (bool; false terminates, with `integrations`), `crm_read`
    (permissions.set_read) and `language` (the interface language, a frame's LANG) to a user; a bad body
    changes nothing."""
    user = portal.users.get(user_id)
    if user is None or user.system:
        raise RestError(404, "USER_NOT_FOUND", f"No user {user_id} on portal {portal.member_id}")
    unknown = sorted(set(body) - {"admin", "active", "integrations", "crm_read", "language"})
    if unknown or any(not isinstance(body.get(k, False), bool) for k in ("admin", "active")):
        raise RestError(400, "INVALID_BODY",
                        "known keys: admin (bool), active (bool), integrations, crm_read, language")
    if "language" in body and not is_language(body["language"]):
        raise RestError(400, "INVALID_BODY", "language must be a Bitrix24 language id such as en, de, ru or ua")
    integrations = body.get("integrations", "disable")
    if integrations not in INTEGRATIONS:
        raise RestError(400, "INVALID_BODY", f"integrations must be one of {', '.join(INTEGRATIONS)}")
    if "crm_read" in body:
        set_read(user, body["crm_read"])  # validates before it changes anything
    if "admin" in body:
        user.admin = body["admin"]
    if "language" in body:
        user.language = body["language"]
    if body.get("active") is False and user.active:
        user.active = False
        if integrations == "preserve":
            _transfer_to_system_users(state, portal, user)
    elif body.get("active") is True:
        user.active = True
    return user.as_dict()


def _transfer_to_system_users(state: State, portal: Portal, user: User) -> None:
    """Hand the user's tokens of each Market application to a clone with the same rights."""
    clones: dict[str, User] = {}
    for token in list(state.tokens.values()):
        theirs = token.member_id == portal.member_id and token.user_id == user.id
        if not theirs or token.client_id.startswith("local."):
            continue  # DOCS system-user.md: "For local applications, transfer ... is not supported."
        if token.client_id not in clones:
            app = state.apps[token.client_id]
            # DOCS system-user.md § Parameters: NAME = application name, LAST_NAME empty, groups inherited.
            clones[token.client_id] = portal.add_user(user.admin, app.code, "", system=True)
        token.user_id = clones[token.client_id].id


def refused_for_terminated(state: State, token: Token) -> bool:
    """Whether a terminated employee's token no longer works (the app's `fired_user_tokens` reading)."""
    portal = state.portals.get(token.member_id)
    user = portal.users.get(token.user_id) if portal else None
    if user is None or user.active:
        return False
    return state.apps[token.client_id].switches.fired_user_tokens == "refused"


def user_is_inactive(portal: Portal, user_id: int) -> bool:
    """A terminated employee (a system-user clone is active)."""
    user = portal.users.get(user_id)
    return user is not None and not user.active
