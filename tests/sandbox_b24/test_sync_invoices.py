"""Both invoice kinds as the first sync writes them (reference §6).

Old invoices: DOCS crm/outdated/invoice/crm-invoice-fields.md (ORDER_TOPIC, PAY_SYSTEM_ID, PERSON_TYPE_ID
required; PRODUCT_ROWS, UF_CONTACT_ID / UF_COMPANY_ID, STATUS_ID, XML_ID, CURRENCY), crm-invoice-add.md,
crm-invoice-update.md. Smart Invoices: crm/universal/invoice.md, crm-item-add.md (fields; isManualOpportunity
"Y — manual, N — automatic"), crm-item-get.md (dates come back as ISO-8601 date-times, e.g.
"begindate": "2024-06-18T02:00:00+02:00"), product-rows/crm-item-productrow-set.md ("will overwrite all
existing product rows"; `price` is per unit "including discounts and taxes").
"""
from __future__ import annotations

from sandbox_b24.conftest import Portal, ok

OLD_BASE = {"ORDER_TOPIC": "Invoice 1001", "PERSON_TYPE_ID": "1", "PAY_SYSTEM_ID": "1"}


def _rows(*pairs: tuple[str, float, float]) -> list[dict]:
    return [{"ID": 0, "PRODUCT_ID": 0, "PRODUCT_NAME": n, "PRICE": p, "QUANTITY": q, "MEASURE_CODE": 796,
             "MEASURE_NAME": "pcs", "VAT_RATE": 0.1, "VAT_INCLUDED": "Y"} for n, p, q in pairs]


def test_old_invoice_add_with_everything_the_sync_sends(portal: Portal) -> None:
    company = ok(portal.call("crm.company.add", {"fields": {"TITLE": "Acme"}}))["result"]
    contact = ok(portal.call("crm.contact.add", {"fields": {"NAME": "Ada", "COMPANY_ID": company}}))["result"]
    fields = {**OLD_BASE, "UF_COMPANY_ID": company, "UF_CONTACT_ID": contact, "STATUS_ID": "S",
              "XML_ID": "qb24:9130:Invoice:12", "CURRENCY": "EUR", "DATE_BILL": "2026-01-05",
              "DATE_PAY_BEFORE": "2026-02-04", "COMMENTS": "Job: Garden", "PRODUCT_ROWS": _rows(("Design", 10.5, 2))}
    invoice_id = ok(portal.call("crm.invoice.add", {"fields": fields}))["result"]
    assert isinstance(invoice_id, int)
    got = ok(portal.call("crm.invoice.get", {"id": invoice_id}))["result"]
    assert (got["UF_COMPANY_ID"], got["UF_CONTACT_ID"], got["PERSON_TYPE_ID"], got["PAY_SYSTEM_ID"]) == (
        str(company), str(contact), "1", "1")
    assert (got["STATUS_ID"], got["XML_ID"], got["CURRENCY"], got["PRICE"]) == ("S", "qb24:9130:Invoice:12", "EUR", "21.00")
    [row] = got["PRODUCT_ROWS"]
    assert (row["PRODUCT_NAME"], row["PRICE"], row["QUANTITY"]) == ("Design", "10.5", "2")


def test_old_invoice_update_replaces_product_rows(portal: Portal) -> None:
    invoice_id = ok(portal.call("crm.invoice.add", {"fields": {**OLD_BASE, "PRODUCT_ROWS": _rows(
        ("A", 1, 1), ("B", 2, 1))}}))["result"]
    ok(portal.call("crm.invoice.update", {"id": invoice_id, "fields": {"PRODUCT_ROWS": _rows(("C", 7, 3))}}))
    got = ok(portal.call("crm.invoice.get", {"id": invoice_id}))["result"]
    assert [r["PRODUCT_NAME"] for r in got["PRODUCT_ROWS"]] == ["C"] and got["PRICE"] == "21.00"
    ok(portal.call("crm.invoice.update", {"id": invoice_id, "fields": {"STATUS_ID": "P"}}))
    again = ok(portal.call("crm.invoice.get", {"id": invoice_id}))["result"]
    assert [r["PRODUCT_NAME"] for r in again["PRODUCT_ROWS"]] == ["C"]  # rows not sent are kept


def test_old_invoice_required_fields_refused_with_the_classic_400(portal: Portal) -> None:
    for missing in OLD_BASE:
        refused = portal.call("crm.invoice.add", {"fields": {k: v for k, v in OLD_BASE.items() if k != missing}})
        assert refused.status_code == 400 and refused.json()["error"] == ""
        assert missing in refused.json()["error_description"]
    described = ok(portal.call("crm.invoice.fields"))["result"]
    assert all(described[k]["isRequired"] for k in OLD_BASE)


def _stages(portal: Portal) -> tuple[int, list[str]]:
    [category] = [c for c in ok(portal.call("crm.category.list", {"entityTypeId": 31}))["result"]["categories"]
                  if c["isDefault"] == "Y"]
    statuses = ok(portal.call("crm.status.list", {"filter": {"ENTITY_ID": f"SMART_INVOICE_STAGE_{category['id']}"}}))
    return category["id"], [s["STATUS_ID"] for s in statuses["result"]]


def test_smart_invoice_add_with_everything_the_sync_sends(portal: Portal) -> None:
    company = ok(portal.call("crm.company.add", {"fields": {"TITLE": "Acme"}}))["result"]
    contacts = [ok(portal.call("crm.contact.add", {"fields": {"NAME": n}}))["result"] for n in ("Ada", "Bob")]
    category_id, stages = _stages(portal)
    fields = {"title": "Invoice 1001", "stageId": stages[1], "categoryId": category_id, "companyId": company,
              "contactIds": contacts, "currencyId": "EUR", "opportunity": 99.5, "isManualOpportunity": "Y",
              "xmlId": "qb24:9130:Invoice:12", "begindate": "2026-01-05", "closedate": "2026-02-04",
              "comments": "Job: Garden"}
    item = ok(portal.call("crm.item.add", {"entityTypeId": 31, "fields": fields}))["result"]["item"]
    got = ok(portal.call("crm.item.get", {"entityTypeId": 31, "id": item["id"]}))["result"]["item"]
    assert {k: got[k] for k in ("title", "stageId", "categoryId", "companyId", "contactIds", "contactId",
                                "currencyId", "opportunity", "isManualOpportunity", "xmlId", "comments")} == {
        **{k: fields[k] for k in ("title", "stageId", "categoryId", "companyId", "contactIds", "currencyId",
                                  "opportunity", "isManualOpportunity", "xmlId", "comments")},
        "contactId": contacts[0]}
    assert got["begindate"].startswith("2026-01-05T00:00:00") and got["closedate"].startswith("2026-02-04T00:00:00")


def _productrows(portal: Portal, item_id: int, rows: list[tuple[str, float, float]]) -> list[dict]:
    payload = [{"productName": n, "price": p, "quantity": q, "taxRate": 10, "taxIncluded": "Y"} for n, p, q in rows]
    return ok(portal.call("crm.item.productrow.set", {"ownerType": "SI", "ownerId": item_id,
                                                      "productRows": payload}))["result"]["productRows"]


def test_productrow_set_replaces_rows_and_opportunity_follows_unless_manual(portal: Portal) -> None:
    auto = ok(portal.call("crm.item.add", {"entityTypeId": 31, "fields": {
        "title": "Auto", "opportunity": 1, "isManualOpportunity": "N"}}))["result"]["item"]
    _productrows(portal, auto["id"], [("A", 10, 2), ("B", 5, 1)])
    rows = _productrows(portal, auto["id"], [("C", 7.25, 4)])
    assert [r["productName"] for r in rows] == ["C"]
    listed = ok(portal.call("crm.item.productrow.list", {"filter": {"=ownerType": "SI", "=ownerId": auto["id"]}}))
    assert [r["productName"] for r in listed["result"]["productRows"]] == ["C"]
    assert ok(portal.call("crm.item.get", {"entityTypeId": 31, "id": auto["id"]}))["result"]["item"]["opportunity"] == 29.0
    manual = ok(portal.call("crm.item.add", {"entityTypeId": 31, "fields": {
        "title": "Manual", "opportunity": 123.45, "isManualOpportunity": "Y"}}))["result"]["item"]
    _productrows(portal, manual["id"], [("A", 10, 2)])
    assert ok(portal.call("crm.item.get", {"entityTypeId": 31, "id": manual["id"]}))["result"]["item"]["opportunity"] == 123.45


def test_product_row_derived_prices_and_tax(portal: Portal) -> None:
    """crm/data-types.md § product row: priceExclusive (no tax), priceNetto (no discount, no tax), priceBrutto."""
    item = ok(portal.call("crm.item.add", {"entityTypeId": 31, "fields": {"title": "Taxed"}}))["result"]["item"]
    [row] = ok(portal.call("crm.item.productrow.set", {"ownerType": "SI", "ownerId": item["id"], "productRows": [
        {"productName": "A", "price": 99, "quantity": 2, "taxRate": 10, "taxIncluded": "Y",
         "discountTypeId": 2, "discountRate": 10}]}))["result"]["productRows"]
    assert (row["priceExclusive"], row["priceNetto"], row["priceBrutto"], row["discountSum"]) == (90.0, 100.0, 110.0, 10.0)
    got = ok(portal.call("crm.item.get", {"entityTypeId": 31, "id": item["id"]}))["result"]["item"]
    assert (got["opportunity"], got["taxValue"]) == (198.0, 18.0)
