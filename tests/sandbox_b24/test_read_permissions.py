"""Record read permissions (sandbox/bitrix24/permissions.py): what a user who may not read a record gets.

DOCS api-reference/crm/{contacts/crm-contact-get,companies/crm-company-get,leads/crm-lead-get,
deals/crm-deal-get}.md "Error Handling": HTTP 400, empty `error`, "Access denied" (the core's text ends
with a full stop: CCrmContactRestProxy::innerGet); deal/company contact bindings answer ACCESS_DENIED
"Access denied!" (crm-deal-contact-items-get.md, crm-company-contact-items-get.md).
"""
from __future__ import annotations

import pytest
import requests

from sandbox_b24.conftest import CLIENT_ID, Portal

ADD = {"contact": {"NAME": "Own"}, "company": {"TITLE": "Own Co"}, "lead": {"TITLE": "Own lead"},
       "deal": {"TITLE": "Own deal"}}
DENIED = {"error": "", "error_description": "Access denied."}


def _user(portal: Portal, **body: object) -> tuple[int, str]:
    """A non-admin user and an app token issued for them (the frame the portal opens as that user)."""
    created = portal.control("users", {"name": "Sam", **body})
    assert created.status_code == 200, created.text
    user_id = created.json()["id"]
    frame = portal.control("install", {"client_id": CLIENT_ID, "user_id": user_id})
    assert frame.status_code == 200, frame.text
    return user_id, frame.json()["form"]["AUTH_ID"]


def _add(portal: Portal, kind: str, auth: str | None = None) -> int:
    response = portal.call(f"crm.{kind}.add", {"fields": ADD[kind]}, auth=auth)
    assert response.status_code == 200, response.text
    return response.json()["result"]


@pytest.mark.parametrize("kind", ["contact", "company", "lead", "deal"])
def test_a_user_limited_to_own_records_is_denied_the_others(portal: Portal, kind: str) -> None:
    user_id, auth = _user(portal, crm_read="own")
    own, other = _add(portal, kind, auth), _add(portal, kind)  # the second is the administrator's
    got = portal.call(f"crm.{kind}.get", {"id": own}, auth=auth)
    assert got.status_code == 200 and got.json()["result"]["ASSIGNED_BY_ID"] == str(user_id)
    for refused_id in (other, 999999):  # the right is checked on the id before the record is looked up
        refused = portal.call(f"crm.{kind}.get", {"id": refused_id}, auth=auth)
        assert (refused.status_code, refused.json()) == (400, DENIED)
    listed = portal.call(f"crm.{kind}.list", {"select": ["ID"]}, auth=auth).json()
    assert ([row["ID"] for row in listed["result"]], listed["total"]) == ([str(own)], 1)
    admin_view = portal.call(f"crm.{kind}.get", {"id": 999999}).json()
    assert admin_view == {"error": "", "error_description": "Not found"}


def test_no_read_right_refuses_get_and_list_and_per_kind_levels_leave_other_kinds(portal: Portal) -> None:
    _, auth = _user(portal, crm_read={"deal": "none"})
    deal, contact = _add(portal, "deal"), _add(portal, "contact")
    assert portal.call("crm.deal.get", {"id": deal}, auth=auth).json() == DENIED
    assert portal.call("crm.deal.list", {}, auth=auth).json() == DENIED
    assert portal.call("crm.contact.get", {"id": contact}, auth=auth).status_code == 200
    batch = portal.call("batch", {"cmd": {"d": f"crm.deal.get?id={deal}", "c": f"crm.contact.get?id={contact}"}},
                        auth=auth).json()["result"]
    assert batch["result_error"]["d"] == DENIED and batch["result"]["c"]["ID"] == str(contact)


def test_administrators_read_everything_whatever_their_level(portal: Portal) -> None:
    """The CRM REST layer checks role permissions only for non-administrators (`!CCrmPerms::IsAdmin()`)."""
    _, auth = _user(portal, admin=True, crm_read="none")
    deal = _add(portal, "deal")
    assert portal.call("crm.deal.get", {"id": deal}, auth=auth).status_code == 200


def test_bindings_of_an_unreadable_deal_or_company_are_access_denied(portal: Portal) -> None:
    _, auth = _user(portal, crm_read="own")
    deal, company = _add(portal, "deal"), _add(portal, "company")
    for method, record_id in (("crm.deal.contact.items.get", deal), ("crm.company.contact.items.get", company)):
        refused = portal.call(method, {"id": record_id}, auth=auth)
        assert (refused.status_code, refused.json()) == (403, {"error": "ACCESS_DENIED",
                                                               "error_description": "Access denied!"})


def test_deal_bindings_without_any_deal_right_are_the_empty_code_access_denied(portal: Portal) -> None:
    """crm-deal-contact-items-get.md lists two refusals: empty code "Access denied." when "the user does not
    have permission to read deals" and ACCESS_DENIED "Access denied!" for "no permission to read the deal"."""
    _, auth = _user(portal, crm_read={"deal": "none"})
    deal = _add(portal, "deal")
    refused = portal.call("crm.deal.contact.items.get", {"id": deal}, auth=auth)
    assert (refused.status_code, refused.json()) == (400, DENIED)


def test_cards_and_lists_follow_the_page_users_right(portal: Portal) -> None:
    user_id, auth = _user(portal, crm_read="own")
    own, other = _add(portal, "contact", auth), _add(portal, "contact")
    card = f"{portal.url}/crm/contact/details/{{}}/?user_id={user_id}"
    assert requests.get(card.format(own), timeout=10).status_code == 200
    denied = requests.get(card.format(other), timeout=10)
    assert denied.status_code == 403 and "id='access-denied'" in denied.text
    listed = requests.get(f"{portal.url}/crm/contact/list/?user_id={user_id}", timeout=10).text
    assert f"/crm/contact/details/{own}/" in listed and f"/crm/contact/details/{other}/" not in listed


def test_the_kanban_hides_clients_the_page_user_may_not_read(portal: Portal) -> None:
    """The kanban card names its client (card_links.py) only to a user who may read it; otherwise it shows
    the hidden-record caption, as the portal's own lists do (wording UNCERTAIN, the name never)."""
    user_id, auth = _user(portal, crm_read={"contact": "own", "company": "none"})
    own = _add(portal, "contact", auth)
    other = portal.call("crm.contact.add", {"fields": {"NAME": "Secret", "LAST_NAME": "Person"}}).json()["result"]
    company = portal.call("crm.company.add", {"fields": {"TITLE": "Secret Co"}}).json()["result"]
    for fields in ({"title": "Mine", "contactId": own}, {"title": "Theirs", "contactId": other},
                   {"title": "Co", "companyId": company}):
        assert portal.call("crm.item.add", {"entityTypeId": 31, "fields": fields}).status_code == 200
    mine = requests.get(f"{portal.url}/crm/type/31/kanban/?user_id={user_id}", timeout=10).text
    assert "<span class='card-client'>Own</span>" in mine
    assert "Secret" not in mine and mine.count("<span class='card-client'>") == 3
    admin = requests.get(f"{portal.url}/crm/type/31/kanban/", timeout=10).text
    assert "Secret Person" in admin and "Secret Co" in admin


@pytest.mark.parametrize("body", [{"crm_read": "some"}, {"crm_read": {"invoice": "own"}}, {"crm_read": ["own"]},
                                  {"crm_read": {"deal": "everything"}}])
def test_a_bad_level_is_refused_and_changes_nothing(portal: Portal, body: dict) -> None:
    user_id, _ = _user(portal, crm_read={"deal": "own"})
    assert portal.control(f"users/{user_id}", body).status_code == 400
    assert portal.control("users", {"name": "Nobody", **body}).status_code == 400
    users = portal.control_get("users")
    assert [u["crm_read"] for u in users if u["id"] == user_id] == [{"deal": "own"}]
    assert [u["name"] for u in users] == ["Sandbox", "Sam"]


def test_crm_item_get_and_list_follow_the_same_right(portal: Portal) -> None:
    """DOCS crm/universal/crm-item-get.md: 400 ACCESS_DENIED "You do not have permission to view this item"."""
    _, auth = _user(portal, crm_read="own")
    own, other = _add(portal, "contact", auth), _add(portal, "contact")
    assert portal.call("crm.item.get", {"entityTypeId": 3, "id": own}, auth=auth).status_code == 200
    refused = portal.call("crm.item.get", {"entityTypeId": 3, "id": other}, auth=auth)
    assert (refused.status_code, refused.json()) == (400, {"error": "ACCESS_DENIED", "error_description":
                                                           "You do not have permission to view this item"})
    listed = portal.call("crm.item.list", {"entityTypeId": 3}, auth=auth).json()
    assert [item["id"] for item in listed["result"]["items"]] == [own] and listed["total"] == 1
