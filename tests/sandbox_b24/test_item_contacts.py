"""crm.item for contacts (3) and companies (4): the classic records, camelCase names, `fm` multi-fields.

Sources: reference §5 "crm.item equivalents"; DOCS tutorials/crm/how-to-edit-crm-objects/
how-to-change-email-or-phone.md (fm on add is an array; on update an object keyed n0…/id, empty value
deletes, typeId required or the element is skipped; an array on update adds; a string is ignored;
fixtures tutorials__…__01/02/03), crm-item-list.md (`fm` only with `select: ['*']`),
api-reference/crm/universal/object-fields.md § contact/company (field names).
"""
from __future__ import annotations

from sandbox_b24.conftest import Portal, fixture_json, ok, same_shape

CONTACT, COMPANY = 3, 4
TUTORIAL = "tutorials__crm__how-to-edit-crm-objects__how-to-change-email-or-phone__{:02d}.json"
KLAUS_FM = [{"typeId": "EMAIL", "valueType": "WORK", "value": "work_email@nomail.com"},
            {"typeId": "EMAIL", "valueType": "HOME", "value": "home_email@nomail.com"},
            {"typeId": "PHONE", "valueType": "WORK", "value": "+493012345678"},
            {"typeId": "PHONE", "valueType": "MOBILE", "value": "+493076543210"}]


def _klaus(portal: Portal) -> dict:
    fields = {"name": "Klaus", "lastName": "Weber", "fm": KLAUS_FM + [{"valueType": "WORK", "value": "no@type.id"}]}
    return ok(portal.call("crm.item.add", {"entityTypeId": CONTACT, "fields": fields}))["result"]["item"]


def test_contact_added_through_crm_item_is_the_classic_record(portal: Portal) -> None:
    """Step 1 of the tutorial: fm array adds entries (numeric ids); crm.contact.get serves the same record."""
    item = _klaus(portal)
    assert same_shape({"result": {"item": item}}, fixture_json(TUTORIAL.format(1))) == []
    assert [(e["typeId"], e["valueType"], e["value"]) for e in item["fm"]] == \
        [(e["typeId"], e["valueType"], e["value"]) for e in KLAUS_FM]  # the element without typeId is skipped
    assert isinstance(item["id"], int) and item["entityTypeId"] == CONTACT and item["hasEmail"] == "Y"
    classic = ok(portal.call("crm.contact.get", {"id": item["id"]}))["result"]
    assert (classic["NAME"], classic["LAST_NAME"], classic["ID"]) == ("Klaus", "Weber", str(item["id"]))
    assert [e["VALUE"] for e in classic["EMAIL"]] == ["work_email@nomail.com", "home_email@nomail.com"]
    got = ok(portal.call("crm.item.get", {"entityTypeId": CONTACT, "id": item["id"]}))
    assert same_shape(got, fixture_json(TUTORIAL.format(2))) == [] and got["result"]["item"]["fm"] == item["fm"]


def test_fm_object_on_update_changes_deletes_adds_and_skips_without_type(portal: Portal) -> None:
    """Step 3: numeric id + value changes, + empty value deletes, n0 adds, no typeId does nothing."""
    item = _klaus(portal)
    ids = {(e["typeId"], e["valueType"]): e["id"] for e in item["fm"]}
    fm = {str(ids["EMAIL", "WORK"]): {"typeId": "EMAIL", "valueType": "WORK", "value": "new_work_email@nomail.com"},
          str(ids["EMAIL", "HOME"]): {"typeId": "EMAIL", "valueType": "HOME", "value": ""},
          str(ids["PHONE", "MOBILE"]): {"typeId": "PHONE", "valueType": "MOBILE", "value": "+493055544433"},
          str(ids["PHONE", "WORK"]): {"valueType": "WORK", "value": ""},  # no typeId: silently not deleted
          "n0": {"typeId": "PHONE", "valueType": "HOME", "value": "+4930111"}}
    updated = ok(portal.call("crm.item.update", {"entityTypeId": CONTACT, "id": item["id"], "fields": {"fm": fm}}))
    assert same_shape(updated, fixture_json(TUTORIAL.format(3))) == []
    assert [(e["id"], e["value"]) for e in updated["result"]["item"]["fm"]][:3] == [
        (ids["EMAIL", "WORK"], "new_work_email@nomail.com"), (ids["PHONE", "WORK"], "+493012345678"),
        (ids["PHONE", "MOBILE"], "+493055544433")]
    assert updated["result"]["item"]["fm"][3]["value"] == "+4930111"


def test_fm_array_on_update_adds_and_a_string_is_ignored(portal: Portal) -> None:
    """Key Considerations: an array on update is read as n0, n1…; a string gives no error and no entries."""
    item = _klaus(portal)
    more = [{"typeId": "EMAIL", "valueType": "OTHER", "value": "extra@nomail.com"}]
    updated = ok(portal.call("crm.item.update", {"entityTypeId": CONTACT, "id": item["id"], "fields": {"fm": more}}))
    assert len(updated["result"]["item"]["fm"]) == 5
    bare = ok(portal.call("crm.item.add", {"entityTypeId": CONTACT, "fields": {"name": "S", "fm": "+4930"}}))
    assert bare["result"]["item"]["fm"] == [] and bare["result"]["item"]["hasPhone"] == "N"


def test_contact_list_filters_by_origin_in_both_spellings_and_fm_needs_star(portal: Portal) -> None:
    """A classic record with ORIGINATOR_ID/ORIGIN_ID is found by `originId` or `ORIGIN_ID`; fm only with `*`."""
    contact_id = ok(portal.call("crm.contact.add", {"fields": {
        "NAME": "Ada", "COMPANY_ID": 0, "ORIGINATOR_ID": "qbo", "ORIGIN_ID": "42",
        "PHONE": [{"VALUE": "+1 555", "VALUE_TYPE": "WORK"}]}}))["result"]
    for filter_ in ({"originatorId": "qbo", "originId": "42"}, {"ORIGINATOR_ID": "qbo", "=ORIGIN_ID": "42"}):
        listed = ok(portal.call("crm.item.list", {"entityTypeId": CONTACT, "filter": filter_,
                                                   "select": ["id", "name", "originId", "fm"]}))
        assert listed["result"]["items"] == [{"id": contact_id, "name": "Ada", "originId": "42"}]
    star = ok(portal.call("crm.item.list", {"entityTypeId": CONTACT, "select": ["*"]}))["result"]["items"][0]
    assert star["fm"][0]["value"] == "+1 555" and star["originatorId"] == "qbo" and star["lastName"] is None


def test_company_through_crm_item_and_classic_methods(portal: Portal) -> None:
    """title/typeId/isMyCompany map onto TITLE/COMPANY_TYPE/IS_MY_COMPANY; contacts link back in contactIds."""
    added = ok(portal.call("crm.item.add", {"entityTypeId": COMPANY, "fields": {
        "TITLE": "Acme", "typeId": "PARTNER", "fm": [{"typeId": "WEB", "valueType": "WORK", "value": "acme.test"}]}}))
    company = added["result"]["item"]
    assert (company["title"], company["typeId"], company["isMyCompany"]) == ("Acme", "PARTNER", "N")
    classic = ok(portal.call("crm.company.get", {"id": company["id"]}))["result"]
    assert classic["TITLE"] == "Acme" and classic["COMPANY_TYPE"] == "PARTNER" and classic["WEB"][0]["VALUE"] == "acme.test"
    contact = ok(portal.call("crm.item.add", {"entityTypeId": CONTACT, "fields": {"name": "C", "companyId": company["id"]}}))
    got = ok(portal.call("crm.item.get", {"entityTypeId": COMPANY, "id": company["id"]}))["result"]["item"]
    assert got["contactIds"] == [contact["result"]["item"]["id"]]
    fields = ok(portal.call("crm.item.fields", {"entityTypeId": COMPANY}))["result"]["fields"]
    assert fields["title"]["upperName"] == "TITLE" and fields["fm"]["isMultiple"] is True


def test_contact_delete_and_missing_ids(portal: Portal) -> None:
    """crm.item.delete removes the classic record; a missing id is crm.item's NOT_FOUND (crm-item-get__02)."""
    item = _klaus(portal)
    assert ok(portal.call("crm.item.delete", {"entityTypeId": CONTACT, "id": item["id"]}))["result"] == []
    assert portal.call("crm.contact.get", {"id": item["id"]}).json() == {"error": "", "error_description": "Not found"}
    for method in ("crm.item.get", "crm.item.update", "crm.item.delete"):
        missing = portal.call(method, {"entityTypeId": CONTACT, "id": item["id"], "fields": {"name": "x"}})
        assert missing.status_code == 400
        assert missing.json() == fixture_json("api-reference__crm__universal__crm-item-get__02.json")
