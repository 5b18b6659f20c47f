"""Number and id values of contacts/companies: refused by crm.item, cast by the classic methods.

Sources: reference §6 (crm.item errors: 400 CRM_FIELD_ERROR_VALUE_NOT_VALID; integers come back as JSON
numbers), reference §5 (classic methods answer strings); CORE (avshatalov48/bitrix24-core-corp)
modules/crm/classes/general/restservice.php `internalizeFields` (classic REST passes scalar integer
fields on untouched), crm_company.php (`REVENUE = floatval(...)`, an `ASSIGNED_BY_ID <= 0` is the current
user on add and dropped on update): the classic methods cast like PHP and never refuse a number field.
"""
from __future__ import annotations

import pytest
import requests

from sandbox_b24.conftest import Portal, ok

CONTACT, COMPANY = 3, 4


def _not_valid(response: requests.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "CRM_FIELD_ERROR_VALUE_NOT_VALID"


@pytest.mark.parametrize(("type_id", "fields"), [
    (CONTACT, {"companyId": "abc"}), (CONTACT, {"assignedById": "me"}), (CONTACT, {"leadId": [1]}),
    (CONTACT, {"companyIds": ["x"]}), (COMPANY, {"revenue": "1,5"}), (COMPANY, {"revenue": "lots"}),
    (CONTACT, {"companyId": "inf"}), (COMPANY, {"revenue": True})])
def test_crm_item_refuses_a_non_number_and_stores_nothing(portal: Portal, type_id: int, fields: dict) -> None:
    """A bad value is refused at write time; the type's list keeps working afterwards."""
    _not_valid(portal.call("crm.item.add", {"entityTypeId": type_id, "fields": {"title": "T", "name": "N", **fields}}))
    assert ok(portal.call("crm.item.list", {"entityTypeId": type_id}))["total"] == 0
    item = ok(portal.call("crm.item.add", {"entityTypeId": type_id, "fields": {"title": "T", "name": "N"}}))
    _not_valid(portal.call("crm.item.update", {"entityTypeId": type_id, "id": item["result"]["item"]["id"],
                                               "fields": fields}))
    assert ok(portal.call("crm.item.list", {"entityTypeId": type_id}))["total"] == 1


def test_crm_item_numbers_and_company_ids(portal: Portal) -> None:
    """Numeric strings are numbers; `companyIds: 15` is the one company 15, read back as [15]."""
    contact = ok(portal.call("crm.item.add", {"entityTypeId": CONTACT, "fields": {
        "name": "N", "companyId": "12.0", "companyIds": 15, "assignedById": " 1 "}}))["result"]["item"]
    assert (contact["companyId"], contact["companyIds"], contact["assignedById"]) == (12, [15], 1)
    company = ok(portal.call("crm.item.add", {"entityTypeId": COMPANY, "fields": {"title": "T", "revenue": "1.5"}}))
    assert company["result"]["item"]["revenue"] == 1.5
    listed = ok(portal.call("crm.item.list", {"entityTypeId": CONTACT, "select": ["id", "companyIds"]}))
    assert listed["result"]["items"] == [{"id": contact["id"], "companyIds": [15]}]


def test_classic_methods_cast_like_php_and_crm_item_still_reads_them(portal: Portal) -> None:
    """COMPANY_ID 12.0 is "12", "abc" no company; REVENUE "1,5" is floatval's 1; ASSIGNED_BY_ID "me" the caller."""
    first = ok(portal.call("crm.contact.add", {"fields": {"NAME": "F", "COMPANY_ID": 12.0}}))["result"]
    second = ok(portal.call("crm.contact.add", {"fields": {"NAME": "S", "COMPANY_ID": "abc",
                                                            "ASSIGNED_BY_ID": "me"}}))["result"]
    assert ok(portal.call("crm.contact.get", {"id": first}))["result"]["COMPANY_ID"] == "12"
    got = ok(portal.call("crm.contact.get", {"id": second}))["result"]
    assert (got["COMPANY_ID"], got["ASSIGNED_BY_ID"]) == (None, "1")
    items = ok(portal.call("crm.item.list", {"entityTypeId": CONTACT}))["result"]["items"]
    assert [(i["companyId"], i["assignedById"]) for i in items] == [(12, 1), (None, 1)]
    company = ok(portal.call("crm.company.add", {"fields": {"TITLE": "T", "REVENUE": "1,5"}}))["result"]
    assert ok(portal.call("crm.company.get", {"id": company}))["result"]["REVENUE"] == "1"
    ok(portal.call("crm.company.update", {"id": company, "fields": {"ASSIGNED_BY_ID": 0}}))
    assert ok(portal.call("crm.item.get", {"entityTypeId": COMPANY, "id": company}))["result"]["item"]["revenue"] == 1.0
    assert ok(portal.call("crm.company.get", {"id": company}))["result"]["ASSIGNED_BY_ID"] == "1"


def test_fm_change_by_id_without_value_type_keeps_the_entry_type(portal: Portal) -> None:
    """how-to-change-email-or-phone.md step 3 names valueType on change; without it a MOBILE stays MOBILE."""
    item = ok(portal.call("crm.item.add", {"entityTypeId": CONTACT, "fields": {"name": "M", "fm": [
        {"typeId": "PHONE", "valueType": "MOBILE", "value": "+1555"}]}}))["result"]["item"]
    entry = item["fm"][0]["id"]
    updated = ok(portal.call("crm.item.update", {"entityTypeId": CONTACT, "id": item["id"], "fields": {
        "fm": {str(entry): {"typeId": "PHONE", "value": "+1666"}}}}))["result"]["item"]
    assert [(e["id"], e["valueType"], e["value"]) for e in updated["fm"]] == [(entry, "MOBILE", "+1666")]
