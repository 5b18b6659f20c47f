"""Invoice -> Smart Invoice and old invoice fields on real QuickBooks invoices (contract §5)."""
from __future__ import annotations

import copy

import pytest

from mappers.errors import MappingError
from mappers.invoice import PortalFacts
from tests.mappers.invoice_support import REALM, STAGES, TODAY, old, old_total, smart, smart_total
from tests.mappers.qbo_records import invoices_2023, load

INVOICE = invoices_2023()["119"]  # DocNumber 1035, Mark Cho: 275 + 4 x 4, 8 % tax, 314.28


def test_a_real_invoice_as_a_smart_invoice():
    record = smart(INVOICE)
    assert record.entity == "smart_invoice" and record.qbo_id == "119" and record.status == "unsent"
    assert record.fields == {
        "title": "Invoice 1035", "xmlId": f"qb24:{REALM}:Invoice:119", "currencyId": "USD",
        "opportunity": 314.28, "isManualOpportunity": "Y", "taxValue": 23.28,
        "begindate": "2023-02-18", "closedate": "2023-03-20", "stageId": STAGES["unsent"], "categoryId": 3,
        "companyId": 12, "contactIds": [40], "comments": "Thank you for your business and have a great day!"}
    assert [(r["productName"], r["quantity"], r["price"], r["taxRate"]) for r in record.product_rows] == [
        ("Rock Fountain", 1.0, 297.0, 8.0), ("Sprinkler Pipes", 4.0, 4.32, 8.0)]
    assert all(r["taxIncluded"] == "N" and r["discountSum"] == 0 for r in record.product_rows)
    assert [r["sort"] for r in record.product_rows] == [10, 20]
    assert smart_total(record) == INVOICE["TotalAmt"]


def test_the_same_invoice_as_an_old_invoice():
    record = old(INVOICE, company_id=None, contact_id="40")
    fields = record.fields
    assert record.entity == "invoice" and record.product_rows == ()
    assert (fields["ORDER_TOPIC"], fields["XML_ID"], fields["CURRENCY"]) == (
        "Invoice 1035", f"qb24:{REALM}:Invoice:119", "USD")
    assert (fields["PERSON_TYPE_ID"], fields["PAY_SYSTEM_ID"], fields["STATUS_ID"]) == ("1", "4", STAGES["unsent"])
    assert (fields["DATE_BILL"], fields["DATE_PAY_BEFORE"]) == ("2023-02-18", "2023-03-20")
    assert (fields["UF_COMPANY_ID"], fields["UF_CONTACT_ID"]) == (0, 40)
    assert fields["USER_DESCRIPTION"] == "Thank you for your business and have a great day!"
    assert [(r["PRODUCT_NAME"], r["QUANTITY"], r["PRICE"], r["VAT_RATE"], r["VAT_INCLUDED"])
            for r in fields["PRODUCT_ROWS"]] == [("Rock Fountain", 1.0, 297.0, 0.08, "Y"),
                                                  ("Sprinkler Pipes", 4.0, 4.32, 0.08, "Y")]
    assert old_total(record) == INVOICE["TotalAmt"]
    assert old(INVOICE).fields["PERSON_TYPE_ID"] == "2"  # a company payer


def test_a_jobs_invoice_names_the_job():
    record = smart(INVOICE, job_name="Freeman Sporting Goods:0969 Ocean View Road")
    assert record.fields["title"] == "Invoice 1035 · Freeman Sporting Goods:0969 Ocean View Road"
    assert record.fields["comments"].startswith("Job: Freeman Sporting Goods:0969 Ocean View Road\n")
    assert old(INVOICE, job_name="A:B").fields["COMMENTS"] == "Job: A:B"


def test_statuses_pick_their_stage():
    paid = invoices_2023()["12"]  # Balance 0
    assert smart(paid).fields["stageId"] == STAGES["paid"] and smart(paid).status == "paid"
    sent = {**INVOICE, "EmailStatus": "EmailSent"}
    assert old(sent).fields["STATUS_ID"] == STAGES["sent"]
    voided = load("invoice_void_response__minimul.json")["Invoice"]
    record = smart(voided)
    assert record.status == "voided" and record.fields["opportunity"] == 0 and smart_total(record) == 0


def test_a_stage_missing_from_the_map_is_a_settings_problem():
    with pytest.raises(MappingError, match="settings"):
        smart(INVOICE, stage_map={**STAGES, "unsent": ""})


def test_a_currency_the_portal_lacks_fails_with_what_to_add():
    euro = {**INVOICE, "CurrencyRef": {"value": "GBP", "name": "British Pound Sterling"}}
    with pytest.raises(MappingError) as error:
        smart(euro)
    assert "GBP" in error.value.reason and "Currencies" in error.value.reason
    assert smart({**INVOICE, "CurrencyRef": {"value": "EUR"}}).fields["currencyId"] == "EUR"
    unknown = PortalFacts(frozenset(), "USD", None, {}, None)  # list unreadable: Bitrix24 decides
    assert smart(euro, facts=unknown).fields["currencyId"] == "GBP"
    assert "categoryId" not in smart(euro, facts=unknown).fields


def test_old_invoices_need_a_payer_type_and_pay_system():
    bare = PortalFacts(frozenset({"USD"}), "USD", 3, {"contact": "1"}, "4")
    with pytest.raises(MappingError, match="Payment systems"):
        old(INVOICE, facts=bare)  # a company payer, no company payer type
    assert old(INVOICE, facts=bare, company_id=None).fields["PERSON_TYPE_ID"] == "1"


def test_batch_references_pass_through_as_ids():
    record = smart(INVOICE, company_id="$result[company_7]", contact_id="$result[person_7]")
    assert record.fields["companyId"] == "$result[company_7]" and record.fields["contactIds"] == ["$result[person_7]"]
    assert smart(INVOICE, company_id=None, contact_id=None).fields["contactIds"] == []


@pytest.mark.parametrize("broken,field", [
    ({"TxnDate": "18/02/2023"}, "TxnDate"), ({"CustomerRef": None}, "CustomerRef"), ({"TotalAmt": "lots"}, "TotalAmt"),
    ({"Line": [{"Amount": 1}]}, "Line.0.DetailType"), ({"Id": ""}, "Id"),
])
def test_a_malformed_invoice_fails_naming_the_field(broken, field):
    with pytest.raises(MappingError) as error:
        smart({**INVOICE, **broken})
    assert field in error.value.reason


def test_the_content_hash_follows_what_is_written():
    base = smart(INVOICE).content_hash
    assert smart(copy.deepcopy(INVOICE)).content_hash == base
    assert smart({**INVOICE, "SyncToken": "7", "MetaData": {}}).content_hash == base
    assert smart({**INVOICE, "EmailStatus": "EmailSent"}).content_hash != base  # stage moves
    assert smart(INVOICE, company_id="13").content_hash != base
    assert smart(INVOICE, job_name="X:Y").content_hash != base
    assert old(INVOICE).content_hash != base
    changed = copy.deepcopy(INVOICE)
    changed["Line"][1]["SalesItemLineDetail"]["Qty"] = 5
    changed["Line"][1]["Amount"] = 20.0
    assert smart(changed).content_hash != base
    assert smart(INVOICE, today=TODAY.replace(month=5)).content_hash != base  # overdue by then
