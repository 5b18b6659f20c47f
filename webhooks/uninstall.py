"""ONAPPUNINSTALL is a claim: Bitrix24 itself confirms it before anything is stopped or deleted.

The application token reaches every user who opens the app (reference §1.1), so an uninstall event
carrying it proves only "someone in this portal". The rule:

- Bitrix24 is asked with the portal's *stored* credentials, never with anything in the request:
  `app.info` on the portal's REST with the stored access token; on a 401 (or a stored token past
  its expiry) the stored refresh token is exchanged at the stored OAuth server. After a real
  uninstall "API access is already revoked" (§1.4): the refresh answers `invalid_grant` (the grant
  is gone), or `invalid_client` / `PAYMENT_REQUIRED` (the server refuses the app for this portal;
  DOCS settings/oauth/error-codes.md). While the app is installed `app.info` (or the refresh) works.
- Asked only for an installed portal, and only when the event's token matches the held one or the
  portal holds none yet (its ONAPPINSTALL is late, §1.2); anything else is 401 without a call.
- Gone or refused → the portal is stopped (webhooks/bitrix24_events.stop_portal). CLEAN cannot be
  confirmed with Bitrix24: it is applied only when the grant is gone (`invalid_grant`) and the
  event's token matched. Working → the claim is refused (403; 401 when the token did not match).
- No answer (network, 5xx, limits) → the claim is kept on the portal (store/portals.py) and asked
  again, once per B24_UNINSTALL_RETRY_S, after the answer to a later Bitrix24 event, and by the
  installer before a reinstall stores new tokens. Bitrix24 never resends an event (§3). While a
  claim is held, a later one can lower its CLEAN, never raise it; an answer obtained with tokens
  that were replaced meanwhile (a reinstall) decides nothing.
- Once stopped, the portal holds no application token and no Bitrix24 tokens: any later
  ONAPPUNINSTALL (a replay with CLEAN=1 included) or event with the old token is 401.

Cost on the event path: 1 call when the app is installed (app.info; 2 if our stored token had
expired: refresh, app.info), 2 for a real uninstall (app.info → 401, refresh → refused; 1 when our
stored token had expired), 0 for anything refused before asking.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from enum import Enum
from typing import Any

import redis
import requests
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from clients.bitrix24 import Bitrix24Client
from clients.bitrix24_errors import Bitrix24Error, InvalidClient, InvalidGrant, NoAuthFound, PaymentRequired
from clients.coordination import LockTimeout
from store.db import transaction
from store.models import Portal, utcnow
from store.portals import drop_uninstall_claim, held_clean, hold_uninstall_claim, portal_by_member_id, take_due_claim
from webhooks.bitrix24_events import EventRefused, revoke_pending, section, stop_portal, token_matches
from webhooks.confirm_limit import admit_confirmation
from webhooks.runtime import runtime
from webhooks.services import bitrix24_client, portal_tokens

log = logging.getLogger("qb24.b24.uninstall")
# What "Bitrix24 gave no answer" looks like: the network, a 5xx or limit (Bitrix24Error), our lock or
# limiter (Redis), or no stored tokens to ask with (LookupError).
NO_ANSWER = (Bitrix24Error, requests.RequestException, redis.RedisError, LockTimeout, LookupError)


class Verdict(Enum):
    """What Bitrix24 said about the app on a portal, asked with the portal's stored credentials."""

    INSTALLED = "installed"  # app.info answered, or the refresh gave a new pair: the grant lives
    GONE = "gone"  # the stored refresh token is refused with invalid_grant: the grant was revoked
    REFUSED = "refused"  # invalid_client / PAYMENT_REQUIRED: no tokens for this app on this portal
    UNKNOWN = "unknown"  # no answer that decides: ask again later


def ask_bitrix24(member_id: str) -> Verdict:
    """Whether the app is still installed on the portal (1 or 2 outbound calls, see the module doc)."""
    client = bitrix24_client(member_id, quick=True)
    try:
        client.call("app.info")  # the client refreshes first on expiry, and on a 401 expired/invalid token
    except NoAuthFound:  # a 401 the client does not refresh on: the refresh token decides
        return _by_refresh(client, member_id)
    except NO_ANSWER as exc:
        return _verdict(exc, member_id)
    return Verdict.INSTALLED


def _by_refresh(client: Bitrix24Client, member_id: str) -> Verdict:
    try:
        client.refresh(portal_tokens().load(member_id).access_token)
    except NO_ANSWER as exc:
        return _verdict(exc, member_id)
    return Verdict.INSTALLED


def _verdict(exc: Exception, member_id: str) -> Verdict:
    if isinstance(exc, InvalidGrant):
        return Verdict.GONE
    if isinstance(exc, (InvalidClient, PaymentRequired)):
        return Verdict.REFUSED
    log.warning("b24.uninstall.unconfirmed", extra={"member_id": member_id, "error": type(exc).__name__,
                                                    "code": getattr(exc, "code", None)})
    return Verdict.UNKNOWN


def on_app_uninstall(payload: dict[str, Any], auth: dict[str, Any]) -> str:
    """Check the claim against the store, ask Bitrix24, act on its answer (see the module doc)."""
    member_id, token = str(auth.get("member_id") or ""), str(auth.get("application_token") or "")
    with runtime().sessions() as session:
        portal = portal_by_member_id(session, member_id) if member_id and token else None
        matched = portal is not None and token_matches(portal, token)
        if not _may_ask(portal, matched):
            raise EventRefused(401, "The event's application token does not match this portal.")
        held = portal.refresh_token_enc
    clean = str(section(payload, "data").get("CLEAN", "0")) in ("1", "Y")
    admit_confirmation()  # each claim costs calls to Bitrix24: bound them per address, matched or not
    outcome = settle(member_id, ask_bitrix24(member_id), clean and matched, held)
    if outcome == "refused" and matched:
        raise EventRefused(403, "Bitrix24 says the app is still installed on this portal; the uninstall is refused.")
    if outcome == "refused":
        raise EventRefused(401, "The event's application token does not match this portal.")
    return outcome


def _may_ask(portal: Portal | None, matched: bool) -> bool:
    """An installed portal, and a token that matches or none held yet (its ONAPPINSTALL is late)."""
    return (portal is not None and portal.status == "installed"
            and (matched or portal.application_token_enc is None))


def settle(member_id: str, verdict: Verdict, clean: bool | None, held: str | None) -> str:
    """Act on Bitrix24's answer in one transaction; `clean` None for a held claim asked again, `held`
    the stored refresh token (encrypted) Bitrix24 was asked with."""
    with transaction(runtime().sessions) as session:
        # The row lock makes two claims settled at once act one after the other (PostgreSQL; SQLite
        # serialises writers anyway): the second finds the portal stopped and changes nothing.
        portal = session.scalar(select(Portal).where(Portal.member_id == member_id).with_for_update())
        if portal is None or portal.status != "installed":
            return "ignored"  # settled meanwhile by another request
        if verdict in (Verdict.GONE, Verdict.REFUSED) and portal.refresh_token_enc != held:
            verdict = Verdict.UNKNOWN  # new tokens arrived meanwhile (a reinstall, a refresh): ask with them
        outcome = _act(session, portal, verdict, clean)
    revoke_pending(session)
    return outcome


def _act(session: Session, portal: Portal, verdict: Verdict, clean: bool | None) -> str:
    if verdict is Verdict.INSTALLED:
        drop_uninstall_claim(portal)  # a held claim is answered too: the app is installed now
        return "refused"
    if verdict is Verdict.UNKNOWN:
        hold_uninstall_claim(portal, clean)
        return "pending"
    wanted = held_clean(portal, clean)
    if wanted and verdict is Verdict.REFUSED:
        log.warning("b24.uninstall.clean_withheld", extra={"member_id": portal.member_id, "reason": "refused"})
    return stop_portal(session, portal, clean=wanted and verdict is Verdict.GONE)


def confirm_due_claim(app: Flask) -> None:
    """Ask Bitrix24 again about the claim due first; run after an event's answer has been sent."""
    with app.app_context():
        try:
            asked_before = utcnow() - timedelta(seconds=runtime().settings.b24_uninstall_retry_s)
            with transaction(runtime().sessions) as session:
                taken = take_due_claim(session, asked_before)
            if taken is not None:
                outcome = settle(taken[0], ask_bitrix24(taken[0]), None, taken[1])
                log.info("b24.uninstall.asked_again", extra={"member_id": taken[0], "outcome": outcome})
        except Exception:  # after the answer: nobody to tell but the log, and the claim stays held
            log.exception("b24.uninstall.retry_failed")


def settle_before_install(member_id: str) -> None:
    """A claim held for a portal being installed again is decided with the old install's tokens
    before the new ones replace them (after that it could never be confirmed)."""
    with runtime().sessions() as session:
        portal = portal_by_member_id(session, member_id)
        if portal is None or portal.uninstall_claimed_at is None:
            return
        held = portal.refresh_token_enc
    log.info("b24.uninstall.settled_before_install",
             extra={"member_id": member_id, "outcome": settle(member_id, ask_bitrix24(member_id), None, held)})
