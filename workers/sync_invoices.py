"""One page of QuickBooks invoices into Smart Invoices (crm.item 31 + product rows) or old invoices (crm.invoice)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clients.bitrix24_errors import Bitrix24Error
from clients.bitrix24_batch import Command
from mappers.customer_kind import top_level_id
from mappers.errors import MappingError
from mappers.invoice import InvoiceRecord, PortalFacts, deal_link_fields, map_invoice
from mappers.qbo_time import meta_time
from mappers.reasons import reason
from store.links import links_for_qbo_ids
from store.models import Link
from workers.change_payments import note_invoice_payments
from workers.b24_writes import Write, WriteOutcome, command_reason, created_id, read_batch, send_writes
from workers.customer_match import LIST_IDS, TRANSIENT_COMMAND, chunks
from workers.deal_links import claim_deals
from workers.portal_settings import SMART_INVOICE
from workers.reasons import CUSTOMER_FAILED, CUSTOMER_NOT_IN_B24, NO_ID
from workers.sync_customers import CUSTOMER, PERSON
from workers.sync_recover import recover_invoices
from workers.sync_state import Binding, SyncContext, mapping_reason

INVOICE = "Invoice"
WHAT = {"smart_invoice": "Smart Invoice", "invoice": "invoice"}


@dataclass(frozen=True)
class InvoiceTarget:
    """Where invoices go in this run: the kind, the portal's facts and the effective stage map."""

    entity: str  # "smart_invoice" | "invoice"
    facts: PortalFacts
    stage_map: dict[str, str]


@dataclass
class Update:
    record: InvoiceRecord
    b24_id: str
    recovered: bool


@dataclass
class InvoiceWrites:
    """A mapped page ready to write (prepare_invoice_page), settled with the writes' outcomes."""

    page: list[dict]
    creates: list[InvoiceRecord]
    updates: list[Update]
    writes: list[Write]


def sync_invoice_page(ctx: SyncContext, target: InvoiceTarget, page: list[dict],
                      resumed: bool) -> tuple[list[Binding], bool]:
    """Write one page; the links to bind with the checkpoint, and whether the run was cancelled meanwhile."""
    prepared = prepare_invoice_page(ctx, target, page, resumed)
    if prepared is None:
        return [], False
    outcomes, cancelled = send_writes(ctx, prepared.writes)
    return settle_invoice_page(ctx, prepared, outcomes), cancelled


def prepare_invoice_page(ctx: SyncContext, target: InvoiceTarget, page: list[dict],
                         resumed: bool) -> InvoiceWrites | None:
    """Map, split and recover one page: its writes, not sent (None in a dry run, which only counts)."""
    if not ctx.dry_run:
        note_invoice_payments(ctx.seen_payments, page)  # saved with the page (a payment's delete names none)
    records = _map_page(ctx, target, page)
    with ctx.sessions() as session:
        links = links_for_qbo_ids(session, ctx.portal_id, INVOICE, [r.qbo_id for r in records])
    creates, updates = _split(ctx, records, links)
    if resumed and not ctx.dry_run and creates:
        found = recover_invoices(ctx, creates)
        updates += [Update(r, found[r.qbo_id], True) for r in creates if r.qbo_id in found]
        creates = [r for r in creates if r.qbo_id not in found]
    if ctx.dry_run:
        _dry_run(ctx, target, page, creates, updates)
        return None
    deals = claim_deals(ctx, page, creates)  # only creates: an update keeps the deal it has
    return InvoiceWrites(page, creates, updates,
                         [_create(r, deals.get(r.qbo_id)) for r in creates] + [_update(u) for u in updates])


def settle_invoice_page(ctx: SyncContext, prepared: InvoiceWrites, outcomes: dict[str, WriteOutcome]) -> list[Binding]:
    """Rows to empty, then the page's links and tallies from the writes' outcomes."""
    page, creates, updates = prepared.page, prepared.creates, prepared.updates
    _clear_rows(ctx, updates, outcomes)
    stamps = {str(i["Id"]): meta_time(i) for i in page}
    bindings = [_settle(ctx, r.record if isinstance(r, Update) else r, r, outcomes[_key(r)], stamps)
                for r in [*creates, *updates] if _key(r) in outcomes]
    return [b for b in bindings if b is not None]


def top_customer(ctx: SyncContext, qbo_id: str, parents: Mapping[str, str] | None = None) -> tuple[str, str | None]:
    """The top-level ancestor of a (sub-)customer and, for a job, its full name (for the invoice's title).

    `ctx.cursor["subs"]` holds [parent id, job name] per sub-customer (sync_customers); `parents` is its
    id -> parent view, built once per page by the caller.
    """
    subs = ctx.cursor["subs"]
    parents = parents if parents is not None else {key: value[0] for key, value in subs.items()}
    job = subs[qbo_id][1] if qbo_id in subs else None
    return top_level_id(qbo_id, parents), job


def _map_page(ctx: SyncContext, target: InvoiceTarget, page: list[dict]) -> list[InvoiceRecord]:
    parents = {key: value[0] for key, value in ctx.cursor["subs"].items()}
    owners = {str(i["Id"]): top_customer(ctx, str((i.get("CustomerRef") or {}).get("value") or ""), parents)
              for i in page}
    tops = [owner for owner, _ in owners.values()]
    with ctx.sessions() as session:
        customers = links_for_qbo_ids(session, ctx.portal_id, CUSTOMER, tops)
        persons = links_for_qbo_ids(session, ctx.portal_id, PERSON, tops)
    records = []
    for invoice in page:
        qbo_id = str(invoice["Id"])
        owner, job = owners[qbo_id]
        try:
            company_id, contact_id = _parties(ctx, invoice, owner, customers.get(owner), persons.get(owner))
            records.append(map_invoice(invoice, realm_id=ctx.realm_id, target=target.entity,
                                       stage_map=target.stage_map, today=ctx.today, company_id=company_id,
                                       contact_id=contact_id, facts=target.facts, job_name=job))
        except (MappingError, KeyError, TypeError, ValueError) as error:
            ctx.fail("invoices", INVOICE, qbo_id, _doc(invoice), mapping_reason(error))
    return records


def _parties(ctx: SyncContext, invoice: dict, owner: str, link: Link | None,
             person: Link | None) -> tuple[str | None, str | None]:
    """(company_id, contact_id) of the invoice's customer; MappingError naming it when it is not in Bitrix24."""
    if link is not None:
        if link.b24_type == "company":
            return link.b24_id, person.b24_id if person else None
        return None, link.b24_id
    name = str((invoice.get("CustomerRef") or {}).get("name") or owner)
    failed = owner in ctx.cursor["failed_customers"]
    if ctx.dry_run and not failed:
        return None, None  # the customer would be created first in a real run
    raise MappingError(reason(CUSTOMER_FAILED if failed else CUSTOMER_NOT_IN_B24, name=name, id=owner))


def _split(ctx: SyncContext, records: list[InvoiceRecord],
           links: dict[str, Link]) -> tuple[list[InvoiceRecord], list[Update]]:
    creates, updates = [], []
    for record in records:
        link = links.get(record.qbo_id)
        if link is None or link.b24_type != record.entity:
            creates.append(record)
        elif link.content_hash == record.content_hash:
            ctx.count("invoices", "skipped")
        else:
            updates.append(Update(record, link.b24_id, False))
    return creates, updates


def _key(item: InvoiceRecord | Update) -> str:
    return (item.record if isinstance(item, Update) else item).qbo_id


def _create(record: InvoiceRecord, deal_id: str | None = None) -> Write:
    name, fields = f"a{record.qbo_id}", {**record.fields, **deal_link_fields(record.entity, deal_id)}
    if record.entity == "invoice":
        return Write(record.qbo_id, {name: ("crm.invoice.add", {"fields": fields})})
    commands: dict[str, Command] = {name: ("crm.item.add", {"entityTypeId": SMART_INVOICE, "fields": fields})}
    if record.product_rows:
        # the new item's id, resolved inside the same batch request (reference §7)
        commands[f"r{record.qbo_id}"] = ("crm.item.productrow.set", {
            "ownerType": "SI", "ownerId": f"$result[{name}][item][id]", "productRows": list(record.product_rows)})
    return Write(record.qbo_id, commands)


def _update(update: Update) -> Write:
    record, name = update.record, f"e{update.record.qbo_id}"  # "e": never a customer's c/u/p in a shared batch
    if record.entity == "invoice":
        return Write(record.qbo_id, {name: ("crm.invoice.update", {"id": update.b24_id, "fields": record.fields})})
    commands: dict[str, Command] = {name: ("crm.item.update", {"entityTypeId": SMART_INVOICE, "id": update.b24_id,
                                                              "fields": record.fields})}
    if record.product_rows:  # productrow.set replaces every row, so a re-sync never doubles them
        commands[f"r{record.qbo_id}"] = ("crm.item.productrow.set", {
            "ownerType": "SI", "ownerId": update.b24_id, "productRows": list(record.product_rows)})
    return Write(record.qbo_id, commands)


def _clear_rows(ctx: SyncContext, updates: list[Update], outcomes: dict[str, WriteOutcome]) -> None:
    """Empty the rows of an invoice whose QuickBooks lines all went away (both kinds replace every row)."""
    # Outside the batch: a batch command is a query string, where an empty list vanishes (PHP's
    # http_build_query; clients/bitrix24_batch.php_query), so the batch update left the rows as they were;
    # crm-item-productrow-set.md marks productRows required. A JSON call can say "no rows".
    for update in updates:
        record, outcome = update.record, outcomes.get(update.record.qbo_id)
        if outcome is None or outcome.errors or not _rowless(record):
            continue
        try:
            if record.entity == "smart_invoice":
                ctx.b24.call("crm.item.productrow.set", {"ownerType": "SI", "ownerId": update.b24_id, "productRows": []})
            else:  # crm-invoice-update.md: PRODUCT_ROWS given replaces the invoice's rows
                ctx.b24.call("crm.invoice.update", {"id": update.b24_id, "fields": {"PRODUCT_ROWS": []}})
        except TRANSIENT_COMMAND:
            raise  # the page stays in flight: the retry re-sends the update and this call
        except Bitrix24Error as error:
            outcome.errors[f"r{record.qbo_id}"] = error


def _rowless(record: InvoiceRecord) -> bool:
    if record.entity == "smart_invoice":
        return not record.product_rows
    return record.fields.get("PRODUCT_ROWS") == []


def _settle(ctx: SyncContext, record: InvoiceRecord, item: InvoiceRecord | Update, outcome: WriteOutcome,
            stamps: dict[str, Any]) -> Binding | None:
    """The invoice's link; its hash only when the rows were written too (else the next run rewrites it)."""
    update = item if isinstance(item, Update) else None
    main = f"e{record.qbo_id}" if update else f"a{record.qbo_id}"
    action, what = ("update" if update else "create"), WHAT[record.entity]
    error = outcome.errors.get(main)
    b24_id = update.b24_id if update else (None if error else created_id(outcome.results.get(main)))
    if error is not None or b24_id is None:
        ctx.fail("invoices", INVOICE, record.qbo_id, _title(record),
                 command_reason(error, action, what) if error else NO_ID)
        return Binding(INVOICE, record.qbo_id, record.entity, b24_id, None) if update and update.recovered else None
    rows_error = outcome.errors.get(f"r{record.qbo_id}")
    if rows_error is not None:
        ctx.fail("invoices", INVOICE, record.qbo_id, _title(record), command_reason(rows_error, action, f"{what}'s product rows"))
    else:
        ctx.count("invoices", "updated" if update and not update.recovered else "imported")
    return Binding(INVOICE, record.qbo_id, record.entity, b24_id, None if rows_error else record.content_hash,
                   stamps.get(record.qbo_id))


def _dry_run(ctx: SyncContext, target: InvoiceTarget, page: list[dict], creates: list[InvoiceRecord],
             updates: list[Update]) -> None:
    """Count would-create and would-update, and list the stage moves an update would make."""
    ctx.count("invoices", "imported", len(creates))
    ctx.count("invoices", "updated", len(updates))
    current = _current_stages(ctx, target.entity, [u.b24_id for u in updates])
    docs = {str(i["Id"]): i.get("DocNumber") for i in page}
    stage_key = "stageId" if target.entity == "smart_invoice" else "STATUS_ID"
    for update in updates:
        new, old = str(update.record.fields.get(stage_key)), current.get(update.b24_id)
        if old != new:
            ctx.stage_move(update.record.qbo_id, docs.get(update.record.qbo_id), old, new)


def _current_stages(ctx: SyncContext, entity: str, b24_ids: list[str]) -> dict[str, str]:
    """{id: stage} of existing invoices, one list command per 50."""
    commands: dict[str, Command] = {}
    for index, part in enumerate(chunks(sorted(set(b24_ids), key=int), LIST_IDS)):
        commands[f"s{index}"] = (("crm.item.list", {"entityTypeId": SMART_INVOICE, "filter": {"@id": part},
                                                    "select": ["id", "stageId"]}) if entity == "smart_invoice" else
                                 ("crm.invoice.list", {"filter": {"@ID": part}, "select": ["ID", "STATUS_ID"]}))
    answer = read_batch(ctx, commands)
    stages: dict[str, str] = {}
    for result in answer.results.values():
        rows = (result or {}).get("items", []) if isinstance(result, dict) else (result or [])
        for row in rows:
            stages[str(row.get("id") or row.get("ID"))] = str(row.get("stageId") or row.get("STATUS_ID"))
    return stages


def _doc(invoice: dict) -> str:
    return f"Invoice {invoice.get('DocNumber') or invoice['Id']}"


def _title(record: InvoiceRecord) -> str:
    return str(record.fields.get("title") or record.fields.get("ORDER_TOPIC") or record.qbo_id)
