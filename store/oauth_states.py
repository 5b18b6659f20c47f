"""Single-use OAuth `state` values for the QuickBooks consent, kept server-side (hashed)."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete
from sqlalchemy.orm import Session

from store.models import OAuthState

STATE_TTL = timedelta(minutes=10)


@dataclass(frozen=True)
class StateOwner:
    """Who started the consent a state belongs to."""

    portal_id: int
    user_id: str | None


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def issue_state(session: Session, portal_id: int, user_id: str | None, now: datetime | None = None) -> str:
    """A fresh random state bound to the portal and user, valid for STATE_TTL."""
    now = now or datetime.now(timezone.utc)
    state = secrets.token_urlsafe(32)
    session.add(OAuthState(state_hash=_hash(state), portal_id=portal_id, user_id=user_id,
                           expires_at=now + STATE_TTL, created_at=now))
    session.execute(delete(OAuthState).where(OAuthState.expires_at < now))  # sweep the abandoned ones
    session.flush()
    return state


def consume_state(session: Session, state: str, now: datetime | None = None) -> StateOwner | None:
    """The owner of `state` if it is known and unexpired; it is deleted either way, in one statement,
    so two callbacks racing with the same state cannot both succeed."""
    now = now or datetime.now(timezone.utc)
    row = session.execute(
        delete(OAuthState).where(OAuthState.state_hash == _hash(state))
        .returning(OAuthState.portal_id, OAuthState.user_id, OAuthState.expires_at)
    ).first()
    if row is None or row.expires_at <= now:
        return None
    return StateOwner(row.portal_id, row.user_id)
