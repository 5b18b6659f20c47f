"""One process at a time runs a sync run: a lease on its row, renewed by a heartbeat while it runs.

A run can reach two processes at once: Redis hands a task back to the queue when its worker has not
acked it within the visibility timeout even though that worker is still running it (a long full sync);
an embedded worker queues the active runs it finds when it starts (workers/embedded.py); `qb24 resync`
resumes a stuck run; the app page re-queues a run whose lease is free. Each claims the lease first and
only its holder runs the engine, so two engines never write one run's records. A lease lapses LEASE_S
after its holder's last heartbeat (a killed process), then the next claim takes the run over with a
new random owner token and the engine resumes it from its cursor.
Limit: a holder whose lease lapsed (paused, or cut off from the database for LEASE_S) may still be
mid-page. Its heartbeat renews only where the owner is still its token; finding the lease taken, it
sets `Lease.lost`, and the engine stops at its next checkpoint (before a page's writes, before each
Bitrix24 batch, and when committing a page, whose transaction refuses a stale owner), so it never
moves the cursor or writes the final status. Writes of the batch already in flight may land; the new
holder finds them by origin markers, as after a crash. LEASE_S is several heartbeats long so that a
slow beat does not hand a live run over.
"""
from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.orm import Session, sessionmaker

from store.db import transaction
from store.models import SyncRun, utcnow

log = logging.getLogger("qb24.worker.lease")
LEASE_S, BEAT_S = 120.0, 20.0
NEVER_CLAIMED_S = 60.0  # a queued run no worker has claimed for this long lost its message
LOST = "lost"  # the engine's answer when another process took its run over


class LeaseLost(Exception):
    """Another process holds the run's lease now: stop without writing anything more of the run."""


@dataclass
class Lease:
    """This process's hold on a run: the owner token written with it, and whether it was lost."""

    run_id: int
    owner: str
    lost: threading.Event = field(default_factory=threading.Event)


def claim(sessions: sessionmaker[Session], run_id: int) -> str | None:
    """Take the run's lease unless another process holds a live one (one conditional UPDATE: atomic);
    the new owner token, or None."""
    now, owner = utcnow(), secrets.token_hex(16)
    with transaction(sessions) as session:
        result = session.execute(update(SyncRun).where(
            SyncRun.id == run_id,
            or_(SyncRun.heartbeat_at.is_(None), SyncRun.heartbeat_at < now - timedelta(seconds=LEASE_S)),
        ).values(heartbeat_at=now, lease_owner=owner))
        return owner if result.rowcount == 1 else None


def lease_free(heartbeat_at: datetime | None) -> bool:
    """Whether no process holds the lease of a run last beaten at `heartbeat_at`."""
    return heartbeat_at is None or heartbeat_at < utcnow() - timedelta(seconds=LEASE_S)


def orphaned(run: SyncRun) -> bool:
    """Whether an active run has no process on it and maybe no queued message: its lease lapsed, or
    nobody claimed it for NEVER_CLAIMED_S (a worker killed before it claimed, or a web process that
    died between committing the run and queueing it). Queueing it again is harmless: the lease."""
    if run.heartbeat_at is not None:
        return lease_free(run.heartbeat_at)
    return run.started_at < utcnow() - timedelta(seconds=NEVER_CLAIMED_S)


def still_ours(session: Session, held_lease: Lease | None) -> bool:
    """Whether the run's lease is still `held_lease`'s (no lease: a caller that holds none, e.g. a test)."""
    if held_lease is None:
        return True
    run = session.get(SyncRun, held_lease.run_id)
    return run is not None and run.lease_owner == held_lease.owner


@contextmanager
def held(sessions: sessionmaker[Session], run_id: int) -> Iterator[Lease | None]:
    """This process's lease on the run, or None; held (and renewed) until the block ends, then released."""
    owner = claim(sessions, run_id)
    if owner is None:
        yield None
        return
    mine = Lease(run_id, owner)
    try:
        with beat_thread(lambda stop: _beat(sessions, mine, stop), f"qb24-lease-{run_id}"):
            yield mine
    finally:
        _write(sessions, mine, None)  # the next claim (a retry, a resync) need not wait for it to lapse


@contextmanager
def beat_thread(beat: Callable[[threading.Event], None], name: str) -> Iterator[None]:
    """Run `beat(stop)` in a daemon thread while the block runs; stop it and wait for it at the end."""
    stop = threading.Event()
    thread = threading.Thread(target=beat, args=(stop,), name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _beat(sessions: sessionmaker[Session], mine: Lease, stop: threading.Event) -> None:
    while not stop.wait(BEAT_S):
        if _write(sessions, mine, utcnow()) is False:
            log.warning("sync.lease_lost", extra={"run_id": mine.run_id})
            mine.lost.set()
            return


def _write(sessions: sessionmaker[Session], mine: Lease, beat: datetime | None) -> bool | None:
    """Renew (a time) or release (None) the lease where it is still ours; False when it is not, None on error."""
    values = {"heartbeat_at": beat} if beat is not None else {"heartbeat_at": None, "lease_owner": None}
    try:
        with transaction(sessions) as session:
            result = session.execute(update(SyncRun).where(
                SyncRun.id == mine.run_id, SyncRun.lease_owner == mine.owner).values(**values))
            return result.rowcount == 1
    except Exception:  # noqa: BLE001 - a missed beat is not fatal: the lease outlasts several
        log.warning("sync.lease_write_failed", extra={"run_id": mine.run_id}, exc_info=True)
        return None
