"""Find what an interrupted page already created, by the origin markers every created record carries.

Bitrix24 has no idempotency key: a worker killed between a batch write and its link commit leaves
records Bitrix24 holds and the link store does not know. Before a resumed page writes anything, the
records it would create are looked up by marker: contacts/companies by ORIGINATOR_ID + ORIGIN_ID
(crm.contact.list/crm.company.list filter any field, `@` = in; reference §5), Smart Invoices by
`xmlId` (crm.item.list filters its fields with the same prefixes), old invoices by `XML_ID`.
"""
from __future__ import annotations

from clients.bitrix24_batch import Command
from mappers.invoice import InvoiceRecord
from mappers.origin import originator_id
from workers.b24_writes import read_batch
from workers.customer_match import chunks
from workers.portal_settings import SMART_INVOICE
from workers.sync_state import SyncContext

# ≤ 25 markers a command keeps the answer inside one 50-row page even if each matched twice.
MARKERS_PER_COMMAND = 25


def recover_by_origin(ctx: SyncContext, entity: str, origin_ids: list[str]) -> dict[str, str]:
    """{ORIGIN_ID: id} of this realm's contacts or companies with these markers (lowest id wins)."""
    ours = originator_id(ctx.realm_id)
    commands: dict[str, Command] = {
        f"o{index}": (f"crm.{entity}.list", {"filter": {"ORIGINATOR_ID": ours, "@ORIGIN_ID": part},
                                             "select": ["ID", "ORIGIN_ID"], "order": {"ID": "ASC"}, "start": -1})
        for index, part in enumerate(chunks(sorted(set(origin_ids)), MARKERS_PER_COMMAND))}
    answer = read_batch(ctx, commands)
    if answer.errors:
        raise next(iter(answer.errors.values()))  # resuming blind could duplicate: stop instead
    found: dict[str, str] = {}
    for result in answer.results.values():
        for row in result or []:
            found.setdefault(str(row["ORIGIN_ID"]), str(row["ID"]))
    return found


def recover_invoices(ctx: SyncContext, records: list[InvoiceRecord]) -> dict[str, str]:
    """{qbo_id: id} of the invoices among `records` that Bitrix24 already holds by their xmlId/XML_ID."""
    by_marker = {_marker(r): r.qbo_id for r in records}
    if not by_marker:
        return {}
    smart = records[0].entity == "smart_invoice"
    found = _invoice_lookup(ctx, smart, sorted(by_marker), in_filter=True)
    if found is None:
        # Whether crm.invoice.list accepts `@XML_ID` is not documented; if it refuses, ask one marker
        # at a time with the plain equality filter every list method takes.
        found = _invoice_lookup(ctx, smart, sorted(by_marker), in_filter=False) or {}
    return {by_marker[marker]: b24_id for marker, b24_id in found.items() if marker in by_marker}


def _marker(record: InvoiceRecord) -> str:
    return str(record.fields.get("xmlId") or record.fields.get("XML_ID") or "")


def _invoice_lookup(ctx: SyncContext, smart: bool, markers: list[str], *, in_filter: bool) -> dict[str, str] | None:
    groups = chunks(markers, MARKERS_PER_COMMAND) if in_filter else ([m] for m in markers)
    commands = {f"i{index}": _invoice_list(smart, group, in_filter) for index, group in enumerate(groups)}
    answer = read_batch(ctx, commands)
    if answer.errors:
        if in_filter:
            return None
        raise next(iter(answer.errors.values()))
    found: dict[str, str] = {}
    for result in answer.results.values():
        rows = (result or {}).get("items", []) if smart else (result or [])
        for row in rows:
            marker, b24_id = (row.get("xmlId"), row.get("id")) if smart else (row.get("XML_ID"), row.get("ID"))
            found.setdefault(str(marker), str(b24_id))
    return found


def _invoice_list(smart: bool, markers: list[str], in_filter: bool) -> Command:
    value = markers if in_filter else markers[0]
    if smart:
        return "crm.item.list", {"entityTypeId": SMART_INVOICE, "filter": {("@xmlId" if in_filter else "=xmlId"): value},
                                 "select": ["id", "xmlId"], "order": {"id": "ASC"}}
    return "crm.invoice.list", {"filter": {("@XML_ID" if in_filter else "XML_ID"): value},
                                "select": ["ID", "XML_ID"], "order": {"ID": "ASC"}, "start": -1}
