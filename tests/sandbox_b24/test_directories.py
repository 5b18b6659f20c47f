"""Portal directories the sync reads: crm.currency.list/get (and their control API) and deal pipelines.

Sources: DOCS api-reference/crm/currency/crm-currency-list.md and crm-currency-get.md (fixtures
api-reference__crm__currency__*: strings everywhere, `total` always 0, LANG only in get, an unknown
code is 400 with an empty code and "Not found"), crm/data-types.md § crm_currency (the base currency's
AMOUNT and AMOUNT_CNT are 1), crm/universal/category/crm-category-list.md (fixture …crm-category-list__01
is `entityTypeId: 2`: the default "General" pipeline is id 0 and carries no originId/originatorId).
"""
from __future__ import annotations

import requests

from sandbox_b24.conftest import Portal, fixture_json, ok, same_shape

CURRENCY = "api-reference__crm__currency__crm-currency-{}.json"


def test_default_currencies_match_the_documented_shapes(portal: Portal) -> None:
    """A new portal has USD (base) and EUR; list rows have no LANG, get adds every localisation."""
    listed = ok(portal.call("crm.currency.list"))
    assert same_shape(listed, fixture_json(CURRENCY.format("list__01"))) == [] and listed["total"] == 0
    assert [(c["CURRENCY"], c["BASE"], c["AMOUNT"]) for c in listed["result"]] == [("USD", "Y", "1.0000"),
                                                                                  ("EUR", "N", "1.0800")]
    assert "LANG" not in listed["result"][0] and listed["result"][0]["LID"] == "en"
    got = ok(portal.call("crm.currency.get", {"id": "EUR"}))
    assert same_shape(got, fixture_json(CURRENCY.format("get__01")), ignore=lambda k: k in ("de",)) == []
    assert got["result"]["LANG"]["en"]["FULL_NAME"] == "Euro"


def test_unknown_currency_and_missing_id_are_classic_errors(portal: Portal) -> None:
    """crm-currency-get.md § Error Handling: HTTP 400, empty code."""
    missing = portal.call("crm.currency.get", {"id": "CAD"})
    assert missing.status_code == 400 and missing.json() == fixture_json(CURRENCY.format("get__02"))
    no_id = portal.call("crm.currency.get")
    assert no_id.status_code == 400 and no_id.json()["error"] == ""


def test_control_api_sets_the_portal_currencies(portal: Portal) -> None:
    """Tests give a portal the currencies a case needs; the base is forced to rate 1, order follows SORT."""
    set_ = portal.control("currencies", {"currencies": [
        {"CURRENCY": "CAD", "BASE": "Y", "AMOUNT": 7, "SORT": 300},
        {"CURRENCY": "GBP", "AMOUNT": 1.71, "SORT": 100, "FULL_NAME": "Pound Sterling"}]})
    assert set_.status_code == 200, set_.text
    listed = ok(portal.call("crm.currency.list"))["result"]
    assert [(c["CURRENCY"], c["BASE"], c["AMOUNT"], c["AMOUNT_CNT"]) for c in listed] == [
        ("GBP", "N", "1.7100", "1"), ("CAD", "Y", "1.0000", "1")]
    assert [c["CURRENCY"] for c in ok(portal.call("crm.currency.list", {"order": {"SORT": "DESC"}}))["result"]] == \
        ["CAD", "GBP"]
    assert portal.call("crm.currency.get", {"id": "USD"}).status_code == 400
    inspected = requests.get(f"{portal.sb.control_url}/portals/{portal.member_id}/currencies", timeout=10).json()
    assert [c["CURRENCY"] for c in inspected] == ["CAD", "GBP"]
    for bad in ([], [{"CURRENCY": "EURO"}], [{"CURRENCY": "USD", "BASE": "Y"}, {"CURRENCY": "EUR", "BASE": "Y"}]):
        assert portal.control("currencies", {"currencies": bad}).status_code == 400


def test_deal_pipelines_match_the_documented_example(portal: Portal) -> None:
    """crm.category.list {entityTypeId: 2}: the seeded pipeline and the default General (id 0), by sort."""
    seeded = portal.control("seed", {"categories": [{"entity_type_id": 2, "name": "Wholesale", "sort": 200}]}).json()
    listed = ok(portal.call("crm.category.list", {"entityTypeId": 2}))
    assert same_shape(listed, fixture_json("api-reference__crm__universal__category__crm-category-list__01.json")) == []
    assert [(c["id"], c["name"], c["isDefault"]) for c in listed["result"]["categories"]] == [
        (seeded["categories"][0], "Wholesale", "N"), (0, "General", "Y")]
    assert "originId" not in listed["result"]["categories"][1] and listed["total"] == 2
    invoices = ok(portal.call("crm.category.list", {"entityTypeId": 31}))["result"]["categories"]
    assert [c["entityTypeId"] for c in invoices] == [31]  # the deal pipelines stay out of the invoice list
    refused = portal.call("crm.category.list", {"entityTypeId": 999})
    assert refused.status_code == 400
    assert refused.json() == fixture_json("api-reference__crm__universal__category__crm-category-list__02.json")


def test_smart_invoice_currency_must_be_one_of_the_portal_currencies(portal: Portal) -> None:
    """CORE crm/lib/field/currencyid.php: only the portal's currencies are valid; the base one is the default."""
    portal.control("currencies", {"currencies": [{"CURRENCY": "CAD", "BASE": "Y"}, {"CURRENCY": "USD", "AMOUNT": 1.36}]})
    refused = portal.call("crm.item.add", {"entityTypeId": 31, "fields": {"title": "T", "currencyId": "EUR"}})
    assert refused.status_code == 400 and refused.json()["error"] == "CRM_FIELD_ERROR_VALUE_NOT_VALID"
    item = ok(portal.call("crm.item.add", {"entityTypeId": 31, "fields": {"title": "T"}}))["result"]["item"]
    assert item["currencyId"] == "CAD"
    moved = portal.call("crm.item.update", {"entityTypeId": 31, "id": item["id"], "fields": {"CURRENCY_ID": "GBP"}})
    assert moved.status_code == 400
    assert ok(portal.call("crm.item.update", {"entityTypeId": 31, "id": item["id"],
                                               "fields": {"CURRENCY_ID": "USD"}}))["result"]["item"]["currencyId"] == "USD"
