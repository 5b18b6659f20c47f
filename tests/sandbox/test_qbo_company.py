"""The QuickBooks sandbox's seed companies: real shapes, consistent references, totals and statuses."""
from __future__ import annotations

import json
import time
from collections import Counter
from datetime import date

import pytest

from sandbox.quickbooks.company import CompanyData, generate_company, invoice_totals, sample_company
from sandbox.quickbooks.company_records import load_json, load_mjs_object, load_records

TODAY = date(2025, 6, 1)
# Keys the real customer/invoice/payment records never carry but that the reference documents:
# Notes (Intuit sample customer), ExchangeRate / HomeTotalAmt / HomeBalance / DeliveryInfo (reference §5
# and §11, and the Invoice property list in the real 2010 fault), ExchangeRate on foreign-currency payments.
EXTRA_KEYS = {"customer": {"Notes"},
              "invoice": {"ExchangeRate", "HomeTotalAmt", "HomeBalance", "DeliveryInfo", "PrivateNote"},
              "payment": {"ExchangeRate"}}
# Links to entities the sandbox does not model, present in the real records (estimate 100, deposit 121).
UNMODELLED_LINKS = {"Estimate", "Deposit"}
# The real customer list itself has two "Jack Doe": Id 60 and sub-customer 64 ("Doe, Jack:Jack Doe").
REAL_DUPLICATE_DISPLAY_NAMES = {"Jack Doe"}


def status_of(invoice: dict, today: date) -> str:
    """The CRM status rules of reference §5 (deleted handled apart)."""
    total, balance = invoice["TotalAmt"], invoice["Balance"]
    if total == 0 and balance == 0 and invoice.get("PrivateNote", "").startswith("Voided"):
        return "voided"
    if total > 0 and balance == 0:
        return "paid"
    if 0 < balance < total:
        return "partial"
    if balance > 0 and date.fromisoformat(invoice["DueDate"]) < today:
        return "overdue"
    return "sent" if invoice["EmailStatus"] == "EmailSent" else "unsent"


def shape(value: object) -> object:
    """A value's type skeleton: dict keys mapped to shapes, lists to the merged shape of their items."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        merged: dict = {}
        for item in value:
            item_shape = shape(item)
            merged.update(item_shape if isinstance(item_shape, dict) else {"*": item_shape})
        return [merged]
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, (int, float)) else type(value).__name__


def assert_same_shape(real: object, ours: object, path: str) -> None:
    """Every key both sides share has the same type, recursively."""
    if isinstance(real, dict) and isinstance(ours, dict):
        for key in real.keys() & ours.keys():
            assert_same_shape(real[key], ours[key], f"{path}.{key}")
    elif isinstance(real, list) and isinstance(ours, list):
        assert_same_shape(real[0], ours[0], path + "[]")
    else:
        assert real == ours, f"{path}: real {real} vs ours {ours}"


def merged_shape(records: list[dict]) -> dict:
    """One shape covering every record of a kind."""
    return shape(records)[0]


REAL = {
    "customer": load_json("customers_query_all_41__minimul_sandbox_2020-09-29.json")["QueryResponse"]["Customer"],
    "invoice": load_records("sandbox2023_invoices.jsonl", "invoices")
    + [load_json("invoice_void_response__minimul.json")["Invoice"],
       load_mjs_object("intuit_doc_invoice_239__pipedream.test-event.mjs")],
    "payment": load_records("sandbox2023_payments_and_credit_memos.jsonl", "payments"),
}


@pytest.fixture(scope="module")
def sample() -> CompanyData:
    return sample_company(TODAY)


@pytest.fixture(scope="module")
def generated() -> CompanyData:
    return generate_company(customers=300, invoices=1500, seed=7, today=TODAY)


def check_invariants(company: CompanyData, allowed_duplicates: set[str]) -> None:
    """References resolve, names are unique, totals and balances agree with lines and payments."""
    customers = {c["Id"]: c for c in company.customers}
    items = {i["Id"] for i in company.items}
    invoices = {i["Id"]: i for i in company.invoices}
    payments = {p["Id"]: p for p in company.payments}
    names = Counter(c["DisplayName"] for c in company.customers)
    assert {n for n, count in names.items() if count > 1} <= allowed_duplicates
    assert len({c["FullyQualifiedName"] for c in company.customers}) == len(customers)
    for customer in company.customers:
        if "ParentRef" in customer:
            parent = customers[customer["ParentRef"]["value"]]
            assert customer["Job"] and customer["Level"] == parent.get("Level", 0) + 1
            assert customer["FullyQualifiedName"] == f"{parent['FullyQualifiedName']}:{customer['DisplayName']}"
    paid: Counter = Counter()
    for payment in company.payments:
        assert payment["CustomerRef"]["value"] in customers
        assert sum(line["Amount"] for line in payment["Line"]) == pytest.approx(payment["TotalAmt"])
        for line in payment["Line"]:
            for link in line["LinkedTxn"]:
                invoice = invoices[link["TxnId"]]
                assert {"TxnId": payment["Id"], "TxnType": "Payment"} in invoice["LinkedTxn"]
                paid[link["TxnId"]] += line["Amount"]
    for invoice in company.invoices:
        assert invoice["CustomerRef"]["value"] in customers
        assert invoice["CustomerRef"]["name"] == customers[invoice["CustomerRef"]["value"]]["DisplayName"]
        assert invoice["CurrencyRef"] == customers[invoice["CustomerRef"]["value"]]["CurrencyRef"]
        for line in invoice["Line"]:
            if line["DetailType"] == "SalesItemLineDetail":
                assert line["SalesItemLineDetail"]["ItemRef"]["value"] in items
        for link in invoice["LinkedTxn"]:
            assert link["TxnType"] in UNMODELLED_LINKS or link["TxnId"] in payments
        recomputed = invoice_totals(invoice, paid=paid[invoice["Id"]])
        assert (recomputed["TotalAmt"], recomputed["Balance"]) == (invoice["TotalAmt"], invoice["Balance"])
        assert recomputed == invoice
        assert invoice["Balance"] == pytest.approx(invoice["TotalAmt"] - paid[invoice["Id"]], abs=0.001)
    deleted_ids = {t["Id"] for t in company.deleted_invoices}
    assert not deleted_ids & invoices.keys() and not deleted_ids & payments.keys()


def check_times(company: CompanyData) -> None:
    """CreateTime strictly increases with Id per kind; customers exist before their invoices; nothing after today."""
    for records in (company.customers, company.invoices, company.payments):
        ordered = sorted(records, key=lambda record: int(record["Id"]))
        created = [record["MetaData"]["CreateTime"][:19] for record in ordered]
        assert created == sorted(created) and len(set(created)) == len(created)
        for record in records:
            assert record["MetaData"]["CreateTime"][:19] <= record["MetaData"]["LastUpdatedTime"][:19]
            assert record["MetaData"]["LastUpdatedTime"][:10] < TODAY.isoformat()
            assert record["MetaData"]["CreateTime"][19:] in ("-07:00", "-08:00")
    customers = {c["Id"]: c for c in company.customers}
    for invoice in company.invoices:
        customer = customers[invoice["CustomerRef"]["value"]]
        assert customer["MetaData"]["CreateTime"][:19] < invoice["MetaData"]["CreateTime"][:19]


def test_invoice_totals_reproduces_every_real_invoice_and_the_discounted_sales_receipt() -> None:
    receipts = load_json("sales_receipts_query_all__minimul.json")["QueryResponse"]["SalesReceipt"]
    for record in REAL["invoice"] + receipts:
        assert invoice_totals(record) == record
        stripped = {k: v for k, v in record.items() if k not in ("TotalAmt", "Balance")}
        stripped["Line"] = [line for line in record["Line"] if line["DetailType"] != "SubTotalLineDetail"]
        assert invoice_totals(stripped, paid=0)["TotalAmt"] == record["TotalAmt"]


def test_invoice_totals_discount_tax_and_payment() -> None:
    invoice = sample_company(TODAY).invoices[0]
    changed = json.loads(json.dumps(invoice))
    changed["Line"][0]["Amount"] += 100
    assert invoice_totals(changed)["TotalAmt"] == invoice["TotalAmt"] + 100
    assert invoice_totals(changed, paid=50)["Balance"] == invoice["TotalAmt"] + 50


def test_sample_keeps_the_real_customers(sample: CompanyData) -> None:
    ours = {c["Id"]: c for c in sample.customers}
    for real in REAL["customer"]:
        kept = ours[real["Id"]]
        for key in ("DisplayName", "FullyQualifiedName", "GivenName", "FamilyName", "CompanyName",
                    "PrimaryEmailAddr", "PrimaryPhone", "BillAddr", "ShipAddr", "ParentRef", "Level", "Active"):
            assert kept.get(key) == real.get(key)


def test_sample_has_every_kind_of_customer(sample: CompanyData) -> None:
    customers = sample.customers
    assert len(customers) >= 55
    assert any("CompanyName" in c and not c["Job"] for c in customers)
    assert any("GivenName" in c and "CompanyName" not in c for c in customers)
    assert any(c.get("Level") == 2 for c in customers) and sum(c["Job"] for c in customers) >= 6
    assert sum(not c["Active"] for c in customers) >= 2
    names = {c["DisplayName"] for c in customers}
    assert {"Müller GmbH", "Tomáš Šťastný", "東京商事", "O'Brien & Sons Ltd"} <= names
    assert {c["CurrencyRef"]["value"] for c in customers} == {"USD", "EUR", "GBP", "CAD"}


def test_sample_statuses_currencies_and_lines(sample: CompanyData) -> None:
    statuses = Counter(status_of(invoice, TODAY) for invoice in sample.invoices)
    statuses["deleted"] = len(sample.deleted_invoices)
    assert all(statuses[name] >= 5 for name in ("unsent", "sent", "partial", "paid", "overdue", "voided",
                                                "deleted")), statuses
    assert len(sample.invoices) >= 40
    assert {i["CurrencyRef"]["value"] for i in sample.invoices} == {"USD", "EUR", "GBP", "CAD"}
    lines = [line for invoice in sample.invoices for line in invoice["Line"]]
    discounts = [line["DiscountLineDetail"]["PercentBased"] for line in lines if "DiscountLineDetail" in line]
    assert set(discounts) == {True, False}
    assert any(i["TxnTaxDetail"].get("TaxLine") and i["TxnTaxDetail"]["TotalTax"] > 0 for i in sample.invoices)
    assert all("DeliveryInfo" in i for i in sample.invoices if i["EmailStatus"] == "EmailSent")
    assert all(i["TotalAmt"] == 0 and all(line["Amount"] == 0 for line in i["Line"])
               for i in sample.invoices if status_of(i, TODAY) == "voided")
    foreign = [i for i in sample.invoices if i["CurrencyRef"]["value"] != "USD"]
    assert all(i["ExchangeRate"] > 0 and "HomeTotalAmt" in i and "HomeBalance" in i for i in foreign)
    assert not any("ExchangeRate" in i or "HomeBalance" in i for i in sample.invoices if i not in foreign)
    assert len({i["DocNumber"] for i in sample.invoices}) == len(sample.invoices)


def test_sample_invariants_and_times(sample: CompanyData) -> None:
    check_invariants(sample, REAL_DUPLICATE_DISPLAY_NAMES)
    check_times(sample)
    assert all(t["MetaData"]["LastUpdatedTime"][:10] >= "2025-05-02" for t in sample.deleted_invoices)


@pytest.mark.parametrize("kind", ["customer", "invoice", "payment"])
def test_sample_shapes_match_the_real_records(sample: CompanyData, kind: str) -> None:
    real = merged_shape(REAL[kind])
    ours_records = {"customer": sample.customers, "invoice": sample.invoices, "payment": sample.payments}[kind]
    ours = merged_shape(ours_records)
    assert set(ours) - set(real) <= EXTRA_KEYS[kind]
    assert_same_shape(real, ours, kind)
    assert all(r["domain"] == "QBO" and r["sparse"] is False and isinstance(r["SyncToken"], str)
               for r in ours_records)


def test_sample_is_deterministic_and_follows_today() -> None:
    first = json.dumps(sample_company(TODAY).__dict__, ensure_ascii=False)
    assert first == json.dumps(sample_company(TODAY).__dict__, ensure_ascii=False)
    later = sample_company(date(2031, 1, 15))
    statuses = Counter(status_of(invoice, date(2031, 1, 15)) for invoice in later.invoices)
    assert statuses == Counter(status_of(invoice, TODAY) for invoice in sample_company(TODAY).invoices)


def test_generated_company_invariants(generated: CompanyData) -> None:
    check_invariants(generated, set())
    check_times(generated)
    assert [c["Id"] for c in generated.customers] == [str(n) for n in range(1, 301)]
    assert [i["Id"] for i in generated.invoices] == [str(n) for n in range(1, 1501)]
    statuses = Counter(status_of(invoice, TODAY) for invoice in generated.invoices)
    statuses["deleted"] = len(generated.deleted_invoices)
    assert min(statuses.values()) >= 5 and len(statuses) == 7, statuses
    customers = generated.customers
    assert sum("PrimaryEmailAddr" in c for c in customers) > 0.7 * len(customers)
    assert any(c["Job"] for c in customers) and any(not c["Active"] for c in customers)
    assert {c["CurrencyRef"]["value"] for c in customers} == {"USD", "EUR", "GBP", "CAD"}
    assert any(name.endswith((" Jr.", " II", " LLC", " (3)")) for name in (c["DisplayName"] for c in customers))


def test_generator_is_deterministic_per_seed() -> None:
    def dump(seed: int) -> str:
        return json.dumps(generate_company(40, 120, seed=seed, today=TODAY).__dict__, ensure_ascii=False)

    assert dump(3) == dump(3)
    assert dump(3) != dump(4)


def test_generator_speed() -> None:
    started = time.perf_counter()
    company = generate_company(customers=5000, invoices=20000, seed=1, today=TODAY)
    assert time.perf_counter() - started < 20
    assert len(company.customers) == 5000 and len(company.invoices) == 20000
