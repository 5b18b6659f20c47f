"""One change pull per realm at a time: a lease on the realm's qbo_connections row, and `pull_again`.

The lease is the run lease of workers/lease.py moved onto the connection (pull_owner, pull_heartbeat_at;
it lapses LEASE_S after the holder's last beat, so a killed worker's pull is taken over). What the run
lease does not need is the hand-over of work: a pull asked for while another process pulls must not be
dropped (its event may have landed after the holder's CDC call). So a contender that finds a live holder
sets `pull_again`, and the holder, before releasing, checks it and pulls once more.

Both steps are single conditional UPDATEs, so they are atomic on PostgreSQL and SQLite alike (the effect
of the SELECT ... FOR UPDATE the contract names, without a read-then-write gap): the contender's
"set pull_again where a live holder exists" and the holder's "release where pull_again is false" cannot
interleave so that the flag is set after the release and nobody pulls. If the contender's second UPDATE
finds no holder any more (it released in between), the contender claims the lease itself.
"""
from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import and_, or_, update
from sqlalchemy.orm import Session, sessionmaker

from store.db import transaction
from store.models import QboConnection, utcnow
from workers.lease import BEAT_S, LEASE_S, beat_thread

log = logging.getLogger("qb24.worker.pull_lease")


@dataclass
class PullLease:
    """This process's hold on a realm's pull."""

    realm_id: str
    owner: str
    lost: threading.Event = field(default_factory=threading.Event)


def _lapsed():
    return or_(QboConnection.pull_heartbeat_at.is_(None),
               QboConnection.pull_heartbeat_at < utcnow() - timedelta(seconds=LEASE_S))


def claim_or_ask_again(sessions: sessionmaker[Session], realm_id: str) -> tuple[str | None, bool]:
    """(a new owner token, False) when this process took the realm's pull lease; (None, first) when a live
    holder has it: pull_again is set for that holder, `first` when this call set it (it was clear)."""
    owner = secrets.token_hex(16)
    for _ in range(5):  # bounded: a connection deleted meanwhile matches neither statement
        with transaction(sessions) as session:
            taken = session.execute(update(QboConnection).where(QboConnection.realm_id == realm_id, _lapsed())
                                    .values(pull_owner=owner, pull_heartbeat_at=utcnow(), pull_again=False))
            if taken.rowcount == 1:
                return owner, False
            held = and_(QboConnection.realm_id == realm_id, ~_lapsed())
            first = session.execute(update(QboConnection).where(held, QboConnection.pull_again.is_(False))
                                    .values(pull_again=True)).rowcount == 1
            if first or session.execute(update(QboConnection).where(held).values(pull_again=True)).rowcount == 1:
                return None, first
        # the holder released between the statements: try to claim again
    return None, False


def release_unless_again(sessions: sessionmaker[Session], mine: PullLease) -> bool:
    """Release the lease, unless pull_again was set meanwhile: then clear it and answer True (pull once more).
    False also when the lease is no longer ours (it lapsed and another process holds it)."""
    with transaction(sessions) as session:
        ours = and_(QboConnection.realm_id == mine.realm_id, QboConnection.pull_owner == mine.owner)
        released = session.execute(update(QboConnection).where(ours, QboConnection.pull_again.is_(False))
                                   .values(pull_owner=None, pull_heartbeat_at=None))
        if released.rowcount == 1:
            return False
        again = session.execute(update(QboConnection).where(ours, QboConnection.pull_again.is_(True))
                                .values(pull_again=False, pull_heartbeat_at=utcnow()))
        return again.rowcount == 1


def release_asking_again(sessions: sessionmaker[Session], mine: PullLease) -> None:
    """Release the lease and leave pull_again set (a deferred pull: the full run's end pulls)."""
    with transaction(sessions) as session:
        session.execute(update(QboConnection).where(QboConnection.realm_id == mine.realm_id,
                                                    QboConnection.pull_owner == mine.owner)
                        .values(pull_owner=None, pull_heartbeat_at=None, pull_again=True))


def still_held(session: Session, mine: PullLease) -> bool:
    """Whether the lease is still ours (checked in the transaction that commits a pull)."""
    connection = session.query(QboConnection).filter_by(realm_id=mine.realm_id).with_for_update().one_or_none()
    return connection is not None and connection.pull_owner == mine.owner


@contextmanager
def beating(sessions: sessionmaker[Session], realm_id: str, owner: str) -> Iterator[PullLease]:
    """The claimed lease, renewed every BEAT_S while the block runs (a long pull must not lapse)."""
    mine = PullLease(realm_id, owner)
    with beat_thread(lambda stop: _beat(sessions, mine, stop), f"qb24-pull-{realm_id}"):
        yield mine


def _beat(sessions: sessionmaker[Session], mine: PullLease, stop: threading.Event) -> None:
    while not stop.wait(BEAT_S):
        try:
            with transaction(sessions) as session:
                renewed = session.execute(update(QboConnection).where(
                    QboConnection.realm_id == mine.realm_id, QboConnection.pull_owner == mine.owner)
                    .values(pull_heartbeat_at=utcnow())).rowcount
        except Exception:  # noqa: BLE001 - a missed beat is not fatal: the lease outlasts several
            log.warning("changes.lease_write_failed", extra={"realm_id": mine.realm_id}, exc_info=True)
            continue
        if renewed != 1:
            log.warning("changes.lease_lost", extra={"realm_id": mine.realm_id})
            mine.lost.set()
            return
