"""Origin markers the first sync finds its own records by (contract §1).

DOCS crm-contact-add.md / crm-company-fields.md: ORIGINATOR_ID, ORIGIN_ID ("used only for linking to
an external source"), returned by get/list and usable in list filters; crm-contact-list.md: filter prefixes
`>= > <= < @ !@ % =% %= = != !` (`@` takes an array: "in"). object-fields.md § Invoice: `xmlId`
("External code"); crm-item-list.md: filter with the same prefixes. crm-invoice-fields.md: XML_ID;
crm-invoice-list.md: "filter ... sorting is supported by the same fields as in the filter".
"""
from __future__ import annotations

import pytest

from sandbox_b24.conftest import Portal, ok

REALM = "qb24:9130"


def _add(portal: Portal, kind: str, origin: str) -> int:
    base = {"NAME": "Ada"} if kind == "contact" else {"TITLE": "Acme"}
    return ok(portal.call(f"crm.{kind}.add", {"fields": {**base, "ORIGINATOR_ID": REALM, "ORIGIN_ID": origin}}))["result"]


@pytest.mark.parametrize("kind", ["contact", "company"])
def test_origin_markers_stored_returned_and_filtered(portal: Portal, kind: str) -> None:
    ids = [_add(portal, kind, f"Customer:{n}") for n in (1, 2, 3)]
    _add(portal, kind, "Customer:1:person")
    got = ok(portal.call(f"crm.{kind}.get", {"id": ids[0]}))["result"]
    assert (got["ORIGINATOR_ID"], got["ORIGIN_ID"]) == (REALM, "Customer:1")
    exact = ok(portal.call(f"crm.{kind}.list", {"filter": {"ORIGINATOR_ID": REALM, "ORIGIN_ID": "Customer:2"},
                                                "select": ["ID", "ORIGIN_ID", "ORIGINATOR_ID"]}))["result"]
    assert [(r["ID"], r["ORIGIN_ID"], r["ORIGINATOR_ID"]) for r in exact] == [(str(ids[1]), "Customer:2", REALM)]
    within = ok(portal.call(f"crm.{kind}.list", {"filter": {"=ORIGINATOR_ID": REALM,
                                                            "@ORIGIN_ID": ["Customer:1", "Customer:3", "Customer:9"]},
                                                 "select": ["ID"]}))["result"]
    assert [r["ID"] for r in within] == [str(ids[0]), str(ids[2])]
    assert ok(portal.call(f"crm.{kind}.list", {"filter": {"ORIGINATOR_ID": "qb24:other"}}))["result"] == []


@pytest.mark.parametrize("kind", ["contact", "company"])
def test_classic_list_at_id_filter_takes_an_array(portal: Portal, kind: str) -> None:
    ids = [_add(portal, kind, f"Customer:{n}") for n in range(5)]
    rows = ok(portal.call(f"crm.{kind}.list", {"filter": {"@ID": [ids[1], str(ids[3]), 99999]}}))["result"]
    assert [r["ID"] for r in rows] == [str(ids[1]), str(ids[3])]


def test_smart_invoice_xml_id_stored_and_filtered(portal: Portal) -> None:
    ids = [ok(portal.call("crm.item.add", {"entityTypeId": 31, "fields": {
        "title": f"INV {n}", "xmlId": f"qb24:9130:Invoice:{n}"}}))["result"]["item"]["id"] for n in (1, 2, 3)]
    got = ok(portal.call("crm.item.get", {"entityTypeId": 31, "id": ids[0]}))["result"]["item"]
    assert got["xmlId"] == "qb24:9130:Invoice:1"
    exact = ok(portal.call("crm.item.list", {"entityTypeId": 31, "filter": {"xmlId": "qb24:9130:Invoice:2"},
                                             "select": ["id", "xmlId"]}))["result"]["items"]
    assert exact == [{"id": ids[1], "xmlId": "qb24:9130:Invoice:2"}]
    within = ok(portal.call("crm.item.list", {"entityTypeId": 31, "filter": {
        "@xmlId": ["qb24:9130:Invoice:1", "qb24:9130:Invoice:3"]}, "select": ["id"]}))["result"]["items"]
    assert [i["id"] for i in within] == [ids[0], ids[2]]


def test_old_invoice_xml_id_stored_and_filtered(portal: Portal) -> None:
    base = {"ORDER_TOPIC": "INV", "PERSON_TYPE_ID": "1", "PAY_SYSTEM_ID": "1"}
    ids = [ok(portal.call("crm.invoice.add", {"fields": {**base, "XML_ID": f"qb24:9130:Invoice:{n}"}}))["result"]
           for n in (1, 2, 3)]
    assert ok(portal.call("crm.invoice.get", {"id": ids[0]}))["result"]["XML_ID"] == "qb24:9130:Invoice:1"
    exact = ok(portal.call("crm.invoice.list", {"filter": {"XML_ID": "qb24:9130:Invoice:2"},
                                                "select": ["ID", "XML_ID"]}))["result"]
    assert [(r["ID"], r["XML_ID"]) for r in exact] == [(str(ids[1]), "qb24:9130:Invoice:2")]
    within = ok(portal.call("crm.invoice.list", {"filter": {"@XML_ID": ["qb24:9130:Invoice:1", "qb24:9130:Invoice:3"]},
                                                 "select": ["ID"]}))["result"]
    assert [r["ID"] for r in within] == [str(ids[0]), str(ids[2])]
    by_id = ok(portal.call("crm.invoice.list", {"filter": {"@ID": [ids[0], ids[2]]}, "select": ["ID"]}))["result"]
    assert [r["ID"] for r in by_id] == [str(ids[0]), str(ids[2])]
