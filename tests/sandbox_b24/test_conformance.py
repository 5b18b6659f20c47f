"""Documented request/response shapes per method, compared with the copied doc examples."""
from __future__ import annotations

import requests

from sandbox_b24.conftest import Portal, fixture_json, same_shape

PORTAL_SPECIFIC = lambda key: key.startswith(("UF_", "PARENT_ID_", "ufCrm", "parentId"))  # noqa: E731
TIME_KEYS = {"start", "finish", "duration", "processing", "date_start", "date_finish", "operating",
             "operating_reset_at"}


def _ok(response: requests.Response) -> dict:
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body["time"]) == TIME_KEYS
    return body


def _contact(portal: Portal, **fields) -> int:
    base = {"NAME": "Ada", "LAST_NAME": "Lovelace", "EMAIL": [{"VALUE": "ada@example.com", "VALUE_TYPE": "WORK"}],
            "PHONE": [{"VALUE": "+1 555 0100", "VALUE_TYPE": "WORK"}]}
    return _ok(portal.call("crm.contact.add", {"fields": {**base, **fields}}))["result"]


def test_contact_add_get_list_update_delete(portal: Portal) -> None:
    added = _ok(portal.call("crm.contact.add", {"fields": {"NAME": "Ada", "ORIGINATOR_ID": "qbo", "ORIGIN_ID": "42",
                                                           "EMAIL": [{"VALUE": "a@example.com", "VALUE_TYPE": "WORK"}],
                                                           "PHONE": [{"VALUE": "+1 555", "VALUE_TYPE": "WORK"}]}}))
    assert same_shape(added, fixture_json("api-reference__crm__contacts__crm-contact-add__01.json")) == []
    contact_id = added["result"]
    got = _ok(portal.call("crm.contact.get", {"id": contact_id}))
    doc = fixture_json("api-reference__crm__contacts__crm-contact-get__01.json")
    assert same_shape(got, doc, ignore=PORTAL_SPECIFIC) == []
    assert got["result"]["ID"] == str(contact_id) and got["result"]["ORIGIN_ID"] == "42"
    listed = _ok(portal.call("crm.contact.list", {"select": ["ID", "NAME", "LAST_NAME", "EXPORT", "ASSIGNED_BY_ID", "DATE_CREATE", "EMAIL"],
                                                   "filter": {"ORIGIN_ID": "42"}}))
    assert same_shape(listed, fixture_json("api-reference__crm__contacts__crm-contact-list__01.json")) == []
    assert listed["total"] == 1 and "next" not in listed
    updated = _ok(portal.call("crm.contact.update", {"id": contact_id, "fields": {
        "EMAIL": [{"VALUE": "b@example.com", "VALUE_TYPE": "HOME"}]}}))
    assert same_shape(updated, fixture_json("api-reference__crm__contacts__crm-contact-update__07.json")) == []
    emails = _ok(portal.call("crm.contact.get", {"id": contact_id}))["result"]["EMAIL"]
    assert [e["VALUE"] for e in emails] == ["a@example.com", "b@example.com"]  # an entry without ID is added
    portal.call("crm.contact.update", {"id": contact_id, "fields": {"EMAIL": [{"ID": emails[0]["ID"], "DELETE": "Y"}]}})
    assert [e["VALUE"] for e in portal.call("crm.contact.get", {"id": contact_id}).json()["result"]["EMAIL"]] == ["b@example.com"]
    assert _ok(portal.call("crm.contact.delete", {"id": contact_id}))["result"] is True
    assert portal.call("crm.contact.get", {"id": contact_id}).json() == {"error": "", "error_description": "Not found"}


def test_contact_list_pages_of_50_and_start_minus_one(portal: Portal) -> None:
    cmd = {str(i): f"crm.contact.add?fields[NAME]=N{i}" for i in range(50)}
    _ok(portal.call("batch", {"cmd": cmd}))
    _ok(portal.call("batch", {"cmd": {str(i): f"crm.contact.add?fields[NAME]=M{i}" for i in range(5)}}))
    first = _ok(portal.call("crm.contact.list", {"order": {"ID": "ASC"}}))
    assert len(first["result"]) == 50 and first["next"] == 50 and first["total"] == 55
    second = _ok(portal.call("crm.contact.list", {"order": {"ID": "ASC"}, "start": first["next"]}))
    assert len(second["result"]) == 5 and "next" not in second
    fast = _ok(portal.call("crm.contact.list", {"order": {"ID": "ASC"}, "filter": {">ID": 50}, "start": -1}))
    assert [r["ID"] for r in fast["result"]] == [str(i) for i in range(51, 56)] and fast["total"] == 0


def test_contact_fields_and_userfield_add(portal: Portal) -> None:
    fields = _ok(portal.call("crm.contact.fields"))["result"]
    assert fields["NAME"]["type"] == "string" and fields["EMAIL"]["isMultiple"] is True
    uf = _ok(portal.call("crm.contact.userfield.add", {"fields": {"USER_TYPE_ID": "string", "FIELD_NAME": "QBO_ID"}}))
    assert isinstance(uf["result"], int)
    assert "UF_CRM_QBO_ID" in _ok(portal.call("crm.contact.fields"))["result"]
    assert _ok(portal.call("crm.company.userfield.add", {"fields": {"USER_TYPE_ID": "string", "FIELD_NAME": "UF_X"}}))


def test_company_methods(portal: Portal) -> None:
    added = _ok(portal.call("crm.company.add", {"fields": {"TITLE": "Acme", "PHONE": [{"VALUE": "+1", "VALUE_TYPE": "WORK"}]}}))
    assert same_shape(added, fixture_json("api-reference__crm__companies__crm-company-add__01.json")) == []
    got = _ok(portal.call("crm.company.get", {"id": added["result"]}))
    assert same_shape(got, fixture_json("api-reference__crm__companies__crm-company-get__01.json"), ignore=PORTAL_SPECIFIC) == []
    doc = fixture_json("api-reference__crm__companies__crm-company-list__01.json")
    listed = _ok(portal.call("crm.company.list", {"filter": {"%TITLE": "acm"}, "select": list(doc["result"][0])}))
    assert same_shape(listed, doc) == []
    assert _ok(portal.call("crm.company.update", {"id": added["result"], "fields": {"TITLE": "Acme 2"}}))["result"] is True
    assert _ok(portal.call("crm.company.fields"))["result"]["TITLE"]["isRequired"] is True
    assert _ok(portal.call("crm.company.delete", {"id": added["result"]}))["result"] is True


def test_lead_and_deal_get(portal: Portal) -> None:
    seeded = portal.control("seed", {"leads": [{"TITLE": "L"}], "deals": [{"TITLE": "D"}]}).json()
    lead = _ok(portal.call("crm.lead.get", {"id": seeded["leads"][0]}))["result"]
    deal = _ok(portal.call("crm.deal.get", {"id": seeded["deals"][0]}))["result"]
    assert lead["TITLE"] == "L" and isinstance(lead["ID"], str) and deal["STAGE_ID"] == "NEW"


def test_smart_invoice_item_lifecycle(portal: Portal) -> None:
    contact_id = _contact(portal)
    added = _ok(portal.call("crm.item.add", {"entityTypeId": 31, "fields": {
        "title": "QBO 1001", "xmlId": "qbo:1001", "contactIds": [contact_id], "parentId2": 0, "opportunity": 12.5}}))
    doc = fixture_json("api-reference__crm__universal__crm-item-add__02.json")
    assert same_shape(added, doc, ignore=lambda k: PORTAL_SPECIFIC(k) or k not in added["result"]["item"] and k != "item") == []
    item = added["result"]["item"]
    assert isinstance(item["id"], int) and item["entityTypeId"] == 31 and item["contactId"] == contact_id
    assert item["stageId"] == "DT31_5:N" and item["xmlId"] == "qbo:1001"
    got = _ok(portal.call("crm.item.get", {"entityTypeId": 31, "id": item["id"]}))
    assert got["result"]["item"] == item
    updated = _ok(portal.call("crm.item.update", {"entityTypeId": 31, "id": item["id"], "fields": {"stageId": "DT31_5:P"}}))
    assert updated["result"]["item"]["previousStageId"] == "DT31_5:N" and updated["result"]["item"]["stageSemanticId"] == "S"
    listed = _ok(portal.call("crm.item.list", {"entityTypeId": 31, "filter": {"=xmlId": "qbo:1001"}, "select": ["id", "title"]}))
    assert same_shape(listed, fixture_json("api-reference__crm__universal__crm-item-list__01.json"),
                      ignore=lambda k: k not in ("result", "items", "id", "title", "total")) == []
    assert listed["result"]["items"] == [{"id": item["id"], "title": "QBO 1001"}] and listed["total"] == 1
    deleted = _ok(portal.call("crm.item.delete", {"entityTypeId": 31, "id": item["id"]}))
    assert same_shape(deleted, fixture_json("api-reference__crm__universal__crm-item-delete__01.json")) == []
    assert portal.call("crm.item.get", {"entityTypeId": 31, "id": item["id"]}).json() == \
        fixture_json("api-reference__crm__universal__crm-item-get__02.json")


def test_productrows_replace_and_recalculate(portal: Portal) -> None:
    item = _ok(portal.call("crm.item.add", {"entityTypeId": 31, "fields": {"title": "T"}}))["result"]["item"]
    rows = [{"productName": "Widget", "price": 10, "quantity": 3}, {"productName": "Fee", "price": 2.5, "quantity": 1}]
    result = _ok(portal.call("crm.item.productrow.set", {"ownerType": "SI", "ownerId": item["id"], "productRows": rows}))
    assert [r["productName"] for r in result["result"]["productRows"]] == ["Widget", "Fee"]
    _ok(portal.call("crm.item.productrow.set", {"ownerType": "SI", "ownerId": item["id"], "productRows": rows[:1]}))
    listed = _ok(portal.call("crm.item.productrow.list", {"filter": {"=ownerType": "SI", "=ownerId": item["id"]}}))
    assert len(listed["result"]["productRows"]) == 1
    assert _ok(portal.call("crm.item.get", {"entityTypeId": 31, "id": item["id"]}))["result"]["item"]["opportunity"] == 30


def test_old_invoices(portal: Portal) -> None:
    person = _ok(portal.call("crm.persontype.list"))["result"]
    pay = _ok(portal.call("crm.paysystem.list"))["result"]
    contact_type = next(p["ID"] for p in person if p["NAME"] == "CRM_CONTACT")
    fields = {"ORDER_TOPIC": "QBO 7", "PERSON_TYPE_ID": contact_type, "PAY_SYSTEM_ID": pay[0]["ID"],
              "UF_CONTACT_ID": 1, "PRODUCT_ROWS": [{"ID": 0, "PRODUCT_ID": 0, "PRODUCT_NAME": "X", "PRICE": 5, "QUANTITY": 2}],
              "INVOICE_PROPERTIES": {"FIO": "Ada", "EMAIL": "a@example.com"}}
    invoice_id = _ok(portal.call("crm.invoice.add", {"fields": fields}))["result"]
    got = _ok(portal.call("crm.invoice.get", {"id": invoice_id}))["result"]
    assert got["ID"] == str(invoice_id) and got["PRICE"] == "10.00" and got["STATUS_ID"] == "N"
    assert got["PRODUCT_ROWS"][0]["PRODUCT_NAME"] == "X" and got["INVOICE_PROPERTIES"]["FIO"] == "Ada"
    _ok(portal.call("crm.invoice.update", {"id": invoice_id, "fields": {"STATUS_ID": "P"}}))
    listed = _ok(portal.call("crm.invoice.list", {"filter": {"STATUS_ID": "P"}}))
    assert [r["ID"] for r in listed["result"]] == [str(invoice_id)] and listed["total"] == 1
    assert _ok(portal.call("crm.invoice.delete", {"id": invoice_id}))["result"] is True


def test_status_and_category_lists(portal: Portal) -> None:
    categories = _ok(portal.call("crm.category.list", {"entityTypeId": 31}))
    assert same_shape(categories, fixture_json("api-reference__crm__universal__category__crm-category-list__01.json"),
                      ignore=lambda k: k in ("originId", "originatorId")) == []
    default = next(c for c in categories["result"]["categories"] if c["isDefault"] == "Y")
    stages = _ok(portal.call("crm.status.list", {"filter": {"ENTITY_ID": f"SMART_INVOICE_STAGE_{default['id']}"}}))
    assert same_shape(stages, fixture_json("api-reference__crm__status__crm-status-list__01.json")) == []
    assert {s["STATUS_ID"]: s["SEMANTICS"] for s in stages["result"]}[f"DT31_{default['id']}:P"] == "S"
    invoice_status = _ok(portal.call("crm.status.list", {"filter": {"ENTITY_ID": "INVOICE_STATUS"}}))["result"]
    assert [s["STATUS_ID"] for s in invoice_status] == ["N", "S", "P", "D"]


def test_duplicate_findbycomm(portal: Portal) -> None:
    contact_id = _contact(portal)
    assert _ok(portal.call("crm.duplicate.findbycomm", {"type": "EMAIL", "values": ["ADA@example.com"]}))["result"] == \
        {"CONTACT": [contact_id]}
    assert _ok(portal.call("crm.duplicate.findbycomm", {"type": "PHONE", "values": ["+15550100"],
                                                        "entity_type": "CONTACT"}))["result"] == {"CONTACT": [contact_id]}
    assert _ok(portal.call("crm.duplicate.findbycomm", {"type": "EMAIL", "values": ["x@y.z"]}))["result"] == []


def test_app_methods(portal: Portal) -> None:
    info = _ok(portal.call("app.info"))["result"]
    assert set(info) >= {"ID", "CODE", "VERSION", "STATUS", "INSTALLED", "PAYMENT_EXPIRED", "DAYS", "LICENSE"}
    assert _ok(portal.call("app.option.get"))["result"] == []
    assert _ok(portal.call("app.option.set", {"options": {"realm_id": "123"}}))["result"] is True
    assert _ok(portal.call("app.option.get", {"option": "realm_id"}))["result"] == "123"
    assert _ok(portal.call("profile"))["result"]["ADMIN"] is True


def test_event_and_placement_binding(portal: Portal) -> None:
    bind = {"event": "ONCRMCONTACTADD", "handler": "http://127.0.0.1:9/h"}
    assert same_shape(_ok(portal.call("event.bind", bind)), fixture_json("api-reference__events__event-bind__01.json")) == []
    again = portal.call("event.bind", bind)
    assert again.status_code == 400 and again.json() == {"error": "ERROR_CORE", "error_description": "Handler already binded"}
    assert _ok(portal.call("event.get"))["result"] == [{"event": "ONCRMCONTACTADD", "handler": "http://127.0.0.1:9/h",
                                                        "auth_type": "0", "offline": 0}]
    assert _ok(portal.call("event.unbind", bind))["result"] == {"count": 1}
    placement = {"PLACEMENT": "CRM_CONTACT_DETAIL_TOOLBAR", "HANDLER": "http://127.0.0.1:9/p", "TITLE": "QBO"}
    assert _ok(portal.call("placement.bind", placement))["result"] is True
    assert portal.call("placement.bind", placement).json()["error"] == "ERROR_CORE"
    assert _ok(portal.call("placement.get"))["result"][0]["placement"] == "CRM_CONTACT_DETAIL_TOOLBAR"
    assert _ok(portal.call("placement.unbind", {"PLACEMENT": "CRM_CONTACT_DETAIL_TOOLBAR"}))["result"] == {"count": 1}


def test_batch_shapes_references_and_halt(portal: Portal) -> None:
    contact_id = _contact(portal)
    body = _ok(portal.call("batch", {"halt": 0, "cmd": {
        "list": "crm.contact.list?select[]=ID&filter[ID]=" + str(contact_id),
        "get": "crm.contact.get?id=$result[list][0][ID]",
        "bad": "crm.contact.get?id=999999"}}))
    assert same_shape(body, fixture_json("settings__how-to-call-rest-api__batch__01.json"),
                      ignore=lambda k: k in ("get_user", "get_department", "result_error")) == []
    assert same_shape(body["result"]["result_error"],
                      fixture_json("settings__how-to-call-rest-api__batch__02.json")["result"]["result_error"],
                      ignore=lambda k: k in ("get_user", "get_department")) == []
    sections = body["result"]
    assert sections["result"]["get"]["ID"] == str(contact_id) and sections["result_total"] == {"list": 1}
    assert sections["result_error"] == {"bad": {"error": "", "error_description": "Not found"}}
    assert sections["result_next"] == []
    halted = _ok(portal.call("batch", {"halt": 1, "cmd": {"bad": "crm.contact.get?id=999999", "after": "profile"}}))["result"]
    assert same_shape(halted, fixture_json("settings__how-to-call-rest-api__batch__02.json")["result"],
                      ignore=lambda k: k in ("get_user", "get_department")) == []
    assert halted["result"] == [] and list(halted["result_error"]) == ["bad"]


def test_form_body_query_string_and_webhook_paths(portal: Portal) -> None:
    form = requests.post(f"{portal.url}/rest/crm.contact.add", data={
        "auth": portal.auth, "fields[NAME]": "Form", "fields[EMAIL][0][VALUE]": "f@example.com",
        "fields[EMAIL][0][VALUE_TYPE]": "WORK"})
    contact_id = _ok(form)["result"]
    query = requests.get(f"{portal.url}/rest/crm.contact.get.json", params={"auth": portal.auth, "id": contact_id})
    assert _ok(query)["result"]["EMAIL"][0]["VALUE"] == "f@example.com"
    hook = portal.control("webhooks", {"user_id": 1, "scope": "crm"}).json()["url"]
    assert _ok(requests.post(f"{hook}crm.contact.get.json", json={"id": contact_id}))["result"]["NAME"] == "Form"
    denied = requests.post(f"{hook}placement.bind", json={"PLACEMENT": "X", "HANDLER": "http://x"})
    assert denied.status_code == 403 and denied.json()["error"] == "WRONG_AUTH_TYPE"


def test_required_userfield_check_option(portal: Portal) -> None:
    portal.control("seed", {"userfields": [{"entity": "CRM_CONTACT", "FIELD_NAME": "UF_CRM_TAX", "MANDATORY": "Y"}]})
    assert portal.call("crm.contact.add", {"fields": {"NAME": "Off"}}).status_code == 200  # default: option off
    portal.control("settings", {"req_uf_check": True})
    refused = portal.call("crm.contact.add", {"fields": {"NAME": "On"}})
    assert refused.status_code == 400 and refused.json()["error"] == "CRM_FIELD_ERROR_REQUIRED"
    assert portal.call("crm.contact.add", {"fields": {"NAME": "On", "UF_CRM_TAX": "x"}}).status_code == 200


def test_required_userfield_check_covers_smart_invoices(portal: Portal) -> None:
    portal.control("seed", {"userfields": [{"entity": "CRM_SMART_INVOICE", "FIELD_NAME": "ufCrmQboId",
                                            "MANDATORY": "Y"}]})
    item = _ok(portal.call("crm.item.add", {"entityTypeId": 31, "fields": {"title": "Off"}}))["result"]["item"]
    portal.control("settings", {"req_uf_check": True})
    refused = portal.call("crm.item.update", {"entityTypeId": 31, "id": item["id"], "fields": {"title": "On"}})
    assert refused.status_code == 400 and refused.json()["error"] == "CRM_FIELD_ERROR_REQUIRED"
    assert portal.call("crm.item.add", {"entityTypeId": 31, "fields": {"title": "On"}}).status_code == 400
    assert _ok(portal.call("crm.item.add", {"entityTypeId": 31, "fields": {"title": "On", "ufCrmQboId": "7"}}))
