"""The generated company the first sync and its benchmark import: every kind of customer, every status.

Kinds and statuses are those reference §5 maps (quickbooks-online.md: persons, companies, a company's
contact person, sub-customers via Job/ParentRef, inactive customers read "<name> (deleted)" or not —
UNCERTAIN, so both; invoices unsent, sent, partially paid, paid, overdue, voided, and deleted ones that
only CDC reports, `status: "Deleted"`), multi-currency and taxed lines; read over HTTP the way the sync
reads them: `SELECT * FROM Invoice ORDERBY Id STARTPOSITION n MAXRESULTS 1000`.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from tests.sandbox.qbo_app_support import Api, Sandbox, connect
from tests.sandbox.test_qbo_company import status_of


def _pages(api: Api, select: str, entity: str) -> list[dict]:
    rows: list[dict] = []
    while True:
        response = api.call("GET", "query", query=f"{select} ORDERBY Id STARTPOSITION {len(rows) + 1} MAXRESULTS 1000")
        assert response.status_code == 200, response.text
        page = response.json()["QueryResponse"].get(entity, [])
        rows += page
        if len(page) < 1000:
            return rows


def test_generated_company_has_every_kind_and_status_over_http(qbo: Sandbox) -> None:
    realm_id = qbo.reset()
    client, _ = connect(qbo.url)
    api = Api(qbo.url, client.access_token, realm_id)
    counts = qbo.control("POST", "seed", realm_id=realm_id, customers=400, invoices=2100, seed=11)["counts"]
    customers = _pages(api, "SELECT * FROM Customer WHERE Active IN (true, false)", "Customer")
    invoices = _pages(api, "SELECT * FROM Invoice", "Invoice")
    assert [c["Id"] for c in customers] == [str(n) for n in range(1, 401)] and counts["Customer"] == 400
    assert [i["Id"] for i in invoices] == [str(n) for n in range(1, 2101)]
    assert any("GivenName" in c and "CompanyName" not in c for c in customers)  # a person
    assert any("CompanyName" in c and "GivenName" not in c and not c["Job"] for c in customers)  # a company only
    assert any("CompanyName" in c and "GivenName" in c and not c["Job"] for c in customers)  # company + person
    assert {c.get("Level") for c in customers if c["Job"]} >= {1, 2}  # jobs and sub-jobs
    inactive = [c for c in customers if not c["Active"]]
    assert {c["DisplayName"].endswith(" (deleted)") for c in inactive} == {True, False}
    now = datetime.fromisoformat(qbo.control("POST", "clock", advance_seconds=0)["now"])
    statuses = {status_of(i, now.date()) for i in invoices}
    assert statuses == {"unsent", "sent", "partial", "paid", "overdue", "voided"}
    assert {i["CurrencyRef"]["value"] for i in invoices} == {"USD", "EUR", "GBP", "CAD"}
    assert any(i["TxnTaxDetail"].get("TotalTax", 0) > 0 for i in invoices)
    since = (now - timedelta(days=29)).isoformat()
    cdc = api.call("GET", "cdc", entities="Invoice", changedSince=since).json()
    changed = cdc["CDCResponse"][0]["QueryResponse"][0].get("Invoice", [])
    deleted = [i["Id"] for i in changed if i.get("status") == "Deleted"]
    assert deleted and not set(deleted) & {i["Id"] for i in invoices}
