"""Deals and their clients and invoices: the binding methods, the lead/deal fields the Create Invoice button
reads, the deal card's invoices, the kanban card's deal and client, the toolbar's PLACEMENT_OPTIONS, and the
add events of records made by the app and by hand."""
from __future__ import annotations

import json
import re
from html import unescape
from urllib.parse import parse_qsl

import requests

from sandbox_b24.conftest import Portal, Receiver
from tests.support import wait_for

OLD_INVOICE = {"PERSON_TYPE_ID": "1", "PAY_SYSTEM_ID": "1"}  # required (DOCS crm-invoice-fields.md)


def _result(response: requests.Response) -> object:
    assert response.status_code == 200, response.text
    return response.json()["result"]


def _add(portal: Portal, kind: str, fields: dict) -> int:
    return _result(portal.call(f"crm.{kind}.add", {"fields": fields}))


def test_deal_contact_items_follow_contact_ids_primary_first(portal: Portal) -> None:
    """DOCS crm-deal-contact-items-get.md: [{CONTACT_ID, SORT, ROLE_ID, IS_PRIMARY}] with integers and Y/N;
    crm-deal-add.md: CONTACT_IDS binds several; crm-deal-get.md answers CONTACT_ID (a string)."""
    first, second = _add(portal, "contact", {"NAME": "A"}), _add(portal, "contact", {"NAME": "B"})
    company = _add(portal, "company", {"TITLE": "Client Co"})
    deal = _add(portal, "deal", {"TITLE": "Two", "CONTACT_IDS": [first, second], "COMPANY_ID": company})
    got = _result(portal.call("crm.deal.get", {"id": deal}))
    assert (got["CONTACT_ID"], got["COMPANY_ID"]) == (str(first), str(company)) and "CONTACT_IDS" not in got
    items = _result(portal.call("crm.deal.contact.items.get", {"id": deal}))
    assert [(i["CONTACT_ID"], i["ROLE_ID"], i["IS_PRIMARY"]) for i in items] == [(first, 0, "Y"), (second, 0, "N")]
    assert all(isinstance(i["SORT"], int) for i in items)
    single = _add(portal, "deal", {"TITLE": "One", "CONTACT_ID": second})
    assert [i["CONTACT_ID"] for i in _result(portal.call("crm.deal.contact.items.get", {"id": single}))] == [second]
    assert _result(portal.call("crm.deal.contact.items.get", {"id": _add(portal, "deal", {})})) == []
    listed = _result(portal.call("crm.deal.list", {"filter": {"ID": deal}}))
    assert "CONTACT_IDS" not in listed[0]


def test_a_deleted_contact_leaves_the_deals_it_was_bound_to(portal: Portal) -> None:
    """Deleting a contact unbinds it from every deal (the core's CCrmContact::Delete calls
    DealContactTable::unbindAllDeals): the deal's bindings never name a contact crm.contact.get cannot find.
    Which remaining contact becomes primary is not documented (UNCERTAIN); the sandbox takes the next one."""
    first, second = _add(portal, "contact", {"NAME": "A"}), _add(portal, "contact", {"NAME": "B"})
    deal = _add(portal, "deal", {"TITLE": "Two", "CONTACT_IDS": [first, second]})
    only = _add(portal, "deal", {"TITLE": "One", "CONTACT_ID": first})
    assert _result(portal.call("crm.contact.delete", {"id": first})) is True
    items = _result(portal.call("crm.deal.contact.items.get", {"id": deal}))
    assert [i["CONTACT_ID"] for i in items] == [second]
    assert _result(portal.call("crm.deal.contact.items.get", {"id": only})) == []
    assert _result(portal.call("crm.deal.get", {"id": deal}))["CONTACT_ID"] == str(second)
    assert _result(portal.call("crm.deal.get", {"id": only})).get("CONTACT_ID") in (None, "", "0")


def test_binding_methods_refuse_bad_and_unknown_ids_as_documented(portal: Portal) -> None:
    invalid = {"error": "", "error_description": "The parameter ownerEntityID is invalid or not defined."}
    for method in ("crm.deal.contact.items.get", "crm.company.contact.items.get"):
        for params in ({}, {"id": 0}, {"id": "abc"}, {"id": -3}):
            refused = portal.call(method, params)
            assert (refused.status_code, refused.json()) == (400, invalid)
    unknown = portal.call("crm.deal.contact.items.get", {"id": 99999})
    assert (unknown.status_code, unknown.json()) == (400, {"error": "", "error_description": "Not found."})
    # No "Not found" is documented for companies (UNCERTAIN): an unknown one has no contacts.
    assert _result(portal.call("crm.company.contact.items.get", {"id": 99999})) == []


def test_company_contact_items_are_its_contacts(portal: Portal) -> None:
    company = _add(portal, "company", {"TITLE": "Holder"})
    first = _add(portal, "contact", {"NAME": "A", "COMPANY_ID": company})
    second = _add(portal, "contact", {"NAME": "B", "COMPANY_IDS": [company]})
    _add(portal, "contact", {"NAME": "Elsewhere"})
    items = _result(portal.call("crm.company.contact.items.get", {"id": company}))
    assert [(i["CONTACT_ID"], i["IS_PRIMARY"]) for i in items] == [(first, "Y"), (second, "N")]


def test_lead_get_answers_the_fields_a_customer_is_made_from(portal: Portal) -> None:
    """DOCS crm-lead-get.md: COMPANY_TITLE, NAME, LAST_NAME and the EMAIL/PHONE multi-fields."""
    lead = _add(portal, "lead", {"TITLE": "Inbound", "NAME": "Lee", "LAST_NAME": "Ray", "COMPANY_TITLE": "Ray Ltd",
                                 "EMAIL": [{"VALUE": "lee@ray.example", "VALUE_TYPE": "WORK"}],
                                 "PHONE": [{"VALUE": "+1 555 0100", "VALUE_TYPE": "MOBILE"}]})
    got = _result(portal.call("crm.lead.get", {"id": lead}))
    assert (got["NAME"], got["LAST_NAME"], got["COMPANY_TITLE"]) == ("Lee", "Ray", "Ray Ltd")
    assert [(e["VALUE"], e["VALUE_TYPE"], e["TYPE_ID"]) for e in got["EMAIL"]] == [("lee@ray.example", "WORK",
                                                                                     "EMAIL")]
    assert got["PHONE"][0]["VALUE"] == "+1 555 0100" and isinstance(got["PHONE"][0]["ID"], str)
    page = requests.post(f"{portal.url}/crm/lead/add/", data={"TITLE": "By hand", "COMPANY_TITLE": "Hand Co",
                                                              "EMAIL": "hand@co.example"}, timeout=10)
    by_hand = int(page.url.rstrip("/").rsplit("/", 1)[1])
    got = _result(portal.call("crm.lead.get", {"id": by_hand}))
    assert got["COMPANY_TITLE"] == "Hand Co" and got["EMAIL"][0]["VALUE"] == "hand@co.example"


def test_deal_card_lists_its_smart_and_old_invoices_only(portal: Portal) -> None:
    deal, other = _add(portal, "deal", {"TITLE": "Linked"}), _add(portal, "deal", {"TITLE": "Other"})
    smart = _result(portal.call("crm.item.add", {"entityTypeId": 31, "fields": {"title": "S-1", "parentId2": deal}}))
    stray = _result(portal.call("crm.item.add", {"entityTypeId": 31, "fields": {"title": "S-2", "parentId2": other}}))
    old = _add(portal, "invoice", {**OLD_INVOICE, "ORDER_TOPIC": "O-1", "UF_DEAL_ID": deal})
    card = requests.get(f"{portal.url}/crm/deal/details/{deal}/", timeout=10)
    assert card.status_code == 200 and "id='deal-invoices'" in card.text
    rows = re.findall(r"data-invoice-kind='(\w+)' data-invoice-id='(\d+)'", card.text)
    assert rows == [("smart", str(smart["item"]["id"])), ("old", str(old))]
    assert str(stray["item"]["id"]) not in dict((i, k) for k, i in rows)


def test_kanban_card_names_the_deal_and_the_client(portal: Portal) -> None:
    contact = _add(portal, "contact", {"NAME": "Kim", "LAST_NAME": "Bell"})
    company = _add(portal, "company", {"TITLE": "Bell Works"})
    deal = _add(portal, "deal", {"TITLE": "Kanban deal", "CONTACT_ID": contact})
    by_contact = _result(portal.call("crm.item.add", {"entityTypeId": 31, "fields": {
        "title": "Inv K", "parentId2": deal, "contactId": contact, "companyId": company}}))["item"]["id"]
    by_company = _result(portal.call("crm.item.add", {"entityTypeId": 31, "fields": {
        "title": "Inv C", "companyId": company}}))["item"]["id"]
    kanban = requests.get(f"{portal.url}/crm/type/31/kanban/", timeout=10).text
    card = re.search(rf"<div class='card' data-id='{by_contact}'.*?</div>", kanban).group(0)
    assert f"data-deal-id='{deal}'" in card and f">deal #{deal}</a>" in card
    assert "<span class='card-client'>Kim Bell</span>" in card
    card = re.search(rf"<div class='card' data-id='{by_company}'.*?</div>", kanban).group(0)
    assert "data-deal-id='0'" in card and "card-deal" not in card
    assert "<span class='card-client'>Bell Works</span>" in card


def test_toolbar_placement_options_are_a_json_string_with_id_and_uri(portal: Portal) -> None:
    """DOCS widgets/crm/detail-toolbar.md: `{"ID":"8061","URI":"\\/crm\\/deal\\/details\\/8061\\/?..."}` —
    a JSON string, ID a string, URI the card's path and query (widgets/_includes/widget_data.md)."""
    bound = portal.call("placement.bind", {"PLACEMENT": "CRM_DEAL_DETAIL_TOOLBAR", "HANDLER": "http://127.0.0.1:9/w",
                                           "TITLE": "Create Invoice"})
    assert _result(bound) is True
    deal = _add(portal, "deal", {"TITLE": "Widget"})
    card = requests.get(f"{portal.url}/crm/deal/details/{deal}/?any=details%2F{deal}%2F", timeout=10).text
    raw = unescape(re.search(r'name="PLACEMENT_OPTIONS" value="([^"]*)"', card).group(1))
    assert raw == '{"ID":"%d","URI":"\\/crm\\/deal\\/details\\/%d\\/?any=details%%2F%d%%2F"}' % (deal, deal, deal)
    assert json.loads(raw) == {"ID": str(deal), "URI": f"/crm/deal/details/{deal}/?any=details%2F{deal}%2F"}
    assert "name=\"PLACEMENT\" value=\"CRM_DEAL_DETAIL_TOOLBAR\"" in card


def test_add_events_fire_for_the_apps_own_records_and_hand_made_ones(portal: Portal, receiver: Receiver) -> None:
    """Reference §3: ONCRM<TYPE>ADD fires for every add, the app's own REST writes included (an app sees its
    own echoes, as the first sync does) and records added on the portal's pages."""
    for event in ("ONCRMCONTACTADD", "ONCRMCOMPANYADD"):
        assert _result(portal.call("event.bind", {"event": event, "handler": receiver.url})) is True
    by_app = {"ONCRMCONTACTADD": _add(portal, "contact", {"NAME": "Synced"}),
              "ONCRMCOMPANYADD": _add(portal, "company", {"TITLE": "Synced Co"})}
    by_hand = {}
    for kind, event, form in (("contact", "ONCRMCONTACTADD", {"NAME": "Typed"}),
                              ("company", "ONCRMCOMPANYADD", {"TITLE": "Typed Co"})):
        page = requests.post(f"{portal.url}/crm/{kind}/add/", data=form, timeout=10)
        by_hand[event] = int(page.url.rstrip("/").rsplit("/", 1)[1])
    wanted = {(event, str(record_id)) for made in (by_app, by_hand) for event, record_id in made.items()}

    def seen() -> set[tuple[str, str]]:
        bodies = [dict(parse_qsl(body.decode())) for body in receiver.bodies]
        return {(b["event"], b["data[FIELDS][ID]"]) for b in bodies}
    wait_for(lambda: wanted <= seen())
    bodies = [dict(parse_qsl(body.decode())) for body in receiver.bodies]
    assert all(b["auth[member_id]"] == portal.member_id and b["auth[access_token]"] for b in bodies)
