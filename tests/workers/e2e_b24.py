"""The Bitrix24 side of the end-to-end tests: everything the portal's CRM holds, read back over REST."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clients.bitrix24 import Bitrix24Client

SMART_INVOICE = 31
CLASSIC_SELECT = ["*", "UF_*", "EMAIL", "PHONE"]


@dataclass(frozen=True)
class Crm:
    """The portal's contacts, companies and invoices (of the kind under test), by id."""

    contacts: dict[str, dict[str, Any]]
    companies: dict[str, dict[str, Any]]
    invoices: dict[str, dict[str, Any]]       # Smart: crm.item fields + "productRows"; old: crm.invoice.get

    def by_origin(self, entity: str, origin_id: str) -> list[dict[str, Any]]:
        """Contacts or companies that carry `origin_id` (a list: more than one is a duplicate)."""
        records = self.contacts if entity == "contact" else self.companies
        return [r for r in records.values() if r.get("ORIGIN_ID") == origin_id]

    def invoices_by_xml_id(self, xml_id: str) -> list[dict[str, Any]]:
        return [i for i in self.invoices.values() if (i.get("xmlId") or i.get("XML_ID")) == xml_id]


def read_crm(reader: Bitrix24Client, target: str) -> Crm:
    """Every contact, company and invoice of the portal, through its REST API."""
    contacts = {r["ID"]: r for r in reader.list_all("crm.contact.list", {"select": CLASSIC_SELECT})}
    companies = {r["ID"]: r for r in reader.list_all("crm.company.list", {"select": CLASSIC_SELECT})}
    invoices = smart_invoices(reader) if target == "smart_invoice" else old_invoices(reader)
    return Crm(contacts, companies, invoices)


def smart_invoices(reader: Bitrix24Client) -> dict[str, dict[str, Any]]:
    """Smart Invoices with their product rows (one batch command per invoice)."""
    items = {str(i["id"]): i for i in reader.list_all("crm.item.list",
                                                     {"entityTypeId": SMART_INVOICE, "select": ["*"]})}
    rows = reader.batch({f"r{i}": ("crm.item.productrow.list",
                                   {"filter": {"=ownerType": "SI", "=ownerId": int(i)}}) for i in items})
    assert not rows.errors, rows.errors
    for item_id, item in items.items():
        item["productRows"] = rows.results[f"r{item_id}"]["productRows"]
    return items


def old_invoices(reader: Bitrix24Client) -> dict[str, dict[str, Any]]:
    """Old invoices as crm.invoice.get answers them (lists leave PRODUCT_ROWS out)."""
    ids = [row["ID"] for row in reader.list_all("crm.invoice.list", {"select": ["ID"]})]
    answers = reader.batch({f"i{i}": ("crm.invoice.get", {"id": i}) for i in ids})
    assert not answers.errors, answers.errors
    # crm.persontype.list names the payer kinds CRM_COMPANY / CRM_CONTACT (reference §6).
    kinds = {p["ID"]: p["NAME"].removeprefix("CRM_").lower()
             for p in reader.call("crm.persontype.list").result}
    invoices = {i: answers.results[f"i{i}"] for i in ids}
    return {i: {**row, "_payer": kinds.get(row["PERSON_TYPE_ID"], "?")} for i, row in invoices.items()}


def stages(reader: Bitrix24Client, target: str) -> list[dict[str, Any]]:
    """The invoice pipeline's stages, in kanban order (SORT)."""
    if target == "smart_invoice":
        categories = reader.call("crm.category.list", {"entityTypeId": SMART_INVOICE}).result["categories"]
        default = next(c for c in categories if c["isDefault"] == "Y")
        entity = f"SMART_INVOICE_STAGE_{default['id']}"
    else:
        entity = "INVOICE_STATUS"
    rows = reader.call("crm.status.list", {"filter": {"ENTITY_ID": entity}}).result
    return sorted(rows, key=lambda s: (int(s["SORT"]), int(s["ID"])))


def multi_values(record: dict[str, Any], kind: str) -> list[tuple[str, str, str]]:
    """A contact's or company's EMAIL or PHONE rows as (ID, VALUE, VALUE_TYPE)."""
    return [(str(r["ID"]), r["VALUE"], r["VALUE_TYPE"]) for r in record.get(kind) or []]
