"""One process at a time runs a sync run: a lease on its row, renewed by a heartbeat while it runs.

A run can reach two processes at once: Redis hands a task back to the queue when its worker has not
acked it within the visibility timeout even though that worker is still running it (a long full sync);
an embedded worker queues the active runs it finds when it starts (workers/embedded.py); `qb24 resync`
resumes a stuck run. Each claims the lease first and only its holder runs the engine, so two engines
never write one run's records. A lease lapses LEASE_S after its holder's last heartbeat (a killed
process), then the next claim takes the run over and the engine resumes it from its cursor.
Limit: a holder that cannot reach the database for LEASE_S keeps running after its lease lapsed
(the engine does not check the lease); LEASE_S is several heartbeats long for that reason.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.orm import Session, sessionmaker

from store.db import transaction
from store.models import SyncRun, utcnow

log = logging.getLogger("qb24.worker.lease")
LEASE_S, BEAT_S = 120.0, 20.0


def claim(sessions: sessionmaker[Session], run_id: int) -> bool:
    """Take the run's lease unless another process holds a live one (one conditional UPDATE: atomic)."""
    now = utcnow()
    with transaction(sessions) as session:
        result = session.execute(update(SyncRun).where(
            SyncRun.id == run_id,
            or_(SyncRun.heartbeat_at.is_(None), SyncRun.heartbeat_at < now - timedelta(seconds=LEASE_S)),
        ).values(heartbeat_at=now))
        return result.rowcount == 1


def lease_free(heartbeat_at: datetime | None) -> bool:
    """Whether no process holds the lease of a run last beaten at `heartbeat_at`."""
    return heartbeat_at is None or heartbeat_at < utcnow() - timedelta(seconds=LEASE_S)


@contextmanager
def held(sessions: sessionmaker[Session], run_id: int) -> Iterator[bool]:
    """Whether this process got the run's lease; held (and renewed) until the block ends, then released."""
    if not claim(sessions, run_id):
        yield False
        return
    stop = threading.Event()
    beat = threading.Thread(target=_beat, args=(sessions, run_id, stop), name=f"qb24-lease-{run_id}", daemon=True)
    beat.start()
    try:
        yield True
    finally:
        stop.set()
        beat.join()
        _set(sessions, run_id, None)  # the next claim (a retry, a resync) need not wait for it to lapse


def _beat(sessions: sessionmaker[Session], run_id: int, stop: threading.Event) -> None:
    while not stop.wait(BEAT_S):
        _set(sessions, run_id, utcnow())


def _set(sessions: sessionmaker[Session], run_id: int, value: datetime | None) -> None:
    try:
        with transaction(sessions) as session:
            session.execute(update(SyncRun).where(SyncRun.id == run_id).values(heartbeat_at=value))
    except Exception:  # noqa: BLE001 - a missed beat is not fatal: the lease outlasts several
        log.warning("sync.lease_write_failed", extra={"run_id": run_id}, exc_info=True)
