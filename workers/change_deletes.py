"""Deletes in the change feed: QuickBooks tombstones (CDC `status: Deleted`, reference §2) into the CRM.

An invoice deleted in QuickBooks moves to the stage map's "deleted" stage (default), or, with the portal's
setting on_invoice_delete = "remove", its Bitrix24 invoice is deleted (crm.item.delete entityTypeId 31, or
crm.invoice.delete) and the link goes. A customer deleted (or merged away) is unlinked; its CRM record
stays, it may hold the portal's own history. Tombstones of records never linked change nothing (CDC
reports deletes of records we never saw; reference §2 "tolerate Deleted for never-seen ids").
"""
from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from clients.bitrix24_errors import NotFound
from store.db import transaction
from store.links import links_for_qbo_ids
from store.models import Link, ReceivedEvent
from store.sync_log import clear_failures
from workers.b24_writes import Write, command_reason, send_writes
from workers.customer_parents import forget_subs
from workers.portal_settings import SMART_INVOICE, effective_settings
from workers.sync_customers import CUSTOMER, PERSON
from workers.sync_invoices import INVOICE, WHAT, InvoiceTarget
from workers.sync_state import Binding, SyncContext

DELETED_STAGE = "deleted"  # the stage map's key (mappers/invoice_status.InvoiceStatus.DELETED)
DELETED_HASH = "deleted:"  # a moved invoice's link hash: "deleted:<stage>", which no mapped invoice has


def apply_invoice_tombstones(ctx: SyncContext, target: InvoiceTarget, qbo_ids: list[str]) -> list[Binding]:
    """Deleted invoices: the bindings to commit (stage moves), removals already unlinked."""
    with ctx.sessions() as session:
        links = links_for_qbo_ids(session, ctx.portal_id, INVOICE, [str(i) for i in qbo_ids])
    forget_unlinked_invoices(ctx, [str(i) for i in qbo_ids if str(i) not in links])
    if not links:
        return []
    if effective_settings(ctx.stored_settings, [])["on_invoice_delete"] == "remove":
        _remove(ctx, list(links.values()))
        return []
    return _to_deleted_stage(ctx, target, list(links.values()))


def forget_unlinked_invoices(ctx: SyncContext, qbo_ids: list[str]) -> None:
    """Deleted invoices never written (e.g. they failed): gone from QuickBooks, nothing is left to retry,
    so their failures leave the sync log (no Bitrix24 call: there is nothing of theirs there)."""
    if qbo_ids:
        with transaction(ctx.sessions) as session:
            clear_failures(session, ctx.portal_id, INVOICE, qbo_ids)


def _to_deleted_stage(ctx: SyncContext, target: InvoiceTarget, links: list[Link]) -> list[Binding]:
    stage = target.stage_map[DELETED_STAGE]
    writes = [Write(link.qbo_id, {f"d{link.qbo_id}": _stage_command(link, stage)}) for link in links]
    outcomes, _ = send_writes(ctx, writes)
    bindings, gone = [], []
    for link in links:
        outcome = outcomes.get(link.qbo_id)
        if outcome is None:
            continue  # cancelled before it was sent: the link stays as it was
        error = outcome.first_error()
        if isinstance(error, NotFound):
            gone.append(link)  # removed in Bitrix24 already: nothing left to move
        elif error is not None:
            ctx.fail("invoices", INVOICE, link.qbo_id, f"Invoice {link.qbo_id}",
                     command_reason(error, "update", WHAT.get(link.b24_type, "invoice")))
        else:
            ctx.count("invoices", "updated")
            # a hash no mapped invoice has: written in full (the sync log forgets it), never "unchanged"
            bindings.append(Binding(INVOICE, link.qbo_id, link.b24_type, link.b24_id, f"{DELETED_HASH}{stage}",
                                    link.source_updated_at))
    _unlink(ctx, INVOICE, gone)
    return bindings


def tombstone_applied(qbo_type: str, link: Link | None) -> bool:
    """Whether the link store shows this tombstone applied already (a later pull's overlap reads it again):
    an invoice moved to the deleted stage (its link's hash says so), or removed or never linked (no link:
    nothing to do; a failure it left in the sync log is cleared by the caller, `forget_unlinked_invoices`).
    A deleted invoice is never live again in QuickBooks, so no later change is lost. A
    customer's tombstone always goes through: unlinking is free, and a deleted job (never linked) still
    has its stored parent to forget."""
    if qbo_type != INVOICE:
        return False
    return link is None or (link.content_hash or "").startswith(DELETED_HASH)


def _stage_command(link: Link, stage: str) -> tuple[str, dict]:
    if link.b24_type == "smart_invoice":
        return "crm.item.update", {"entityTypeId": SMART_INVOICE, "id": link.b24_id, "fields": {"stageId": stage}}
    return "crm.invoice.update", {"id": link.b24_id, "fields": {"STATUS_ID": stage}}


def _remove(ctx: SyncContext, links: list[Link]) -> None:
    """Delete the Bitrix24 invoices, then unlink them (a crash between: the next pull deletes again, finds
    nothing, and unlinks)."""
    writes = [Write(link.qbo_id, {f"x{link.qbo_id}": _delete_command(link)}) for link in links]
    outcomes, _ = send_writes(ctx, writes)
    removed = []
    for link in links:
        outcome = outcomes.get(link.qbo_id)
        if outcome is None:
            continue
        error = outcome.first_error()
        if error is None or isinstance(error, NotFound):
            removed.append(link)
            ctx.count("invoices", "removed")
        else:
            ctx.fail("invoices", INVOICE, link.qbo_id, f"Invoice {link.qbo_id}",
                     command_reason(error, "delete", WHAT.get(link.b24_type, "invoice")))
    _unlink(ctx, INVOICE, removed)


def _delete_command(link: Link) -> tuple[str, dict]:
    if link.b24_type == "smart_invoice":
        return "crm.item.delete", {"entityTypeId": SMART_INVOICE, "id": link.b24_id}
    return "crm.invoice.delete", {"id": link.b24_id}


def apply_customer_tombstones(ctx: SyncContext, qbo_ids: list[str]) -> None:
    """Deleted or merged-away customers: unlinked (and their person contact's link), CRM records kept.

    A customer named by a Merge event not handled yet is left to change_merge.apply_merges, which moves its
    CRM record to the survivor: unlinking it first would make the survivor a new duplicate record.
    """
    wanted = {str(i) for i in qbo_ids}
    with ctx.sessions() as session:
        wanted -= _pending_merges(session, ctx.portal_id, wanted)
        links = links_for_qbo_ids(session, ctx.portal_id, CUSTOMER, wanted)
        persons = links_for_qbo_ids(session, ctx.portal_id, PERSON, wanted)
    with transaction(ctx.sessions) as session:
        unlink(session, ctx.portal_id, [*links.values(), *persons.values()])
        forget_subs(session, ctx.portal_id, wanted)  # a deleted job's invoices are gone or moved too
        clear_failures(session, ctx.portal_id, CUSTOMER, wanted)
    ctx.count("customers", "removed", len(links))


def _pending_merges(session: Session, portal_id: int, qbo_ids: set[str]) -> set[str]:
    if not qbo_ids:
        return set()
    return set(session.scalars(select(ReceivedEvent.deleted_id).where(
        ReceivedEvent.portal_id == portal_id, ReceivedEvent.entity == CUSTOMER, ReceivedEvent.operation == "Merge",
        ReceivedEvent.handled_at.is_(None), ReceivedEvent.deleted_id.in_(sorted(qbo_ids)))))


def _unlink(ctx: SyncContext, qbo_type: str, links: list[Link]) -> None:
    if links:
        with transaction(ctx.sessions) as session:
            unlink(session, ctx.portal_id, links)
            clear_failures(session, ctx.portal_id, qbo_type, [link.qbo_id for link in links])


def unlink(session: Session, portal_id: int, links: list[Link]) -> None:
    """Drop these links as they were read (a link rebound meanwhile to another CRM record stays)."""
    for link in links:
        session.execute(delete(Link).where(Link.portal_id == portal_id, Link.id == link.id,
                                           Link.b24_id == link.b24_id))
