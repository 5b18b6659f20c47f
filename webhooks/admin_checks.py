"""Asking Bitrix24 whether a user is an administrator now, and reading its answer (webhooks/admins.py).

`profile` (DOCS api-reference/common/users/profile.md) answers for the token's user: `ID`, and
`ADMIN`, which "matches the result of the user.admin method"; for an inactive (terminated) user
"the object is empty". One call thus tells who the token belongs to and whether they administer.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from enum import Enum
from typing import Any

import requests

from clients.bitrix24_errors import Bitrix24Error
from clients.coordination import LockTimeout
from clients.ratelimit import RateLimitWait
from store.crypto import TokenDecryptError
from store.tokens import PortalMissing
from webhooks.services import bitrix24_client

log = logging.getLogger("qb24.b24.admins")
TIMEOUT = (5, 15)


class Right(Enum):
    """A user's standing as Bitrix24 told it (UNKNOWN: it did not, so the answer is no, uncached)."""

    ADMIN = "admin"
    NOT_ADMIN = "not_admin"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Answer:
    """`profile`'s result, or `working` False when the token no longer works or the call failed."""

    working: bool
    result: Any = None


def verdict_key(member_id: str, install_id: str, user_id: str) -> str:
    """One user of one install of one portal: a reinstall starts with no verdicts and no tokens."""
    return hashlib.sha256(f"{member_id}\0{install_id}\0{user_id}".encode()).hexdigest()


def profile_of(client_endpoint: str, access_token: str, member_id: str) -> Answer:
    """`profile` asked with a user's frame token on the portal's trusted endpoint."""
    try:
        response = requests.post(f"{client_endpoint}profile.json", json={"auth": access_token},
                                 timeout=TIMEOUT, allow_redirects=False)
        body = response.json()
    except (requests.RequestException, ValueError) as exc:
        log.warning("b24.admin.check_failed", extra={"member_id": member_id, "error": type(exc).__name__})
        return Answer(False)
    if response.status_code != 200 or not isinstance(body, dict) or "result" not in body:
        code = str(body.get("error", "")) if isinstance(body, dict) else "not_json"
        log.info("b24.admin.check_refused", extra={"member_id": member_id, "status": response.status_code,
                                                   "code": code[:64]})
        return Answer(False)
    return Answer(True, body["result"])


def portal_profile(member_id: str) -> Answer:
    """`profile` asked with the portal's stored tokens (refreshed as the sync's client refreshes them)."""
    try:
        return Answer(True, bitrix24_client(member_id).call("profile").result)
    except (Bitrix24Error, PortalMissing, TokenDecryptError, RateLimitWait, LockTimeout,
            requests.RequestException) as exc:
        log.info("b24.admin.check_failed", extra={"member_id": member_id, "via": "portal",
                                                  "error": getattr(exc, "code", None) or type(exc).__name__})
        return Answer(False)


def judge(result: Any, user_id: str, *, own_token: bool) -> Right:
    """ADMIN only for `{"ID": <the user>, "ADMIN": true}`. An empty profile (terminated) or another
    ID on the user's own token (moved to a system user) is a no; another ID on the portal's tokens
    says nothing about this user."""
    if isinstance(result, dict) and str(result.get("ID", "")) == user_id:
        return Right.ADMIN if result.get("ADMIN") is True else Right.NOT_ADMIN
    return Right.NOT_ADMIN if own_token else Right.UNKNOWN
