"""Sync runs: start one (at most one active per portal), cancel a queued one or a portal's active ones."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.lifecycle import ACTIVE_RUNS, cancel_pending_run, cancel_runs
from store.models import SyncRun

__all__ = ["ACTIVE_RUNS", "RunActive", "active_run", "cancel_pending_run", "cancel_runs", "start_run", "writing_run"]
KINDS = {False: "full", True: "dry_run"}


class RunActive(Exception):
    """The portal already has a pending or running sync; `run_id` names it."""

    def __init__(self, run_id: int | None) -> None:
        super().__init__(f"sync run {run_id} is already queued or running for this portal")
        self.run_id = run_id


def active_run(session: Session, portal_id: int) -> SyncRun | None:
    return session.scalar(select(SyncRun).where(SyncRun.portal_id == portal_id, SyncRun.status.in_(ACTIVE_RUNS)))


def writing_run(session: Session, portal_id: int) -> SyncRun | None:
    """The portal's pending or running run that writes to Bitrix24 (a full run or resync, not a dry run):
    change pulls and it never write at once (workers/changes.py, workers/tasks.run_sync)."""
    return session.scalar(select(SyncRun).where(SyncRun.portal_id == portal_id, SyncRun.status.in_(ACTIVE_RUNS),
                                                SyncRun.kind != "dry_run"))


def start_run(session: Session, portal_id: int, *, dry_run: bool = False) -> SyncRun:
    """Add a pending run and flush it; RunActive when the portal has one pending or running.

    The check reads first for a clear answer; the partial unique index `uq_sync_runs_active`
    (migration 0006) settles two concurrent starts: the second insert fails and becomes RunActive.
    """
    existing = active_run(session, portal_id)
    if existing is not None:
        raise RunActive(existing.id)
    run = SyncRun(portal_id=portal_id, kind=KINDS[dry_run], status="pending")
    session.add(run)
    try:
        session.flush()
    except IntegrityError:  # the transaction is spoiled: the caller's rollback ends it
        raise RunActive(None) from None
    return run
