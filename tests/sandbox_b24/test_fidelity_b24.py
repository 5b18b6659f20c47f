"""Fidelity: Bitrix24 behaviours the sync leans on, one test per checklist item not pinned elsewhere."""
from __future__ import annotations

from urllib.parse import parse_qsl

import requests

from sandbox_b24.conftest import CLIENT_ID, CLIENT_SECRET, Portal, Receiver, ok
from tests.support import wait_for


def _seed_invoices(portal: Portal, count: int) -> list[int]:
    return portal.control("seed", {"smart_invoices": [{"title": f"S{i}"} for i in range(count)]}).json()["smart_invoices"]


def test_old_domain_answers_302_to_the_new_one(portal: Portal) -> None:
    """change-domen.md: the old domain answers 302; the client re-POSTs to Location; member_id stays."""
    moved = portal.control("move-domain").json()
    assert moved["old_url"] == portal.url and moved["url"] != portal.url
    old = requests.post(f"{portal.url}/rest/profile.json?x=1", json={"auth": portal.auth}, allow_redirects=False)
    assert old.status_code == 302 and old.headers["Location"] == f"{moved['url']}/rest/profile.json?x=1"
    assert ok(requests.post(old.headers["Location"], json={"auth": portal.auth}))["result"]["ADMIN"] is True
    refreshed = requests.get(f"{portal.sb.oauth_url}/oauth/token/", params={
        "grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "refresh_token": portal.refresh}).json()
    assert refreshed["client_endpoint"] == f"{moved['url']}/rest/" and refreshed["member_id"] == portal.member_id


def test_batch_fast_paging_chains_item_list_through_result_references(portal: Portal) -> None:
    """PYSDK's as_list_fast: `$result[prev][items][49][id]` feeds the next page's `>id` filter."""
    ids = _seed_invoices(portal, 55)
    page = "crm.item.list?entityTypeId=31&order[id]=ASC&start=-1&filter[>id]="
    body = ok(portal.call("batch", {"halt": 0, "cmd": {"p1": page + "0", "p2": page + "$result[p1][items][49][id]"}}))
    sections = body["result"]
    assert [i["id"] for i in sections["result"]["p1"]["items"]] == ids[:50]
    assert [i["id"] for i in sections["result"]["p2"]["items"]] == ids[50:]
    assert sections["result_error"] == [] and sections["result_next"] == []
    assert sections["result_total"] == {"p1": 0, "p2": 0}  # start=-1 turns counting off


def test_item_list_pages_of_50_with_numeric_ids(portal: Portal) -> None:
    """crm.item.list: JSON-number ids, `next` int only while rows remain, `total` counts all."""
    ids = _seed_invoices(portal, 55)
    first = ok(portal.call("crm.item.list", {"entityTypeId": 31, "order": {"id": "ASC"}}))
    assert len(first["result"]["items"]) == 50 and first["next"] == 50 and first["total"] == 55
    assert all(isinstance(i["id"], int) and isinstance(i["categoryId"], int) for i in first["result"]["items"])
    second = ok(portal.call("crm.item.list", {"entityTypeId": 31, "order": {"id": "ASC"}, "start": 50}))
    assert [i["id"] for i in second["result"]["items"]] == ids[50:] and "next" not in second


def test_multi_field_update_changes_deletes_and_adds(portal: Portal) -> None:
    """crm-contact-update.md: change by ID, delete by empty VALUE or bare ID, add without ID; others kept."""
    phones = [{"VALUE": v, "VALUE_TYPE": "WORK"} for v in ("+1 111", "+1 222", "+1 333")]
    contact_id = ok(portal.call("crm.contact.add", {"fields": {"NAME": "M", "PHONE": phones,
                                                               "EMAIL": [{"VALUE": "m@example.com"}]}}))["result"]
    stored = ok(portal.call("crm.contact.get", {"id": contact_id}))["result"]["PHONE"]
    assert all(isinstance(p["ID"], str) and p["TYPE_ID"] == "PHONE" for p in stored)
    change = [{"ID": stored[0]["ID"], "VALUE": "+1 444", "VALUE_TYPE": "MOBILE"}, {"ID": stored[1]["ID"], "VALUE": ""},
              {"ID": stored[2]["ID"]}, {"VALUE": "+1 555", "VALUE_TYPE": "HOME"}]
    ok(portal.call("crm.contact.update", {"id": contact_id, "fields": {"PHONE": change}}))
    after = ok(portal.call("crm.contact.get", {"id": contact_id}))["result"]
    assert [(p["VALUE"], p["VALUE_TYPE"]) for p in after["PHONE"]] == [("+1 444", "MOBILE"), ("+1 555", "HOME")]
    assert after["PHONE"][0]["ID"] == stored[0]["ID"] and [e["VALUE"] for e in after["EMAIL"]] == ["m@example.com"]


def test_old_invoice_required_fields_in_fields_and_on_add(portal: Portal) -> None:
    """crm.invoice.fields marks ORDER_TOPIC, PAY_SYSTEM_ID, PERSON_TYPE_ID, ACCOUNT_NUMBER required."""
    fields = ok(portal.call("crm.invoice.fields"))["result"]
    required = {name for name, spec in fields.items() if spec["isRequired"]}
    assert required == {"ORDER_TOPIC", "PAY_SYSTEM_ID", "PERSON_TYPE_ID", "ACCOUNT_NUMBER"}
    assert fields["STATUS_ID"]["statusType"] == "INVOICE_STATUS" and fields["ID"]["isReadOnly"] is True
    refused = portal.call("crm.invoice.add", {"fields": {"ORDER_TOPIC": "No payer"}})
    assert refused.status_code == 400 and refused.json()["error"] == ""
    assert "PAY_SYSTEM_ID" in refused.json()["error_description"]


def test_item_fields_list_smart_invoice_userfields_and_stage_directory(portal: Portal) -> None:
    """A portal's CRM_SMART_INVOICE user fields show up in crm.item.fields and are writable and filterable."""
    portal.control("seed", {"userfields": [{"entity": "CRM_SMART_INVOICE", "FIELD_NAME": "ufCrmSmartInvoiceQboId"}]})
    fields = ok(portal.call("crm.item.fields", {"entityTypeId": 31}))["result"]["fields"]
    uf = fields["ufCrmSmartInvoiceQboId"]
    assert uf["isDynamic"] is True and uf["type"] == "string" and uf["upperName"] == "UF_CRM_SMART_INVOICE_QBO_ID"
    assert fields["stageId"]["statusType"] == "SMART_INVOICE_STAGE_5" and fields["xmlId"]["isDynamic"] is False
    item = ok(portal.call("crm.item.add", {"entityTypeId": 31, "fields": {"title": "U", "ufCrmSmartInvoiceQboId": "130"}}))
    listed = ok(portal.call("crm.item.list", {"entityTypeId": 31, "filter": {"=ufCrmSmartInvoiceQboId": "130"}}))
    assert [i["id"] for i in listed["result"]["items"]] == [item["result"]["item"]["id"]]


def test_stage_semantics_drive_stage_semantic_id(portal: Portal) -> None:
    """SEMANTICS S/F/null with EXTRA.SEMANTICS; an item on a custom failure stage reports F."""
    portal.control("seed", {"stages": [{"code": "UC_VOID", "name": "Voided", "sort": 95, "semantics": "F"}]})
    stages = ok(portal.call("crm.status.list", {"filter": {"ENTITY_ID": "SMART_INVOICE_STAGE_5"}}))["result"]
    by_id = {s["STATUS_ID"]: s for s in stages}
    assert (by_id["DT31_5:N"]["SEMANTICS"], by_id["DT31_5:P"]["SEMANTICS"], by_id["DT31_5:D"]["SEMANTICS"]) == (None, "S", "F")
    assert by_id["DT31_5:UC_VOID"]["EXTRA"]["SEMANTICS"] == "failure" and isinstance(by_id["DT31_5:P"]["SORT"], str)
    item = ok(portal.call("crm.item.add", {"entityTypeId": 31, "fields": {"stageId": "DT31_5:UC_VOID"}}))["result"]["item"]
    assert item["stageSemanticId"] == "F"


def test_smart_invoice_event_is_dynamic_item_with_entity_type_31(portal: Portal, receiver: Receiver) -> None:
    """ONCRMDYNAMICITEMADD carries data[FIELDS][ID] and [ENTITY_TYPE_ID]=31 as strings, form-encoded."""
    portal.call("event.bind", {"event": "ONCRMDYNAMICITEMADD", "handler": receiver.url})
    item = ok(portal.call("crm.item.add", {"entityTypeId": 31, "fields": {"title": "E"}}))["result"]["item"]
    fields = dict(parse_qsl(wait_for(lambda: receiver.bodies)[0].decode()))
    assert fields["event"] == "ONCRMDYNAMICITEMADD" and fields["data[FIELDS][ID]"] == str(item["id"])
    assert fields["data[FIELDS][ENTITY_TYPE_ID]"] == "31" and "auth[refresh_token]" not in fields
