"""ONAPPUNINSTALL is a claim: Bitrix24 confirms it before work stops, and nothing irreversible follows.

The application token reaches every user who opens the app (reference §1.1), so an uninstall event
carrying it proves only "someone in this portal". The rule:

- Bitrix24 is asked with the portal's *stored* credentials, never with anything in the request:
  `app.info` on the portal's REST with the stored access token; on a 401 (or a stored token past
  its expiry) the stored refresh token is exchanged at the stored OAuth server. After a real
  uninstall "API access is already revoked" (§1.4): the refresh answers `invalid_grant`, or
  `invalid_client` / `PAYMENT_REQUIRED`. While the app is installed `app.info` (or the refresh)
  works. Before a refusal is believed, the latest opener's frame token (cached, webhooks/admins.py)
  asks app.info too: if Bitrix24 says installed, the claim is refused.
- A refusal is no proof of an uninstall: `invalid_grant` also comes while the app is installed (the
  installing administrator dismissed, a refresh token unused for 180 days, a rotation whose answer
  was lost; §2) and PAYMENT_REQUIRED is a lapsed subscription. So a confirmed claim only *stops
  work* (webhooks/bitrix24_events.stop_portal): status uninstalled, Bitrix24 tokens and application
  token dropped, runs cancelled. Links, settings, run history and the QuickBooks connection with its
  grant are kept, and the event's CLEAN decides nothing (it cannot be confirmed, and a clerk's
  CLEAN=1 could race an administrator's CLEAN=0).
- Data is deleted only at a reinstall, when Bitrix24 shows the last uninstall was CLEAN: it keeps the
  app's `app.option` values unless CLEAN (§1.4), and every install writes a marker option
  (webhooks/kept_data.py). Until a reinstall an uninstalled portal's data stays; operators may purge
  portals uninstalled for long (docs/architecture.md, retention).
- Asked only for an installed portal, and only when the event's token matches the held one or the
  portal holds none yet (its ONAPPINSTALL is late, §1.2); anything else is 401 without a call.
  Working → the claim is refused (403; 401 when the token did not match).
- No answer (network, 5xx, limits) → the claim is kept on the portal (store/portals.py) and asked
  again, once per B24_UNINSTALL_RETRY_S, after the answer to a later Bitrix24 event, and by the
  installer before a reinstall stores new tokens (which end any claim still held). Bitrix24 never
  resends an event (§3) and sends none after an uninstall, so a held claim may never be asked
  again: it only delays stopping work, since nothing irreversible depends on it (the sync fails on
  the revoked tokens meanwhile). An answer obtained with tokens replaced meanwhile decides nothing.
- Once stopped, the portal holds no application token and no Bitrix24 tokens: any later
  ONAPPUNINSTALL or event with the old token is 401.

Cost on the event path: 1 call when the app is installed (app.info; 2 if our stored token had
expired: refresh, app.info), 2 for a real uninstall (app.info → 401, refresh → refused; 1 when our
stored token had expired) plus 1 app.info when an opener's frame token is cached, 0 for anything
refused before asking.
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
from store.portals import drop_uninstall_claim, hold_uninstall_claim, portal_by_member_id, take_due_claim
from webhooks.bitrix24_events import EventRefused, revoke_pending, section, stop_portal, token_matches
from webhooks.admins import latest_opening_token
from webhooks.confirm_limit import admit_confirmation
from webhooks.frame_auth import still_installed
from webhooks.runtime import runtime
from webhooks.services import bitrix24_client, portal_tokens

log = logging.getLogger("qb24.b24.uninstall")
# What "Bitrix24 gave no answer" looks like: the network, a 5xx or limit (Bitrix24Error), our lock or
# limiter (Redis), or no stored tokens to ask with (LookupError).
NO_ANSWER = (Bitrix24Error, requests.RequestException, redis.RedisError, LockTimeout, LookupError)


class Verdict(Enum):
    """What Bitrix24 said about the app on a portal, asked with the portal's stored credentials."""

    INSTALLED = "installed"  # app.info answered, or the refresh gave a new pair: the grant lives
    GONE = "gone"  # the stored refresh token is refused with invalid_grant (revoked, or the installer's alone)
    REFUSED = "refused"  # invalid_client / PAYMENT_REQUIRED: no tokens for this app on this portal now
    UNKNOWN = "unknown"  # no answer that decides: ask again later


def ask_bitrix24(member_id: str) -> Verdict:
    """Whether the app is still installed on the portal (see the module doc for the calls it costs)."""
    verdict = _ask_with_stored(member_id)
    if verdict in (Verdict.GONE, Verdict.REFUSED) and _opener_says_installed(member_id):
        log.info("b24.uninstall.opener_says_installed", extra={"member_id": member_id, "refused": verdict.value})
        return Verdict.INSTALLED
    return verdict


def _ask_with_stored(member_id: str) -> Verdict:
    client = bitrix24_client(member_id, quick=True)
    try:
        client.call("app.info")  # the client refreshes first on expiry, and on a 401 expired/invalid token
    except NoAuthFound:  # a 401 the client does not refresh on: the refresh token decides
        return _by_refresh(client, member_id)
    except NO_ANSWER as exc:
        return _verdict(exc, member_id)
    return Verdict.INSTALLED


def _opener_says_installed(member_id: str) -> bool:
    """A refused refresh may be the installer's alone (dismissed, §2): a fresh frame token of the
    latest user to open the app asks app.info on the portal's stored OAuth server."""
    with runtime().sessions() as session:
        portal = portal_by_member_id(session, member_id)
        if portal is None or not portal.install_id:
            return False
        install_id, server_endpoint = portal.install_id, portal.server_endpoint
    token = latest_opening_token(member_id, install_id)
    return bool(token) and still_installed(server_endpoint, token, member_id)


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
    # CLEAN is the sender's word only: logged, never acted on (a reinstall reads Bitrix24's own record).
    log.info("b24.uninstall.claimed", extra={"member_id": member_id, "matched": matched,
                                             "clean": str(section(payload, "data").get("CLEAN", "0"))[:8]})
    admit_confirmation()  # each claim costs calls to Bitrix24: bound them per address, matched or not
    outcome = settle(member_id, ask_bitrix24(member_id), held)
    if outcome == "refused" and matched:
        raise EventRefused(403, "Bitrix24 says the app is still installed on this portal; the uninstall is refused.")
    if outcome == "refused":
        raise EventRefused(401, "The event's application token does not match this portal.")
    return outcome


def _may_ask(portal: Portal | None, matched: bool) -> bool:
    """An installed portal, and a token that matches or none held yet (its ONAPPINSTALL is late)."""
    return (portal is not None and portal.status == "installed"
            and (matched or portal.application_token_enc is None))


def settle(member_id: str, verdict: Verdict, held: str | None) -> str:
    """Act on Bitrix24's answer in one transaction; `held` the stored refresh token (encrypted)
    Bitrix24 was asked with."""
    with transaction(runtime().sessions) as session:
        # The row lock makes two claims settled at once act one after the other (PostgreSQL; SQLite
        # serialises writers anyway): the second finds the portal stopped and changes nothing.
        portal = session.scalar(select(Portal).where(Portal.member_id == member_id).with_for_update())
        if portal is None or portal.status != "installed":
            return "ignored"  # settled meanwhile by another request
        if verdict in (Verdict.GONE, Verdict.REFUSED) and portal.refresh_token_enc != held:
            verdict = Verdict.UNKNOWN  # new tokens arrived meanwhile (a reinstall, a refresh): ask with them
        outcome = _act(session, portal, verdict)
    revoke_pending(session)
    return outcome


def _act(session: Session, portal: Portal, verdict: Verdict) -> str:
    if verdict is Verdict.INSTALLED:
        drop_uninstall_claim(portal)  # a held claim is answered too: the app is installed now
        return "refused"
    if verdict is Verdict.UNKNOWN:
        hold_uninstall_claim(portal, False)
        return "pending"
    return stop_portal(session, portal)


def confirm_due_claim(app: Flask) -> None:
    """Ask Bitrix24 again about the claim due first; run after an event's answer has been sent."""
    with app.app_context():
        try:
            asked_before = utcnow() - timedelta(seconds=runtime().settings.b24_uninstall_retry_s)
            with transaction(runtime().sessions) as session:
                taken = take_due_claim(session, asked_before)
            if taken is not None:
                outcome = settle(taken[0], ask_bitrix24(taken[0]), taken[1])
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
             extra={"member_id": member_id, "outcome": settle(member_id, ask_bitrix24(member_id), held)})
