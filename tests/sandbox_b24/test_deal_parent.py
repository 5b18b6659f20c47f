"""An invoice linked to a deal over REST, as the deal follow-through writes it (reference §6).

Smart Invoices: DOCS crm/universal/invoice.md ("Pass the deal ID in the parentId2 parameter to link the new
invoice with the deal"); crm.item.add/update/get answer the item with `parentId2` (a number; 0 when none).
An update that does not name `parentId2` keeps the link; naming it empty unbinds (CORE
crm/lib/service/parentfieldmanager.php, saveParentRelationsForIdentifier: only a parent field passed empty
is unbound). Old invoices: crm-invoice-fields.md lists `UF_DEAL_ID` (integer, "Identifier of the associated
deal"); crm.invoice.update fills every field it is not given from the stored invoice (CORE
crm/classes/general/restservice_invoice.php, update), so an update without UF_DEAL_ID keeps it.

A parent id naming no deal: the CORE bind path (ParentFieldManager → RelationManager::bindItems →
Relation::bindItems → createBinding) checks that the types are related, not that the parent item exists, and
the docs say nothing; UNCERTAIN. The sandbox stores it as given, and the app never relies on a refusal (it
only links deals a user just opened Create Invoice from).
"""
from __future__ import annotations

from sandbox_b24.conftest import Portal, ok

SMART = 31
OLD_BASE = {"ORDER_TOPIC": "Invoice 1001", "PERSON_TYPE_ID": "1", "PAY_SYSTEM_ID": "1"}


def _deal(portal: Portal) -> int:
    return int(ok(portal.call("crm.deal.add", {"fields": {"TITLE": "Garden redesign"}}))["result"])


def _add(portal: Portal, fields: dict) -> dict:
    return ok(portal.call("crm.item.add", {"entityTypeId": SMART, "fields": fields}))["result"]["item"]


def _update(portal: Portal, item_id: int, fields: dict) -> None:
    ok(portal.call("crm.item.update", {"entityTypeId": SMART, "id": item_id, "fields": fields}))


def _item(portal: Portal, item_id: int) -> dict:
    return ok(portal.call("crm.item.get", {"entityTypeId": SMART, "id": item_id}))["result"]["item"]


def test_a_smart_invoice_is_added_with_its_deal_and_keeps_it_through_updates(portal: Portal) -> None:
    deal = _deal(portal)
    added = ok(portal.call("crm.item.add", {"entityTypeId": SMART, "fields": {
        "title": "Invoice 1001", "parentId2": deal}}))["result"]["item"]
    assert added["parentId2"] == deal  # a number, as every crm.item id
    ok(portal.call("crm.item.update", {"entityTypeId": SMART, "id": added["id"],
                                       "fields": {"title": "Invoice 1002"}}))
    assert _item(portal, added["id"])["parentId2"] == deal
    listed = ok(portal.call("crm.item.list", {"entityTypeId": SMART, "filter": {"parentId2": deal},
                                              "select": ["id", "parentId2"]}))["result"]["items"]
    assert [(i["id"], i["parentId2"]) for i in listed] == [(added["id"], deal)]


def test_a_smart_invoices_deal_is_changed_or_unbound_only_when_named(portal: Portal) -> None:
    first, second = _deal(portal), _deal(portal)
    item = _add(portal, {"parentId2": first})
    _update(portal, item["id"], {"parentId2": second})
    assert _item(portal, item["id"])["parentId2"] == second
    _update(portal, item["id"], {"parentId2": 0})
    assert _item(portal, item["id"])["parentId2"] == 0


def test_a_smart_invoice_without_a_deal_answers_parent_id_2_zero(portal: Portal) -> None:
    item = _add(portal, {"title": "x"})
    assert item["parentId2"] == 0


def test_an_old_invoice_is_added_with_uf_deal_id_and_keeps_it_through_updates(portal: Portal) -> None:
    deal = _deal(portal)
    invoice_id = ok(portal.call("crm.invoice.add", {"fields": {**OLD_BASE, "UF_DEAL_ID": deal}}))["result"]
    assert ok(portal.call("crm.invoice.get", {"id": invoice_id}))["result"]["UF_DEAL_ID"] == str(deal)
    ok(portal.call("crm.invoice.update", {"id": invoice_id, "fields": {"ORDER_TOPIC": "Invoice 1002"}}))
    got = ok(portal.call("crm.invoice.get", {"id": invoice_id}))["result"]
    assert (got["ORDER_TOPIC"], got["UF_DEAL_ID"]) == ("Invoice 1002", str(deal))  # classic: strings
