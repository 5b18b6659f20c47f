"""`batch` as the first sync writes through it (reference §7).

DOCS settings/how-to-call-rest-api/batch.md: commands are `method?query` strings with PHP bracket
params; `$result[cmd][field]…` refers to an earlier command's result; per-command errors land in
result_error while the other commands succeed (halt=0); the batch is one request for the rate limit.
"""
from __future__ import annotations

from urllib.parse import urlencode

from sandbox_b24.conftest import Portal, ok


def _q(pairs: list[tuple[str, object]]) -> str:
    return urlencode([(k, str(v)) for k, v in pairs])


def test_item_add_then_productrow_set_through_a_reference(portal: Portal) -> None:
    cmd = {
        "inv": "crm.item.add?" + _q([("entityTypeId", 31), ("fields[title]", "INV 1001"),
                                     ("fields[xmlId]", "qb24:9130:Invoice:1")]),
        "rows": "crm.item.productrow.set?" + _q([
            ("ownerType", "SI"), ("ownerId", "$result[inv][item][id]"),
            ("productRows[0][productName]", "Design"), ("productRows[0][price]", "10.5"),
            ("productRows[0][quantity]", "2"), ("productRows[1][productName]", "Hosting"),
            ("productRows[1][price]", "4"), ("productRows[1][quantity]", "1")]),
    }
    body = ok(portal.call("batch", {"halt": 0, "cmd": cmd}))["result"]
    assert body["result_error"] == []
    item_id = body["result"]["inv"]["item"]["id"]
    rows = body["result"]["rows"]["productRows"]
    assert [(r["ownerId"], r["productName"], r["price"], r["quantity"]) for r in rows] == [
        (item_id, "Design", 10.5, 2.0), (item_id, "Hosting", 4.0, 1.0)]
    listed = ok(portal.call("crm.item.productrow.list", {"filter": {"=ownerType": "SI", "=ownerId": item_id}}))
    assert [r["productName"] for r in listed["result"]["productRows"]] == ["Design", "Hosting"]
    item = ok(portal.call("crm.item.get", {"entityTypeId": 31, "id": item_id}))["result"]["item"]
    assert item["opportunity"] == 25.0


def test_company_then_contact_with_company_id_reference(portal: Portal) -> None:
    cmd = {"company": "crm.company.add?" + _q([("fields[TITLE]", "Acme"), ("fields[ORIGIN_ID]", "Customer:7")]),
           "person": "crm.contact.add?" + _q([("fields[NAME]", "Ada"), ("fields[COMPANY_ID]", "$result[company]"),
                                              ("fields[ORIGIN_ID]", "Customer:7:person")])}
    body = ok(portal.call("batch", {"cmd": cmd}))["result"]
    company_id, contact_id = body["result"]["company"], body["result"]["person"]
    assert isinstance(company_id, int) and isinstance(contact_id, int)
    contact = ok(portal.call("crm.contact.get", {"id": contact_id}))["result"]
    assert contact["COMPANY_ID"] == str(company_id)


def test_per_command_errors_while_the_others_succeed(portal: Portal) -> None:
    cmd = [
        "crm.contact.add?" + _q([("fields[NAME]", "One")]),
        "crm.contact.add?" + _q([("fields[NAME]", "Bad"), ("fields[EMAIL][0][VALUE]", "not an email")]),
        "crm.contact.update?" + _q([("id", 999999), ("fields[NAME]", "Ghost")]),
        "crm.contact.add?" + _q([("fields[NAME]", "Three")]),
    ]
    body = ok(portal.call("batch", {"halt": 0, "cmd": cmd}))["result"]
    assert sorted(body["result"]) == ["0", "3"]
    assert sorted(body["result_error"]) == ["1", "2"]
    assert body["result_error"]["1"]["error"] == "ERROR_CORE"
    assert body["result_error"]["2"] == {"error": "", "error_description": "Not found"}
    names = [r["NAME"] for r in ok(portal.call("crm.contact.list", {"select": ["NAME"]}))["result"]]
    assert names == ["One", "Three"]


def test_fifty_writes_in_one_batch_are_one_request(portal: Portal) -> None:
    portal.control("settings", {"bucket_size": 1, "reset_bucket": True})
    cmd = {f"c{i}": "crm.company.add?" + _q([("fields[TITLE]", f"Co {i}")]) for i in range(50)}
    body = ok(portal.call("batch", {"cmd": cmd}))["result"]
    assert len(body["result"]) == 50 and body["result_error"] == []
