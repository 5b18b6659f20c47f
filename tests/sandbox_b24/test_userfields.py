"""userfieldconfig.* for Smart Invoice user fields, and crm.contact/company.userfield.list.

Sources: DOCS api-reference/crm/universal/userfieldconfig/*.md (shapes: fixtures
api-reference__crm__universal__userfieldconfig__*; errors with an empty code; scope userfieldconfig
plus the moduleId's scope; `fieldName` must start with `UF_{entityId}_`), invoice.md § Custom Fields
(entityId CRM_SMART_INVOICE), crm-contact-userfield-list.md / crm-company-userfield-list.md (labels only
with filter[LANG]); reference §6 (the "check required custom fields" option: CRM_FIELD_ERROR_REQUIRED).
"""
from __future__ import annotations

import requests

from sandbox_b24.conftest import Portal, fixture_json, ok, same_shape

UFC = "api-reference__crm__universal__userfieldconfig__userfieldconfig-{}.json"
QBO_FIELD = {"entityId": "CRM_SMART_INVOICE", "fieldName": "UF_CRM_SMART_INVOICE_QBO_ID", "userTypeId": "string",
             "editFormLabel": {"en": "QuickBooks id"}}


OTHER_LANGUAGES = lambda key: key in ("ru", "de")  # noqa: E731 - the doc portals had more languages than "en"


def _hook(portal: Portal, scope: str = "crm,userfieldconfig", user_id: int = 1) -> str:
    return portal.control("webhooks", {"user_id": user_id, "scope": scope}).json()["url"]


def _call(hook: str, method: str, payload: dict) -> requests.Response:
    return requests.post(f"{hook}{method}.json", json=payload, timeout=10)


def _refused(response: requests.Response, description: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {"error": "", "error_description": description}


def test_userfieldconfig_lifecycle_matches_the_documented_shapes(portal: Portal) -> None:
    """add -> get -> list -> update -> delete, each against its doc example."""
    hook = _hook(portal)
    enum_field = {"entityId": "CRM_SMART_INVOICE", "fieldName": "UF_CRM_SMART_INVOICE_KIND", "userTypeId": "enumeration",
                  "multiple": "Y", "showInList": "N", "editFormLabel": {"en": "Kind"},
                  "enum": [{"value": "Service", "def": "N", "sort": 100}, {"value": "Goods", "def": "Y", "sort": 200}]}
    added = ok(_call(hook, "userfieldconfig.add", {"moduleId": "crm", "field": enum_field}))
    assert same_shape(added, fixture_json(UFC.format("add__01")), ignore=OTHER_LANGUAGES) == []
    field = added["result"]["field"]
    assert (field["fieldName"], field["multiple"], field["showInList"]) == ("UF_CRM_SMART_INVOICE_KIND", "Y", "Y")
    assert [e["value"] for e in field["enum"]] == ["Service", "Goods"] and field["enum"][0]["userFieldId"] == field["id"]
    got = ok(_call(hook, "userfieldconfig.get", {"moduleId": "crm", "id": field["id"]}))
    assert same_shape(got, fixture_json(UFC.format("get__01")), ignore=OTHER_LANGUAGES) == [] and got["result"]["field"] == field
    listed = ok(_call(hook, "userfieldconfig.list", {"moduleId": "crm", "filter": {"entityId": "CRM_SMART_INVOICE"},
                                                       "select": {"0": "*", "language": "en"}}))
    assert same_shape(listed, fixture_json(UFC.format("list__01")), ignore=lambda k: k == "next" or OTHER_LANGUAGES(k)) == []
    assert [f["id"] for f in listed["result"]["fields"]] == [field["id"]] and listed["total"] == 1
    updated = ok(_call(hook, "userfieldconfig.update", {"moduleId": "crm", "id": field["id"], "field": {
        "mandatory": "Y", "multiple": "N", "editFormLabel": {"en": "Kind (updated)"}}}))
    assert same_shape(updated, fixture_json(UFC.format("update__01")), ignore=OTHER_LANGUAGES) == []
    changed = updated["result"]["field"]
    assert (changed["mandatory"], changed["multiple"], changed["editFormLabel"]["en"]) == ("Y", "Y", "Kind (updated)")
    deleted = ok(_call(hook, "userfieldconfig.delete", {"moduleId": "crm", "id": field["id"]}))
    assert same_shape(deleted, fixture_json(UFC.format("delete__01"))) == [] and deleted["result"] is None
    _refused(_call(hook, "userfieldconfig.get", {"moduleId": "crm", "id": field["id"]}),
             fixture_json(UFC.format("get__02"))["error_description"])


def test_mandatory_field_made_by_userfieldconfig_is_enforced_with_the_option_on(portal: Portal) -> None:
    """A UF from userfieldconfig.add is a crm.item field (camelCase) and the required check covers it."""
    hook = _hook(portal)
    field = ok(_call(hook, "userfieldconfig.add", {"moduleId": "crm", "field": {**QBO_FIELD, "mandatory": "Y"}}))
    assert field["result"]["field"]["mandatory"] == "Y"
    fields = ok(portal.call("crm.item.fields", {"entityTypeId": 31}))["result"]["fields"]
    assert fields["ufCrmSmartInvoiceQboId"]["isRequired"] is True
    assert ok(portal.call("crm.item.add", {"entityTypeId": 31, "fields": {"title": "Off"}}))  # option off by default
    portal.control("settings", {"req_uf_check": True})
    refused = portal.call("crm.item.add", {"entityTypeId": 31, "fields": {"title": "On"}})
    assert refused.status_code == 400 and refused.json()["error"] == "CRM_FIELD_ERROR_REQUIRED"
    item = ok(portal.call("crm.item.add", {"entityTypeId": 31, "fields": {"title": "On", "ufCrmSmartInvoiceQboId": "7"}}))
    assert item["result"]["item"]["ufCrmSmartInvoiceQboId"] == "7"
    ok(_call(hook, "userfieldconfig.update", {"moduleId": "crm", "id": field["result"]["field"]["id"],
                                               "field": {"mandatory": "N"}}))
    assert ok(portal.call("crm.item.add", {"entityTypeId": 31, "fields": {"title": "Optional again"}}))


def test_userfieldconfig_add_refusals(portal: Portal) -> None:
    """Missing name/type, a name outside `UF_{entityId}_`, a duplicate, another module: 400 with empty code."""
    hook = _hook(portal)
    _refused(_call(hook, "userfieldconfig.add", {"moduleId": "crm", "field": {**QBO_FIELD, "fieldName": ""}}),
             fixture_json(UFC.format("add__02"))["error_description"])
    _refused(_call(hook, "userfieldconfig.add", {"moduleId": "crm", "field": {**QBO_FIELD, "userTypeId": ""}}),
             "The 'USER_TYPE_ID' field is not found.")
    _refused(_call(hook, "userfieldconfig.add", {"moduleId": "crm", "field": {**QBO_FIELD, "fieldName": "UF_CRM_QBO"}}),
             "You cannot create custom fields")
    ok(_call(hook, "userfieldconfig.add", {"moduleId": "crm", "field": QBO_FIELD}))
    _refused(_call(hook, "userfieldconfig.add", {"moduleId": "crm", "field": QBO_FIELD}),
             "Field UF_CRM_SMART_INVOICE_QBO_ID already exists")
    _refused(_call(hook, "userfieldconfig.add", {"moduleId": "rpa", "field": QBO_FIELD}), "No settings for UserFieldAccess")


def test_userfieldconfig_needs_both_scopes_and_the_settings_right(portal: Portal) -> None:
    """Without userfieldconfig: 403 insufficient_scope; without crm: the module-scope error; non-admin: refused."""
    no_config = _call(_hook(portal, "crm"), "userfieldconfig.list", {"moduleId": "crm"})
    assert no_config.status_code == 403 and no_config.json()["error"] == "insufficient_scope"
    _refused(_call(_hook(portal, "userfieldconfig"), "userfieldconfig.list", {"moduleId": "crm"}),
             "The current method required more scopes. (crm)")
    clerk = portal.control("users", {"admin": False}).json()["id"]
    hook = _hook(portal, user_id=clerk)
    _refused(_call(hook, "userfieldconfig.add", {"moduleId": "crm", "field": QBO_FIELD}), "Access denied")
    field_id = ok(_call(_hook(portal), "userfieldconfig.add", {"moduleId": "crm", "field": QBO_FIELD}))["result"]["field"]["id"]
    assert ok(_call(hook, "userfieldconfig.get", {"moduleId": "crm", "id": field_id}))  # reading is allowed
    _refused(_call(hook, "userfieldconfig.update", {"moduleId": "crm", "id": field_id, "field": {"mandatory": "Y"}}),
             fixture_json(UFC.format("update__02"))["error_description"])
    _refused(_call(hook, "userfieldconfig.delete", {"moduleId": "crm", "id": field_id}),
             fixture_json(UFC.format("delete__02"))["error_description"])


def test_contact_and_company_userfield_list(portal: Portal) -> None:
    """The documented shapes; labels come only with filter[LANG]; a non-object filter is the classic 400."""
    ok(portal.call("crm.contact.userfield.add", {"fields": {"USER_TYPE_ID": "string", "FIELD_NAME": "QBO_ID",
                                                             "LABEL": "QuickBooks id", "MANDATORY": "Y"}}))
    ok(portal.call("crm.company.userfield.add", {"fields": {"USER_TYPE_ID": "double", "FIELD_NAME": "BALANCE"}}))
    contact = ok(portal.call("crm.contact.userfield.list", {"filter": {"MANDATORY": "Y", "LANG": "en"}}))
    doc = fixture_json("api-reference__crm__contacts__userfield__crm-contact-userfield-list__02.json")
    assert same_shape(contact, doc, ignore=lambda k: k == "SETTINGS") == []
    assert [(f["FIELD_NAME"], f["EDIT_FORM_LABEL"]) for f in contact["result"]] == [("UF_CRM_QBO_ID", "QuickBooks id")]
    company = ok(portal.call("crm.company.userfield.list", {"order": {"ID": "DESC"}}))
    doc = fixture_json("api-reference__crm__companies__userfields__crm-company-userfield-list__01.json")
    assert same_shape(company, doc, ignore=lambda k: k in ("SETTINGS", "LIST") or k.endswith(("_LABEL", "_MESSAGE"))) == []
    assert [f["FIELD_NAME"] for f in company["result"]] == ["UF_CRM_BALANCE"] and "EDIT_FORM_LABEL" not in company["result"][0]
    bad = portal.call("crm.contact.userfield.list", {"filter": "x"})
    assert bad.status_code == 400
    assert bad.json() == fixture_json("api-reference__crm__contacts__userfield__crm-contact-userfield-list__03.json")


def test_userfieldconfig_list_rows_are_the_documented_list_rows(portal: Portal) -> None:
    """DOCS userfieldconfig-list.md (fixture userfieldconfig-list__01): a label with no text in the selected
    language is null, not a lang map; the enumeration row carries no `enum`; the default order is
    {"sort": "ASC", "id": "ASC"}; a `language` that is not a string is no language."""
    hook = _hook(portal)
    kind = {"entityId": "CRM_SMART_INVOICE", "fieldName": "UF_CRM_SMART_INVOICE_KIND", "userTypeId": "enumeration",
            "multiple": "Y", "editFormLabel": {"de": "Liste der Merkmale"}, "enum": [{"value": "A"}]}
    first = ok(_call(hook, "userfieldconfig.add", {"moduleId": "crm", "field": kind}))["result"]["field"]["id"]
    second = ok(_call(hook, "userfieldconfig.add", {"moduleId": "crm", "field": {**QBO_FIELD, "sort": 50}}))
    listed = ok(_call(hook, "userfieldconfig.list", {"moduleId": "crm", "select": {"0": "*", "language": "de"},
                                                       "filter": {"multiple": "Y"}}))
    assert same_shape(listed, fixture_json(UFC.format("list__01")), ignore=lambda k: k == "next") == []
    [row] = listed["result"]["fields"]
    assert "enum" not in row and row["languageId"] == {"de": "de"}
    assert (row["editFormLabel"], row["listColumnLabel"], row["helpMessage"]) == ({"de": "Liste der Merkmale"}, None, None)
    ids = [f["id"] for f in ok(_call(hook, "userfieldconfig.list", {"moduleId": "crm"}))["result"]["fields"]]
    assert ids == [second["result"]["field"]["id"], first]  # sort 50 before sort 100
    odd = ok(_call(hook, "userfieldconfig.list", {"moduleId": "crm", "select": {"language": ["de"]}}))
    assert [f["id"] for f in odd["result"]["fields"]] == ids
    assert ok(_call(hook, "userfieldconfig.get", {"moduleId": "crm", "id": first}))["result"]["field"]["enum"]


def test_flags_are_stored_as_y_or_n_by_bitrix24s_own_rules(portal: Portal) -> None:
    """CORE main CUserTypeEntity::Add/Update: MULTIPLE, MANDATORY, IS_SEARCHABLE are "Y" only for the string "Y"
    (a JSON true is "N"), SHOW_IN_LIST/EDIT_IN_LIST "N" only for "N", SHOW_FILTER one of N/I/E/S, SORT <= 0 is 100;
    Main\\Controller\\UserFieldConfig::prepareFields turns showFilter "Y" into "E"; the classic
    crm.<kind>.userfield.add (rest UserFieldProxy::add) compares case-insensitively and maps SHOW_FILTER Y to E."""
    hook = _hook(portal)
    added = ok(_call(hook, "userfieldconfig.add", {"moduleId": "crm", "field": {
        **QBO_FIELD, "mandatory": True, "multiple": "y", "isSearchable": 1, "showFilter": "Y", "sort": "abc"}}))
    field = added["result"]["field"]
    flags = ("mandatory", "multiple", "isSearchable", "showFilter", "showInList", "editInList", "sort")
    assert [field[k] for k in flags] == ["N", "N", "N", "E", "Y", "Y", "100"]
    updated = ok(_call(hook, "userfieldconfig.update", {"moduleId": "crm", "id": field["id"], "field": {
        "mandatory": "Y", "showFilter": "S", "isSearchable": False, "settings": "not an object"}}))["result"]["field"]
    assert [updated[k] for k in ("mandatory", "showFilter", "isSearchable")] == ["Y", "S", "N"]
    assert updated["settings"] == field["settings"]
    portal.control("settings", {"req_uf_check": True})
    refused = portal.call("crm.item.add", {"entityTypeId": 31, "fields": {"title": "No QBO id"}})
    assert refused.status_code == 400 and refused.json()["error"] == "CRM_FIELD_ERROR_REQUIRED"
    ok(portal.call("crm.contact.userfield.add", {"fields": {"USER_TYPE_ID": "string", "FIELD_NAME": "TAX",
                                                             "MANDATORY": "y", "MULTIPLE": True, "SHOW_FILTER": "Y"}}))
    [tax] = ok(portal.call("crm.contact.userfield.list", {}))["result"]
    assert (tax["MANDATORY"], tax["MULTIPLE"], tax["SHOW_FILTER"]) == ("Y", "N", "E")
    refused = portal.call("crm.contact.add", {"fields": {"NAME": "No tax id"}})
    assert refused.status_code == 400 and refused.json()["error"] == "CRM_FIELD_ERROR_REQUIRED"
