"""Applying QuickBooks changes through the full sync's own page handlers: one apply path for both.

A pull (workers/changes.py) or a Retry (workers/change_retry.py) hands over changed customers and invoices
(tombstones included); they go through `sync_customer_page` and `sync_invoice_page` with a run-less
SyncContext, customers first (an invoice needs its customer's CRM record), each in LastUpdatedTime order.
A record whose link holds a newer LastUpdatedTime than the change is skipped: an older change (a late
overlap, a slow Retry) never overwrites a newer one; so is a tombstone the link store shows applied. Nothing here commits: the caller binds the returned
links with its watermark in one transaction.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from mappers.invoice_status import InvoiceStatus, invoice_status
from mappers.qbo_time import meta_time
from store.links import links_for_qbo_ids
from store.models import utcnow
from workers.change_read import read_by_ids
from workers.change_deletes import (apply_customer_tombstones, apply_invoice_tombstones, forget_unlinked_invoices,
                                    tombstone_applied)
from workers.change_merge import apply_merges
from workers.customer_match import chunks
from workers.customer_parents import resolve_owners
from workers.portal_facts import read_facts_and_stages, stage_map_of, uses_new_invoice
from workers.b24_writes import send_together, send_writes
from workers.sync_customers import CUSTOMER, CustomerWrites, prepare_customer_page, settle_customer_page
from workers.sync_invoices import (INVOICE, InvoiceTarget, InvoiceWrites, prepare_invoice_page, settle_invoice_page,
                                   sync_invoice_page)
from workers.sync_state import KINDS, Binding, SyncContext

Checkpoint = Callable[[list[Binding]], None]
EPOCH = datetime.min.replace(tzinfo=timezone.utc)
STAGE_STATUSES = (InvoiceStatus.PAID, InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.VOIDED, InvoiceStatus.SENT)


@dataclass
class ApplyResult:
    """The links to bind, what the last applied change was, and the tallies of this apply."""

    bindings: list[Binding] = field(default_factory=list)
    last_change: dict[str, Any] | None = None
    applied: int = 0
    skipped: int = 0
    failed: int = 0
    cancelled: bool = False
    merges: list[int] = field(default_factory=list)  # Merge events whose survivors were applied


def stamp(record: dict[str, Any]) -> datetime:
    """The record's MetaData.LastUpdatedTime (aware UTC); unreadable: the epoch (sorts first, never skips)."""
    return meta_time(record) or EPOCH


def latest(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One version per Id (the newest; a tombstone over a live copy of the same instant), oldest first."""
    newest: dict[str, dict[str, Any]] = {}
    for record in records:
        key, held = str(record["Id"]), newest.get(str(record["Id"]))
        if held is None or (stamp(record), _deleted(record)) >= (stamp(held), _deleted(held)):
            newest[key] = record
    return sorted(newest.values(), key=lambda r: (stamp(r), str(r["Id"])))


def _deleted(record: dict[str, Any]) -> bool:
    return record.get("status") == "Deleted"


def newer_only(ctx: SyncContext, qbo_type: str, records: list[dict[str, Any]]) -> tuple[list[dict], dict, int]:
    """The records not older than what their link holds, the links, and how many were older."""
    with ctx.sessions() as session:
        links = links_for_qbo_ids(session, ctx.portal_id, qbo_type, [str(r["Id"]) for r in records])
    kept = [r for r in records if not _older(qbo_type, r, links.get(str(r["Id"])))]
    return kept, links, len(records) - len(kept)


def _older(qbo_type: str, record: dict[str, Any], link: Any) -> bool:
    """Skipped: a change older than the link's, or a tombstone applied already (no Bitrix24 call again)."""
    if _deleted(record):
        return tombstone_applied(qbo_type, link)
    held = link.source_updated_at if link is not None else None  # aware UTC (store.models.UtcDateTime)
    return held is not None and stamp(record) < held


def apply_changes(ctx: SyncContext, customers: list[dict], invoices: list[dict], *, resumed: bool,
                  checkpoint: Checkpoint | None = None) -> ApplyResult:
    """Apply the changes (customers, then invoices, each oldest first); the links to bind and the tallies.

    `checkpoint` commits the customers' links before the invoices are mapped (an invoice finds its customer's
    CRM record through the link store, as in the full sync's second phase); committing links early is safe:
    the pull stays in flight until its final commit, so a crash after it resumes with them bound."""
    result, before = ApplyResult(), _tally(ctx)
    survivors, merges = apply_merges(ctx)
    customers = latest(customers + _missing(ctx, "Customer", survivors, customers))
    customers, customer_links, older = newer_only(ctx, CUSTOMER, customers)
    result.skipped += older
    gone = [str(c["Id"]) for c in customers if _deleted(c)]
    if gone:
        apply_customer_tombstones(ctx, gone)
    live = [c for c in customers if not _deleted(c)]
    changed_invoices = latest(invoices)
    invoices, invoice_links, older = newer_only(ctx, INVOICE, changed_invoices)
    result.skipped += older
    # Skipped, a tombstone of an invoice never linked (it failed) still takes its failure out of the sync log.
    forget_unlinked_invoices(ctx, [str(i["Id"]) for i in changed_invoices
                                   if _deleted(i) and str(i["Id"]) not in invoice_links])
    shared = _shareable(ctx, live, invoices, resumed)
    if shared is not None and shared.independent:
        pages: Iterable[CustomerWrites | None] = []  # written with the invoices, in their batches
    elif shared is not None:
        pages, shared = [shared], None  # new or matched customers: written and bound before the invoices map
    else:
        pages = (prepare_customer_page(ctx, page, resumed) for page in chunks(live, ctx.page_size))
    if _write_customers(ctx, pages, result):
        return _finish(ctx, result, before)
    result.merges = merges  # the survivors are written (or go with the invoices): the commit marks them handled
    if checkpoint is not None and result.bindings and invoices:
        checkpoint(result.bindings)
    if invoices:
        _apply_invoices(ctx, invoices, resumed, result, shared)
    _last_change(ctx, result, customers, customer_links, invoices, invoice_links, survivors)
    return _finish(ctx, result, before)


def _shareable(ctx: SyncContext, live: list[dict], invoices: list[dict], resumed: bool) -> CustomerWrites | None:
    """The customers' one page prepared when the invoices' one page follows: if it holds only linked
    customers, its writes travel in the invoices' batches (one request where there were two)."""
    live_invoices = sum(1 for i in invoices if not _deleted(i))
    if ctx.dry_run or not live or not live_invoices or max(len(live), live_invoices) > ctx.page_size:
        return None
    return prepare_customer_page(ctx, live, resumed)


def _write_customers(ctx: SyncContext, pages: Iterable[CustomerWrites | None], result: ApplyResult) -> bool:
    """Write and settle the customer pages; whether the pull was cancelled meanwhile."""
    for prepared in pages:
        if prepared is None:
            continue
        outcomes, cancelled = send_writes(ctx, prepared.writes)
        bindings, cancelled = settle_customer_page(ctx, prepared, outcomes, cancelled)
        result.bindings += bindings
        if cancelled:
            result.cancelled = True
            return True
    return False


def _apply_invoices(ctx: SyncContext, invoices: list[dict], resumed: bool, result: ApplyResult,
                    shared: CustomerWrites | None) -> None:
    target = invoice_target(ctx)
    gone = [str(i["Id"]) for i in invoices if _deleted(i)]
    if gone:
        result.bindings += apply_invoice_tombstones(ctx, target, gone)
    live = [i for i in invoices if not _deleted(i)]
    resolve_owners(ctx, {str((i.get("CustomerRef") or {}).get("value") or "") for i in live} - {""})
    for page in chunks(live, ctx.page_size):
        if shared is not None:  # one page of each (_shareable)
            cancelled = _write_shared(ctx, shared, prepare_invoice_page(ctx, target, page, resumed), result)
        else:
            bindings, cancelled = sync_invoice_page(ctx, target, page, resumed)
            result.bindings += bindings
        if cancelled:
            result.cancelled = True
            break
    if ctx.facts_cache is not None:
        ctx.facts_cache.drop_if_stale(ctx.report["failures"])


def _write_shared(ctx: SyncContext, customers: CustomerWrites, invoices: InvoiceWrites | None,
                  result: ApplyResult) -> bool:
    """The linked customers' and the invoices' writes in the same batches, customers first (their command
    names c/u/p never meet an invoice's a/e/r); whether the pull was cancelled meanwhile."""
    (customer_outcomes, invoice_outcomes), cancelled = send_together(
        ctx, customers.writes, invoices.writes if invoices is not None else [])
    bindings, cancelled = settle_customer_page(ctx, customers, customer_outcomes, cancelled)
    result.bindings += bindings
    if invoices is not None:
        result.bindings += settle_invoice_page(ctx, invoices, invoice_outcomes)
    return cancelled


def invoice_target(ctx: SyncContext) -> InvoiceTarget:
    """Where invoices go, as the full sync decides it (workers/full_sync._handler); a pull's facts come from
    its cache (workers/facts_cache.py), read once per portal rather than once per pull."""
    use_new = uses_new_invoice(ctx.stored_settings)
    if ctx.facts_cache is None:
        facts, stages = read_facts_and_stages(ctx.b24, use_new)
    else:
        facts, stages = ctx.facts_cache.facts(ctx.b24, use_new)
    return InvoiceTarget("smart_invoice" if use_new else "invoice", facts, stage_map_of(ctx.stored_settings, stages))


def _missing(ctx: SyncContext, entity: str, ids: set[str], have: list[dict]) -> list[dict]:
    """Records to (re)apply that the changes did not bring (merge survivors), read from QuickBooks."""
    wanted = set(ids) - {str(r["Id"]) for r in have}
    return read_by_ids(ctx.qbo, entity, wanted) if wanted else []


def _tally(ctx: SyncContext) -> dict[str, int]:
    report = ctx.report
    return {outcome: sum(report[kind].get(outcome, 0) for kind in KINDS)
            for outcome in ("imported", "updated", "placed", "skipped", "failed")}


def _finish(ctx: SyncContext, result: ApplyResult, before: dict[str, int]) -> ApplyResult:
    after = _tally(ctx)
    delta = {key: after[key] - before[key] for key in after}
    result.applied += delta["imported"] + delta["updated"] + delta["placed"]
    result.skipped += delta["skipped"]
    result.failed += delta["failed"]
    return result


def _last_change(ctx: SyncContext, result: ApplyResult, customers: list[dict], customer_links: dict,
                 invoices: list[dict], invoice_links: dict, survivors: set[str]) -> None:
    """The newest change applied (not failed, not a re-read of what Bitrix24 holds already), for the app page."""
    failed = {(f["qbo_type"], str(f["qbo_id"])) for f in ctx.report["failures"]}
    bound = {(b.qbo_type, b.qbo_id) for b in result.bindings}
    candidates = [(stamp(r), CUSTOMER, r, customer_links) for r in customers]
    candidates += [(stamp(r), INVOICE, r, invoice_links) for r in invoices]
    for moment, entity, record, links in sorted(candidates, key=lambda c: c[0], reverse=True):
        qbo_id = str(record["Id"])
        if (entity, qbo_id) in failed:
            continue
        what = _what(ctx, entity, record, links.get(qbo_id), (entity, qbo_id) in bound, qbo_id in survivors)
        if what == "unchanged":
            continue  # an overlap's re-read: the last change shown stays the last real one
        result.last_change = {"entity": entity, "qbo_id": qbo_id, "name": _name(entity, record), "what": what,
                              "at": utcnow().isoformat(), "changed_at": moment.isoformat()}
        return


def _what(ctx: SyncContext, entity: str, record: dict, link: Any, bound: bool, merged: bool) -> str:
    if _deleted(record):
        if link is None:
            return "unchanged"  # unlinked already (or never linked): nothing changed in Bitrix24
        remove = entity == INVOICE and ctx.stored_settings.get("on_invoice_delete") == "remove"
        return "removed" if remove else "deleted"
    if merged:
        return "merged"
    if not bound:
        return "unchanged" if link is not None else "updated"  # a sub-customer: placed, never written
    if link is None:
        return "created"
    if entity == INVOICE and invoice_status(record, ctx.today) in STAGE_STATUSES:
        return "stage"
    return "updated"


def _name(entity: str, record: dict) -> str:
    if entity == INVOICE:
        return f"Invoice {record.get('DocNumber') or record['Id']}"
    return str(record.get("DisplayName") or record.get("CompanyName") or record["Id"])
