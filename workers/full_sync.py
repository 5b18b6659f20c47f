"""The full sync: every QuickBooks customer, then every invoice, into the portal's CRM, a page at a time.

Exactly once across crashes: before a page writes, the cursor marks it in flight (committed); after
the writes, every link is bound AND the cursor moves on in one transaction (`commit_page`). A run
resuming an in-flight page first finds what it already created by origin markers (sync_recover).
A record's failure never fails the run; only a fatal error (authorization gone) does.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date

import requests
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from clients.bitrix24 import Bitrix24Client
from clients.bitrix24_errors import Bitrix24Error, OperationTimeLimit, QueryLimitExceeded, ServerError
from clients.coordination import LockTimeout
from clients.quickbooks import QuickBooksClient, query_records
from clients.quickbooks_errors import AuthorizationRevoked, QuickBooksError, ServiceUnavailable, Throttled, Unauthorized
from mappers.reasons import reason
from store.db import transaction
from store.models import Portal, QboConnection, SyncRun, utcnow
from store.tokens import RealmTokensUnreadable, StoredTokensUnreadable
from workers.lease import LOST, Lease, LeaseLost, still_ours
from workers.portal_facts import read_portal_facts
from workers.portal_settings import effective_settings
from workers import reasons as R
from workers.sync_customers import sync_customer_page
from workers.sync_invoices import InvoiceTarget, sync_invoice_page
from workers.watermark import mark_full_run_start
from workers.sync_state import (
    Binding, Cancelled, SyncContext, commit_page, empty_report, finish, save_progress, still_wanted,
    unbound_phases,
)

log = logging.getLogger("qb24.sync")
FINAL = ("done", "failed", "cancelled")
PHASES = ("customers", "invoices")
# Worth another attempt later: the task leaves the run "running" and a redelivery resumes it.
TRANSIENT = (requests.RequestException, QueryLimitExceeded, OperationTimeLimit, ServerError, Throttled,
             ServiceUnavailable, LockTimeout, OperationalError)
QUERIES = {"customers": ("Customer", "Active IN (true, false)"), "invoices": ("Invoice", "")}
# Every page is read from OVERLAP positions before the cursor. STARTPOSITION counts positions, so a record
# deleted in QuickBooks between two pages (or between a crash and the resume) shifts every later record
# down one: without the overlap a record would slide into the range already read and be skipped for the
# run, and a crashed in-flight page's first records would never be recovered. Records already handled
# are told apart by Id equality with the previous page's tail (kept in the cursor), never by comparing
# Ids: whether real QuickBooks orders `ORDERBY Id` numerically or as text is UNCERTAIN (Id is a string).
# The re-read rides in the same request: at 1000 a page, 980 new records a request (≤ 1/900).
OVERLAP = 20
PageHandler = Callable[[SyncContext, list[dict], bool], tuple[list[Binding], bool]]


def run_full_sync(sessions: sessionmaker[Session], run_id: int, *, qbo: QuickBooksClient, b24: Bitrix24Client,
                  today: date | None = None, page_size: int = 1000, lease: Lease | None = None) -> str:
    """Run (or resume) the sync run `run_id` to its end under `lease` (workers/lease.py); its final status,
    or LOST when another process took the run over (it stays with that process, untouched by this one)."""
    try:
        return _run_to_end(sessions, run_id, qbo, b24, today or date.today(), page_size, lease)
    except LeaseLost:
        log.warning("sync.lease_lost", extra={"run_id": run_id})
        return LOST


def _run_to_end(sessions: sessionmaker[Session], run_id: int, qbo: QuickBooksClient, b24: Bitrix24Client,
                today: date, page_size: int, lease: Lease | None) -> str:
    ctx = _begin(sessions, run_id, qbo, b24, today, page_size, lease)
    if isinstance(ctx, str):
        return ctx
    log.info("sync.started", extra={"run_id": run_id, "member_id": ctx.member_id, "realm_id": ctx.realm_id,
                                    "dry_run": ctx.dry_run, "resumed": bool(ctx.done_at_start),
                                    "total": ctx.counters.get("total")})
    try:
        _run(ctx)
    except Cancelled:
        return _end(ctx, "cancelled")
    except LeaseLost:
        raise
    except TRANSIENT:
        log.warning("sync.interrupted", extra={"run_id": run_id, "member_id": ctx.member_id}, exc_info=True)
        raise
    except StoredTokensUnreadable as error:  # logged where they were read (store/tokens.py); no traceback
        return _end(ctx, "failed", fatal_reason(error))
    except Exception as error:  # noqa: BLE001 - a run must never stay "running" after an unexpected error
        log.exception("sync.failed", extra={"run_id": run_id, "member_id": ctx.member_id})
        return _end(ctx, "failed", fatal_reason(error))
    return _end(ctx, "done")


def _begin(sessions: sessionmaker[Session], run_id: int, qbo: QuickBooksClient, b24: Bitrix24Client,
           today: date, page_size: int, lease: Lease | None) -> SyncContext | str:
    """The run's context with status "running", or its status when it is already over or no longer wanted."""
    with transaction(sessions) as session:
        run = session.get(SyncRun, run_id, with_for_update=True)
        if run is None or run.status in FINAL:
            return run.status if run else "failed"
        if not still_ours(session, lease):
            raise LeaseLost()
        if not still_wanted(session, run_id, run.portal_id):
            run.status = "cancelled"
            return "cancelled"
        portal = session.get(Portal, run.portal_id)
        connection = session.query(QboConnection).filter_by(portal_id=run.portal_id).one()
        # Claim only a run still active: SQLite ignores FOR UPDATE, so a cancel may have committed since
        # the read above (store/lifecycle.cancel_pending_run); the cancel then wins and the run never starts.
        if session.execute(update(SyncRun).where(SyncRun.id == run_id, SyncRun.status.not_in(FINAL))
                           .values(status="running")).rowcount != 1:
            return session.scalar(select(SyncRun.status).where(SyncRun.id == run_id)) or "failed"
        fresh = run.kind != "dry_run" and not run.cursor
        recover = unbound_phases(session, run)
        if connection.pull_in_flight:  # a change pull died between its Bitrix24 writes and its commit
            recover = list(PHASES)     # its creates are unbound: find them by origin marker, never create twice
        ctx = SyncContext(sessions=sessions, run_id=run_id, portal_id=portal.id, member_id=portal.member_id,
                          realm_id=connection.realm_id, qbo=qbo, b24=b24, dry_run=run.kind == "dry_run",
                          today=today, page_size=min(page_size, 1000), stored_settings=dict(portal.settings or {}),
                          cursor=dict(run.cursor or {}), counters=dict(run.counters or {}), lease=lease)
    if not ctx.cursor:
        ctx.cursor = {"phase": PHASES[0], "start": 1, "in_flight": None, "tail": [], "subs": {},
                      "failed_customers": {}, "report": empty_report(ctx.dry_run), "recover": [] if ctx.dry_run else recover}
    ctx.done_at_start = ctx.counters.get("done", 0)
    if "total" not in ctx.counters:
        ctx.cursor["counts"], server_time = _count_and_read(ctx)
        if fresh:  # changes from the run's first read on are the change feed's
            _mark_start(sessions, portal.id, server_time)
        ctx.counters = {"phase": ctx.cursor["phase"], "total": sum(ctx.cursor["counts"].values()), "done": 0,
                        "imported": 0, "updated": 0, "skipped": 0, "failed": 0, "rate": 0.0, "eta_s": None}
        save_progress(ctx)
    return ctx


def _mark_start(sessions: sessionmaker[Session], portal_id: int, server_time: str) -> None:
    """Before the run's progress is saved (a crash before it starts the run afresh, marking again)."""
    with transaction(sessions) as session:
        connection = session.query(QboConnection).filter_by(portal_id=portal_id).with_for_update().one()
        mark_full_run_start(connection, server_time, utcnow())


def _count_and_read(ctx: SyncContext) -> tuple[dict[str, int], str]:
    """Every phase's count AND the cursor's first window in one batch request; the window waits in ctx.
    With the counts, QuickBooks' clock when it answered (the change feed's watermark starts there)."""
    phase = ctx.cursor["phase"] if ctx.cursor["phase"] in PHASES else PHASES[0]
    first, statement = _window_statement(ctx, phase)
    counts = [f"SELECT COUNT(*) FROM {entity}" + (f" WHERE {where}" if where else "")
              for entity, where in QUERIES.values()]
    answers, server_time = ctx.qbo.batch_query_at([*counts, statement])
    for answer in answers:
        if isinstance(answer, QuickBooksError):
            raise answer  # as the single requests would have: typed, so transient ones resume
    ctx.prefetched = (first, query_records(answers[-1]))
    return {name: int(answer.get("totalCount", 0)) for name, answer in zip(QUERIES, answers)}, server_time


def _run(ctx: SyncContext) -> None:
    for phase in PHASES[PHASES.index(ctx.cursor["phase"]):]:
        if ctx.cursor["phase"] != phase:
            ctx.cursor.update(phase=phase, start=1, in_flight=None, tail=[])
        ctx.counters["phase"] = phase
        _pages(ctx, phase, _handler(ctx, phase))
    ctx.cursor.update(phase="finished", in_flight=None)


def _handler(ctx: SyncContext, phase: str) -> PageHandler:
    if phase == "customers":
        return sync_customer_page
    facts, stage_map = read_portal_facts(ctx.b24, ctx.stored_settings)
    use_new = bool(effective_settings(ctx.stored_settings, []).get("use_new_invoice"))
    target = InvoiceTarget("smart_invoice" if use_new else "invoice", facts, stage_map)
    return lambda c, page, resumed: sync_invoice_page(c, target, page, resumed)


def _pages(ctx: SyncContext, phase: str, handler: PageHandler) -> None:
    """Every page of the phase from the cursor on, each checkpointed."""
    while True:
        ctx.check_cancelled()
        start = ctx.cursor["start"]
        first, window = _read_window(ctx, phase)
        page = unseen(window, ctx.cursor.get("tail") or [])
        # a page this run left in flight, or any page of a phase an earlier run stopped in mid-page
        resumed = ctx.cursor.get("in_flight") == start or phase in ctx.cursor.get("recover", [])
        if not ctx.dry_run:
            ctx.cursor["in_flight"] = start
            save_progress(ctx)
        bindings, cancelled = handler(ctx, page, resumed) if page else ([], False)
        if cancelled:
            commit_page(ctx, bindings)  # bind what was written; the page stays in flight
            raise Cancelled()
        overlap = _overlap(ctx.page_size)
        ctx.cursor.update(start=first + len(window), in_flight=None,
                          tail=[str(r["Id"]) for r in window[len(window) - overlap:]] if overlap else [])
        commit_page(ctx, bindings)
        log.info("sync.page", extra={"run_id": ctx.run_id, "phase": phase, "start": start, "records": len(page)})
        if not _more(ctx, phase, first, window):
            return


def _overlap(page_size: int) -> int:
    return min(OVERLAP, page_size // 4)  # a small page (tests) must still move on, mostly with new records


def _more(ctx: SyncContext, phase: str, first: int, window: list[dict]) -> bool:
    """Whether another page may hold records: the window was full AND ends before the phase's count.

    The count is taken when the run starts. A window that is not full reached the end of the list as it
    stands now, records added since included. A full window that reaches the count leaves out only records
    created during the run (net of deletions), and the full sync never promised those: a record created
    during the run may as well sort into a range already read, which no run re-reads. They are changes
    after the run's start, for the change feed; reading one more page would cost a request on every
    company whose size falls on a page boundary and still catch only some of them. A run resumed from a
    cursor without counts (an older run) keeps the plain rule: stop at the first window that is not full.
    """
    if len(window) < ctx.page_size:
        return False
    counted = (ctx.cursor.get("counts") or {}).get(phase)
    return counted is None or first + len(window) - 1 < counted


def _window_statement(ctx: SyncContext, phase: str) -> tuple[int, str]:
    """The STARTPOSITION and query of the page from the cursor: OVERLAP positions earlier once a page was handled."""
    entity, where = QUERIES[phase]
    clause = f" WHERE {where}" if where else ""
    start, tail = ctx.cursor["start"], ctx.cursor.get("tail") or []
    first = max(1, start - _overlap(ctx.page_size)) if tail else start
    return first, f"SELECT * FROM {entity}{clause} ORDERBY Id STARTPOSITION {first} MAXRESULTS {ctx.page_size}"


def _read_window(ctx: SyncContext, phase: str) -> tuple[int, list[dict]]:
    """The page from the cursor (one request, or the window read with the counts)."""
    first, statement = _window_statement(ctx, phase)
    prefetched, ctx.prefetched = ctx.prefetched, None
    window = prefetched[1] if prefetched and prefetched[0] == first else ctx.qbo.query(statement)
    tail = ctx.cursor.get("tail") or []
    if tail and window and not set(tail) & {str(r["Id"]) for r in window}:
        # at least OVERLAP records vanished before this position (or the whole tail did): records that
        # slid further down than the overlap are not read by this run; the next run finds them
        log.warning("sync.page_gap", extra={"run_id": ctx.run_id, "phase": phase, "start": ctx.cursor["start"]})
    return first, window


def unseen(window: list[dict], tail: list[str]) -> list[dict]:
    """The window's records after the last one the previous page handled (its tail, by Id).

    QuickBooks answers in its own stable order, so whatever comes before a handled record was handled
    too (or is new and sorts among records already read); only Id equality is used, never Id order.
    """
    handled = set(tail)
    last = max((index for index, record in enumerate(window) if str(record["Id"]) in handled), default=-1)
    return window[last + 1:]


def _end(ctx: SyncContext, status: str, error: str | None = None) -> str:
    finish(ctx, status, error)
    with ctx.sessions() as session:
        final = session.get(SyncRun, ctx.run_id).status
    counts = {key: ctx.counters.get(key) for key in ("total", "done", "imported", "updated", "skipped", "failed")}
    log.info("sync.finished", extra={"run_id": ctx.run_id, "member_id": ctx.member_id, "realm_id": ctx.realm_id,
                                     "status": final, "dry_run": ctx.dry_run, **counts})
    return final


def fatal_reason(error: Exception) -> str:
    """What stopped the run, for the app page and the CLI."""
    if isinstance(error, RealmTokensUnreadable):  # TOKEN_ENCRYPTION_KEY lost the key they were written with
        return R.QBO_SIGN_IN_UNREADABLE
    if isinstance(error, StoredTokensUnreadable):
        return R.B24_SIGN_IN_UNREADABLE
    if isinstance(error, (Unauthorized, AuthorizationRevoked)):
        return R.QBO_AUTHORIZATION_GONE
    if isinstance(error, QuickBooksError):
        return reason(R.QBO_REFUSED_REQUEST, error=f"{type(error).__name__}: {error}")
    if isinstance(error, Bitrix24Error):
        return reason(R.B24_REFUSED_REQUEST, code=error.code or type(error).__name__, said=error.description)
    return reason(R.RUN_UNEXPECTED, error=f"{type(error).__name__}: {error}")
