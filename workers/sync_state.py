"""What a full-sync run carries between pages: its context, its tally (counters and report) and its checkpoints.

Everything needed to resume lives in `SyncRun.cursor` (position, in-flight page, sub-customer parents,
failed customers, the report so far) and `SyncRun.counters`; both are committed with every page.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from clients.bitrix24 import Bitrix24Client
from clients.quickbooks import QuickBooksClient
from mappers.reasons import reason
from store.db import transaction
from store.links import bind
from store.models import Portal, QboConnection, SyncRun, utcnow
from store.sync_log import clear_failures, record_failure
from workers.change_payments import remember_payments
from workers.customer_parents import remember_new_subs
from workers.lease import Lease, LeaseLost, still_ours
from workers.reasons import UNREADABLE_RECORD

MAX_FAILURES = 500  # failures kept in the report; the rest are counted in failures_truncated
MAX_STAGE_MOVES = 500
KINDS = ("customers", "invoices")


class Cancelled(Exception):
    """The run was cancelled, or its portal or QuickBooks connection went away."""


@dataclass(frozen=True)
class Binding:
    """A link to write when the page commits."""

    qbo_type: str
    qbo_id: str
    b24_type: str
    b24_id: str
    content_hash: str | None
    source_updated_at: datetime | None = None


def empty_report(dry_run: bool) -> dict[str, Any]:
    """The report's shape before anything happened (contract §7)."""
    report: dict[str, Any] = {
        # placed: sub-customers (jobs), whose invoices go on their top-level customer's CRM record
        "customers": {"imported": 0, "updated": 0, "skipped": 0, "failed": 0, "matched": 0, "placed": 0},
        "invoices": {"imported": 0, "updated": 0, "skipped": 0, "failed": 0},
        "failures": [], "failures_truncated": 0, "dry_run": dry_run}
    if dry_run:
        report.update(stage_moves=[], stage_moves_truncated=0)
    return report


@dataclass
class SyncContext:
    """One run's clients, identity and mutable progress (the cursor is the source of truth on resume)."""

    sessions: sessionmaker[Session]
    run_id: int | None  # None: a change pull (workers/changes.py), which has no run; its cursor lives in memory
    portal_id: int
    member_id: str
    realm_id: str
    qbo: QuickBooksClient
    b24: Bitrix24Client
    dry_run: bool
    today: date
    page_size: int
    stored_settings: dict[str, Any]
    cursor: dict[str, Any]
    counters: dict[str, Any]
    started: float = field(default_factory=time.monotonic)
    done_at_start: int = 0
    lease: Lease | None = None  # None: the caller holds no lease (engine tests)
    prefetched: tuple[int, list[dict[str, Any]]] | None = None  # (STARTPOSITION, window) read with the counts
    foreign_verdicts: dict[str, tuple[bool, float]] = field(default_factory=dict)  # customer_match.py
    pull_lost: threading.Event | None = None  # a change pull's lease was taken over (workers/pull_lease.py)
    # Failures noted since the last commit, for the sync log (flush_sync_log drains them); the report keeps
    # at most MAX_FAILURES, the log gets every one.
    noted_failures: list[dict[str, str]] = field(default_factory=list)
    # What pages learnt that the real-time path needs later: payments applied to the invoices read
    # (payment id -> invoice ids) and the sub-customers already stored (flush_sync_log saves both).
    seen_payments: dict[str, set[str]] = field(default_factory=dict)
    subs_stored: dict[str, list] = field(default_factory=dict)
    facts_cache: Any = None  # a real-time pull's workers/facts_cache.FactsCache; None: read the facts fresh

    @property
    def report(self) -> dict[str, Any]:
        return self.cursor["report"]

    def count(self, kind: str, outcome: str, n: int = 1) -> None:
        """Tally `n` records of `kind` as imported, updated, skipped, placed, failed or matched."""
        if n <= 0:
            return
        self.report[kind][outcome] = self.report[kind].get(outcome, 0) + n  # a report begun before "placed"
        if outcome != "matched":
            self.counters[outcome] = self.counters.get(outcome, 0) + n
            self.counters["done"] = self.counters.get("done", 0) + n

    def fail(self, kind: str, qbo_type: str, qbo_id: str, name: str, reason: str) -> None:
        """One record failed; the run goes on."""
        self.count(kind, "failed")
        self.noted_failures.append({"qbo_type": qbo_type, "qbo_id": str(qbo_id), "name": name, "reason": reason})
        failures = self.report["failures"]
        if len(failures) < MAX_FAILURES:
            failures.append({"qbo_type": qbo_type, "qbo_id": qbo_id, "name": name, "reason": reason})
        else:
            self.report["failures_truncated"] += 1

    def stage_move(self, qbo_id: str, doc_number: str | None, old: str | None, new: str) -> None:
        moves = self.report.setdefault("stage_moves", [])
        if len(moves) < MAX_STAGE_MOVES:
            moves.append({"qbo_id": qbo_id, "doc_number": doc_number, "from": old, "to": new})
        else:
            self.report["stage_moves_truncated"] = self.report.get("stage_moves_truncated", 0) + 1

    def progress(self) -> None:
        """Refresh rate and ETA from the records done by this process."""
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = (self.counters.get("done", 0) - self.done_at_start) / elapsed
        remaining = max(self.counters.get("total", 0) - self.counters.get("done", 0), 0)
        self.counters["rate"] = round(rate, 2)
        self.counters["eta_s"] = round(remaining / rate, 1) if rate > 0 else None

    def check_cancelled(self) -> None:
        """Raise Cancelled when the run, its portal or its QuickBooks connection says stop; LeaseLost
        when another process took the run over."""
        if (self.lease is not None and self.lease.lost.is_set()) or (self.pull_lost and self.pull_lost.is_set()):
            raise LeaseLost()
        with self.sessions() as session:
            if not still_ours(session, self.lease):
                raise LeaseLost()
            if not still_wanted(session, self.run_id, self.portal_id):
                raise Cancelled()


def still_wanted(session: Session, run_id: int | None, portal_id: int) -> bool:
    """The run is not cancelled (no run: a change pull), the portal installed and the realm connected."""
    run, portal = (session.get(SyncRun, run_id) if run_id is not None else None), session.get(Portal, portal_id)
    connection = session.query(QboConnection).filter_by(portal_id=portal_id).one_or_none()
    run_on = run_id is None or (run is not None and run.status != "cancelled")
    return (run_on and portal is not None and portal.status == "installed"
            and connection is not None and connection.status == "connected")


def unbound_phases(session: Session, run: SyncRun) -> list[str]:
    """The phases in which the portal's previous full run may have left writes unbound.

    A run that failed or was cancelled with a page in flight (a fatal answer mid-page, or a crash and
    then Log out) never resumes; a new run starts from the first page, so it must look up its creates by
    origin marker through that whole phase, or it would create those records again. Until a run ends "done".
    """
    earlier = select(SyncRun).where(SyncRun.portal_id == run.portal_id, SyncRun.kind == "full", SyncRun.id < run.id)
    last_done = session.scalar(select(func.max(SyncRun.id)).where(
        SyncRun.portal_id == run.portal_id, SyncRun.kind == "full", SyncRun.id < run.id, SyncRun.status == "done"))
    phases: set[str] = set()
    # every run since the last one that finished (one cancelled before it began must not hide an older one)
    for previous in session.scalars(earlier.where(SyncRun.id > (last_done or 0))):
        cursor = previous.cursor or {}
        if cursor.get("in_flight") is not None:
            phases.add(str(cursor.get("phase")))
    return sorted(phases)


def save_progress(ctx: SyncContext) -> None:
    """Commit the cursor and counters alone (marking a page in flight, phase changes)."""
    with transaction(ctx.sessions) as session:
        _store(session, ctx)


def commit_page(ctx: SyncContext, bindings: list[Binding]) -> None:
    """Bind every link of the page AND move the cursor on, in one transaction (exactly once across crashes)."""
    with transaction(ctx.sessions) as session:
        bind_all(session, ctx.portal_id, bindings)
        flush_sync_log(session, ctx, bindings)
        _store(session, ctx)


def flush_sync_log(session: Session, ctx: SyncContext, bindings: list[Binding]) -> None:
    """In the page's (or pull's) commit: the failures noted since the last flush go into the sync log, the
    records bound with a content hash (written in full) leave it; the sub-customers and the payments'
    invoices the pages met are remembered for the real-time path (workers/customer_parents, change_payments).
    """
    written = {(b.qbo_type, b.qbo_id) for b in bindings if b.content_hash}
    for qbo_type in sorted({t for t, _ in written}):
        clear_failures(session, ctx.portal_id, qbo_type, [i for t, i in written if t == qbo_type])
    noted, ctx.noted_failures = ctx.noted_failures, []
    if ctx.dry_run:
        noted = []  # predictions, in the dry run's report; the log's Retry would write the record
    for failure in noted:
        if (failure["qbo_type"], failure["qbo_id"]) not in written:  # failed, then written in the same commit
            record_failure(session, ctx.portal_id, failure["qbo_type"], failure["qbo_id"], failure["name"],
                           failure["reason"])
    remember_new_subs(session, ctx, [b.qbo_id for b in bindings if b.qbo_type == "Customer"])
    remember_payments(session, ctx.portal_id, ctx.seen_payments)
    ctx.seen_payments = {}


def bind_all(session: Session, portal_id: int, bindings: list[Binding]) -> None:
    """Write the links (a page's, or a change pull's)."""
    for item in bindings:
        bind(session, portal_id=portal_id, qbo_type=item.qbo_type, qbo_id=item.qbo_id, b24_type=item.b24_type,
             b24_id=item.b24_id, source_updated_at=item.source_updated_at, content_hash=item.content_hash)


def _store(session: Session, ctx: SyncContext) -> None:
    ctx.progress()
    run = _locked_run(session, ctx)
    # A copy, so later in-place changes of the context never alias what the session saw.
    run.cursor, run.counters = json.loads(json.dumps(ctx.cursor)), dict(ctx.counters)


def _locked_run(session: Session, ctx: SyncContext) -> SyncRun:
    """The run's row, locked; LeaseLost (rolling the transaction back) when the lease is no longer ours,
    so a holder whose lease lapsed never moves the cursor or ends a run another process now runs."""
    run = session.get(SyncRun, ctx.run_id, with_for_update=True)
    if not still_ours(session, ctx.lease):
        raise LeaseLost()
    return run


def finish(ctx: SyncContext, status: str, error: str | None = None) -> None:
    """Write the final status, report and counters."""
    with transaction(ctx.sessions) as session:
        run = _locked_run(session, ctx)
        ctx.counters["phase"] = "finished" if status == "done" else ctx.counters.get("phase")
        ctx.progress()
        run.counters, run.cursor = dict(ctx.counters), json.loads(json.dumps(ctx.cursor))
        run.report = json.loads(json.dumps(ctx.report))
        if run.status != "cancelled":
            run.status = status
        run.error, run.finished_at = error, utcnow()


def mapping_reason(error: Exception) -> str:
    """A MappingError's own reason; anything else a mapper raised is a record the sync could not read."""
    own = getattr(error, "reason", None)
    if own:
        return str(own)
    return reason(UNREADABLE_RECORD, error=f"{type(error).__name__}: {error}")
