"""Asking Bitrix24 whether a user is an administrator now, and reading its answer (webhooks/admins.py).

`profile` (DOCS api-reference/common/users/profile.md) answers for the token's user: `ID`, and
`ADMIN`, which "matches the result of the user.admin method"; for an inactive (terminated) user
"the object is empty". One call thus tells who the token belongs to and whether they administer.
A system-user clone (a dismissed employee's "preserved" integrations, DOCS settings/system-user.md)
has its own ID and the same rights, so at the app's opening, where app.info names the clone, a
`profile` saying ADMIN is confirmed with `user.get`, which "do[es] not return a system user".
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from enum import Enum
from typing import Any

import redis
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
    code: str = ""  # the error code when Bitrix24 refused the call


def verdict_key(member_id: str, install_id: str, user_id: str) -> str:
    """One user of one install of one portal: a reinstall starts with no verdicts and no tokens."""
    return hashlib.sha256(f"{member_id}\0{install_id}\0{user_id}".encode()).hexdigest()


def profile_of(client_endpoint: str, access_token: str, member_id: str) -> Answer:
    """`profile` asked with a user's frame token on the portal's trusted endpoint."""
    return ask_with_token(client_endpoint, "profile", {"auth": access_token}, member_id)


def ask_with_token(client_endpoint: str, name: str, params: dict, member_id: str) -> Answer:
    """One REST call with a user's token; any failure is `working` False (logged)."""
    try:
        response = requests.post(f"{client_endpoint}{name}.json", json=params,
                                 timeout=TIMEOUT, allow_redirects=False)
        body = response.json()
    except (requests.RequestException, ValueError) as exc:
        log.warning("b24.admin.check_failed", extra={"member_id": member_id, "method": name,
                                                     "error": type(exc).__name__})
        return Answer(False)
    if response.status_code != 200 or not isinstance(body, dict) or "result" not in body:
        code = str(body.get("error", "")) if isinstance(body, dict) else "not_json"
        log.info("b24.admin.check_refused", extra={"member_id": member_id, "method": name, "status": response.status_code,
                                                   "code": code[:64]})
        return Answer(False, code=code[:64])
    return Answer(True, body["result"])


def portal_profile(member_id: str) -> Answer:
    """`profile` asked with the portal's stored tokens (refreshed as the sync's client refreshes them)."""
    try:
        # quick: this runs on a request's path (short timeouts, no long waits for the limiter)
        return Answer(True, bitrix24_client(member_id, quick=True).call("profile").result)
    except (Bitrix24Error, PortalMissing, TokenDecryptError, RateLimitWait, LockTimeout,
            requests.RequestException, redis.RedisError) as exc:  # the limiter and locks live in Redis
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


def opening_right(client_endpoint: str, access_token: str, user_id: str | None, member_id: str) -> Right:
    """The verdict at the app's opening, on the frame token app.info confirmed for `user_id`: `profile`
    (an inactive user's is empty), then, for an ADMIN, `user.get` (a system user is never listed)."""
    if not user_id:
        return Right.UNKNOWN
    answer = profile_of(client_endpoint, access_token, member_id)
    right = judge(answer.result, user_id, own_token=True) if answer.working else Right.UNKNOWN
    if right is not Right.ADMIN:
        return right
    listed = ask_with_token(client_endpoint, "user.get",
                       {"auth": access_token, "filter": {"ID": user_id, "ACTIVE": True}}, member_id)
    if listed.code.lower() == "insufficient_scope":
        # An app registered without a user scope (`user_brief`; README) cannot ask: profile's answer
        # stands, and a dismissed admin's system-user clone is then not told apart (logged).
        log.warning("b24.admin.user_get_out_of_scope", extra={"member_id": member_id})
        return right
    if not listed.working or not isinstance(listed.result, list):
        return Right.UNKNOWN
    employee = any(isinstance(row, dict) and str(row.get("ID")) == user_id for row in listed.result)
    return Right.ADMIN if employee else Right.NOT_ADMIN
