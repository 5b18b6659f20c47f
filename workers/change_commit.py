"""A change pull's run-less SyncContext and its one commit: links, sync log, watermark and tallies together.

Exactly once across crashes, as a full-sync page is: `pull_in_flight` is committed before the first
Bitrix24 write of a pull (or a Retry), and cleared in the transaction that binds its links and moves the
watermark (a Retry's commit clears it unless a dead pull had left it set). A pull or full run that finds it set (its predecessor died between writing and committing) runs its handlers as a
resumed page, finding what was created by origin markers instead of creating it again.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from clients.bitrix24 import Bitrix24Client
from clients.quickbooks import QuickBooksClient
from store.db import transaction
from store.models import Portal, QboConnection
from workers.change_apply import ApplyResult
from workers.change_merge import mark_handled
from workers.change_payments import invoices_of_payments
from workers.customer_parents import known_subs
from workers.lease import LeaseLost
from workers.pull_lease import PullLease, still_held
from workers.runs import writing_run
from workers.sync_state import Binding, SyncContext, bind_all, empty_report, flush_sync_log

COUNTS = ("applied", "skipped", "failed", "pulls", "qbo_calls")


def pull_context(sessions: sessionmaker[Session], portal: Portal, realm_id: str, *, qbo: QuickBooksClient,
                 b24: Bitrix24Client, lease: PullLease | None = None, facts_cache: Any = None) -> SyncContext:
    """A SyncContext with no run: its cursor lives in memory, its stop signal is the pull lease's."""
    with sessions() as session:
        subs = known_subs(session, portal.id)
    cursor = {"subs": subs, "failed_customers": {}, "report": empty_report(False)}
    return SyncContext(sessions=sessions, run_id=None, portal_id=portal.id, member_id=portal.member_id,
                       realm_id=realm_id, qbo=qbo, b24=b24, dry_run=False, today=date.today(), page_size=1000,
                       stored_settings=dict(portal.settings or {}), cursor=cursor, counters={},
                       pull_lost=lease.lost if lease else None, subs_stored={k: list(v) for k, v in subs.items()},
                       facts_cache=facts_cache)


def set_in_flight(sessions: sessionmaker[Session], realm_id: str, mine: PullLease | None) -> bool:
    """Committed before the pull's first Bitrix24 write; False (nothing set) when a full run of the portal was
    queued since the pull looked (the run's task waits while the pull's lease is live; this covers a lease
    that lapsed unnoticed, and the pull does not write alongside a run either way)."""
    with transaction(sessions) as session:
        connection = _connection(session, realm_id, mine)
        if writing_run(session, connection.portal_id) is not None:
            return False
        connection.pull_in_flight = True
        return True


def commit_links(ctx: SyncContext, mine: PullLease | None, bindings: list[Binding]) -> None:
    """Bind links before the pull's end (customers, which its invoices need); the final commit binds them again."""
    with transaction(ctx.sessions) as session:
        _connection(session, ctx.realm_id, mine)
        bind_all(session, ctx.portal_id, bindings)
        flush_sync_log(session, ctx, bindings)


def commit_changes(ctx: SyncContext, result: ApplyResult, *, mine: PullLease | None, watermark: str | None,
                   payments: list[dict[str, Any]], calls: int, pulls: int = 1, clear_in_flight: bool = False) -> None:
    """Bind the links, log the failures, remember the payments' invoices, mark the applied merges handled,
    move the watermark (None: keep it, and the pull in flight unless `clear_in_flight`) and add the tallies:
    one transaction. LeaseLost (rolled back) when another process took the pull over."""
    with transaction(ctx.sessions) as session:
        connection = _connection(session, ctx.realm_id, mine)
        bind_all(session, ctx.portal_id, result.bindings)
        flush_sync_log(session, ctx, result.bindings)
        if payments:
            invoices_of_payments(session, ctx.portal_id, payments)
        mark_handled(session, result.merges)
        if watermark is not None:
            connection.cdc_watermark = watermark
        if watermark is not None or clear_in_flight:  # a Retry's commit (it set the flag itself)
            connection.pull_in_flight = False
        if result.last_change is not None:
            connection.last_change = result.last_change
        counts = {key: int((connection.change_counts or {}).get(key, 0)) for key in COUNTS}
        for key, value in (("applied", result.applied), ("skipped", result.skipped), ("failed", result.failed),
                           ("pulls", pulls), ("qbo_calls", calls)):
            counts[key] += value
        connection.change_counts = counts


def _connection(session: Session, realm_id: str, mine: PullLease | None) -> QboConnection:
    if mine is not None and not still_held(session, mine):
        raise LeaseLost()
    return session.query(QboConnection).filter_by(realm_id=realm_id).with_for_update().one()
