"""crm.deal.contact.items.get and crm.company.contact.items.get: the contacts bound to a deal or company.

DOCS api-reference/crm/deals/contacts/crm-deal-contact-items-get.md and
crm/companies/contacts/crm-company-contact-items-get.md: `{id}` → `[{CONTACT_ID, SORT, ROLE_ID, IS_PRIMARY}]`
with integer CONTACT_ID/SORT/ROLE_ID and "Y"/"N"; errors with an empty code: "The parameter ownerEntityID is
invalid or not defined." (id < 1 or missing) and, for a deal, "Not found."; a record the user may not read:
ACCESS_DENIED "Access denied!" (permissions.py). The first binding is the primary one; SORT steps by 10
(the documented examples show other steps, so clients must not rely on the values).
The company page lists no "Not found": an unknown company answers an empty list (UNCERTAIN; the quote
method documents exactly that, "for a non-existent id it returns an empty array").
"""
from __future__ import annotations

from sandbox.bitrix24 import permissions
from sandbox.bitrix24.classic import deal_contact_ids
from sandbox.bitrix24.classic_items import contacts_by_company
from sandbox.bitrix24.errors import classic
from sandbox.bitrix24.registry import CallContext, method, ok


def _owner_id(params: dict) -> int:
    """The positive `id`, or the documented 400."""
    raw = params.get("id", params.get("ID"))
    try:
        owner_id = int(str(raw))
    except ValueError:
        owner_id = 0
    if owner_id <= 0:
        raise classic("The parameter ownerEntityID is invalid or not defined.")
    return owner_id


def _bindings(contact_ids: list[int]) -> list[dict]:
    """The documented binding objects, the first one primary."""
    return [{"CONTACT_ID": contact_id, "SORT": 10 * (n + 1), "ROLE_ID": 0,
             "IS_PRIMARY": "Y" if n == 0 else "N"} for n, contact_id in enumerate(contact_ids)]


@method("crm.deal.contact.items.get")
def deal_contact_items_get(ctx: CallContext, params: dict) -> dict:
    """The deal's contacts, primary first."""
    deal_id = _owner_id(params)
    deal = ctx.portal.entities.get("deal", {}).get(deal_id)
    permissions.check_bindings(ctx.portal, ctx.user_id, "deal", deal)
    if deal is None:
        raise classic("Not found.")
    return ok(_bindings(deal_contact_ids(deal)))


@method("crm.company.contact.items.get")
def company_contact_items_get(ctx: CallContext, params: dict) -> dict:
    """The contacts whose COMPANY_ID or COMPANY_IDS name the company."""
    company_id = _owner_id(params)
    company = ctx.portal.entities.get("company", {}).get(company_id)
    permissions.check_bindings(ctx.portal, ctx.user_id, "company", company)
    if company is None:
        return ok([])
    return ok(_bindings(contacts_by_company(ctx.portal).get(company_id, [])))
