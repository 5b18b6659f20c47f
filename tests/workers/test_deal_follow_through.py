"""Issue 11 item 4 on the sandboxes: Create Invoice used on a deal, then the customer's next invoice created
in QuickBooks arrives in Bitrix24 linked to the deal (parentId2 on a Smart Invoice, UF_DEAL_ID on an old one).

The request is remembered as the placement does (store.deal_requests.remember_deal); invoices are made through
the QuickBooks sandbox's API; `run_pull` applies them; the portal is read back over REST.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from store.db import transaction
from store.deal_requests import remember_deal
from store.links import link_for_qbo
from store.models import DealRequest
from tests.workers.changes_support import Changed, new_invoice, sync_log
from tests.workers.e2e_support import OLD, SMART, run_sync, synced_world
from workers.change_retry import apply_record

CASES = [(SMART, "postgresql+redis"), (OLD, "sqlite")]
DAY = timedelta(hours=24)


@pytest.fixture(scope="module", params=CASES, ids=[f"{t}-{k}" for t, k in CASES])
def changed(request, tmp_path_factory) -> Iterator[Changed]:
    target, kind = request.param
    with synced_world(kind, tmp_path_factory.mktemp("deals"), target) as world:
        run_sync(world)
        rig = Changed(world)
        assert rig.pull() == "pulled"
        yield rig


def new_deal(changed: Changed, title: str) -> str:
    return str(changed.world.reader.call("crm.deal.add", {"fields": {"TITLE": title}}).result)


def remember(changed: Changed, deal_id: str, customer_id: str, window: timedelta = DAY) -> int:
    with transaction(changed.world.rig.sessions) as session:
        return remember_deal(session, changed.world.rig.portal().id, deal_id, customer_id, "1", window).id


def deal_of(changed: Changed, invoice_id: str) -> str:
    """The deal the invoice is linked to in Bitrix24 ("0" for none)."""
    found = changed.invoice_record(changed.crm(), invoice_id)
    assert len(found) == 1, (f"Invoice {invoice_id}: {len(found)} in Bitrix24", sync_log(changed))
    record = found[0]
    return str(record["parentId2"] if changed.world.target == SMART else record.get("UF_DEAL_ID") or 0)


def change_note(changed: Changed, invoice_id: str, note: str) -> None:
    """An update of the invoice in QuickBooks (the pull then updates it in Bitrix24)."""
    current = changed.qbo.get("Invoice", invoice_id)
    changed.qbo.sparse_update("Invoice", invoice_id, current["SyncToken"], {"PrivateNote": note})


def linked_customers(changed: Changed, count: int) -> list[str]:
    """Top-level customers of the sample company that own a CRM record (not jobs)."""
    customers = changed.qbo.query("SELECT * FROM Customer WHERE Job = false MAXRESULTS 100")
    portal_id = changed.world.rig.portal().id
    with changed.world.rig.sessions() as session:
        linked = [c["Id"] for c in customers if link_for_qbo(session, portal_id, "Customer", c["Id"])]
    assert len(linked) >= count
    return linked[:count]


def test_the_customers_next_invoice_joins_the_deal_and_no_other(changed):
    mine, other = linked_customers(changed, 2)
    deal = new_deal(changed, "Garden redesign")
    remember(changed, deal, mine)
    remember(changed, deal, mine)  # a double click: still one request
    first = new_invoice(changed.qbo, mine, 120.0)
    stranger = new_invoice(changed.qbo, other, 80.0)
    assert changed.pull() == "pulled"
    assert deal_of(changed, first["Id"]) == deal
    assert deal_of(changed, stranger["Id"]) == "0"  # another customer's invoice

    second = new_invoice(changed.qbo, mine, 60.0)  # the request was taken once
    assert changed.pull() == "pulled"
    assert deal_of(changed, second["Id"]) == "0"


def test_an_update_in_quickbooks_keeps_the_deal(changed):
    [customer] = linked_customers(changed, 1)
    deal = new_deal(changed, "Pond")
    remember(changed, deal, customer)
    invoice = new_invoice(changed.qbo, customer, 45.0)
    assert changed.pull() == "pulled"
    assert deal_of(changed, invoice["Id"]) == deal
    change_note(changed, invoice["Id"], "Changed after the deal link")
    assert changed.pull() == "pulled"
    assert deal_of(changed, invoice["Id"]) == deal


def test_a_deal_a_user_set_by_hand_survives_the_next_update(changed):
    [customer] = linked_customers(changed, 1)
    invoice = new_invoice(changed.qbo, customer, 30.0)
    assert changed.pull() == "pulled"
    assert deal_of(changed, invoice["Id"]) == "0"
    deal = new_deal(changed, "Linked by hand")
    [record] = changed.invoice_record(changed.crm(), invoice["Id"])
    if changed.world.target == SMART:
        changed.world.reader.call("crm.item.update", {"entityTypeId": 31, "id": record["id"],
                                                      "fields": {"parentId2": int(deal)}})
    else:
        changed.world.reader.call("crm.invoice.update", {"id": record["ID"],
                                                         "fields": {"UF_DEAL_ID": int(deal)}})
    change_note(changed, invoice["Id"], "Changed after the user linked the deal")
    assert changed.pull() == "pulled"
    assert deal_of(changed, invoice["Id"]) == deal


def test_an_invoice_created_after_the_window_is_not_linked(changed):
    [customer] = linked_customers(changed, 1)
    deal = new_deal(changed, "Too late")
    request_id = remember(changed, deal, customer, window=timedelta(hours=1))
    with transaction(changed.world.rig.sessions) as session:  # the click was three hours ago
        request = session.get(DealRequest, request_id)
        request.requested_at -= timedelta(hours=3)
        request.expires_at -= timedelta(hours=3)
    late = new_invoice(changed.qbo, customer, 15.0)
    assert changed.pull() == "pulled"
    assert deal_of(changed, late["Id"]) == "0"


def test_a_jobs_invoice_joins_the_deal_of_its_top_level_customer(changed):
    jobs = changed.qbo.query("SELECT * FROM Customer WHERE Job = true MAXRESULTS 100")
    job = next(j for j in jobs if j.get("Active", True) and j.get("ParentRef"))
    top = changed.qbo.get("Customer", job["ParentRef"]["value"])
    while top.get("ParentRef"):
        top = changed.qbo.get("Customer", top["ParentRef"]["value"])
    deal = new_deal(changed, "Job site")
    remember(changed, deal, top["Id"])
    invoice = new_invoice(changed.qbo, job["Id"], 70.0)
    assert changed.pull() == "pulled"
    assert deal_of(changed, invoice["Id"]) == deal


def test_a_full_sync_that_creates_the_invoice_links_it_too(changed):
    [customer] = linked_customers(changed, 1)
    deal = new_deal(changed, "Found by the full sync")
    remember(changed, deal, customer)
    invoice = new_invoice(changed.qbo, customer, 55.0)
    run_sync(changed.world)  # no pull in between: the full run is the one that creates it
    assert deal_of(changed, invoice["Id"]) == deal
    run_sync(changed.world)  # a second run finds it linked (skipped or updated): the deal stays
    assert deal_of(changed, invoice["Id"]) == deal


def test_a_deal_deleted_before_the_invoice_came_leaves_the_invoice_unlinked_but_created(changed):
    [customer] = linked_customers(changed, 1)
    deal = new_deal(changed, "Deleted meanwhile")
    remember(changed, deal, customer)
    changed.world.reader.call("crm.deal.delete", {"id": int(deal)})
    invoice = new_invoice(changed.qbo, customer, 25.0)
    assert changed.pull() == "pulled"
    assert deal_of(changed, invoice["Id"]) == "0"
    assert not [f for f in sync_log(changed) if f[1] == invoice["Id"]]


def test_a_refused_create_retried_from_the_log_still_joins_its_deal(changed):
    """The claim is taken, Bitrix24 refuses the create (a mandatory custom field with "Check required custom
    fields" on: reference §6), the admin fixes the portal and presses Retry: the invoice joins the deal its
    claim holds. The request is no longer open, so the page must still ask for the claim it already holds."""
    [customer] = linked_customers(changed, 1)
    deal = new_deal(changed, "Refused once")
    remember(changed, deal, customer)
    entity, name = (("CRM_SMART_INVOICE", "UF_CRM_SMART_INVOICE_DEAL_RETRY") if changed.world.target == SMART
                    else ("CRM_INVOICE", "UF_CRM_DEAL_RETRY"))
    changed.world.control("seed", {"userfields": [{"entity": entity, "FIELD_NAME": name, "MANDATORY": "Y"}]})
    changed.world.control("settings", {"req_uf_check": True})
    try:
        invoice = new_invoice(changed.qbo, customer, 35.0)
        assert changed.pull() == "pulled"
        assert any(row[1] == invoice["Id"] for row in sync_log(changed))  # refused: in the log
    finally:
        changed.world.control("settings", {"req_uf_check": False})  # the admin fixed the portal
    portal_id = changed.world.rig.portal().id
    assert apply_record(changed.services, portal_id, "Invoice", invoice["Id"]) == "applied"
    assert deal_of(changed, invoice["Id"]) == deal


def test_a_page_claiming_more_deals_than_one_list_page_links_them_all(changed):
    """The deals' existence check reads crm.deal.list, whose page is fixed at 50 rows (reference §5, List
    paging): a pull whose page claims 51 deals must not take the 51st for deleted."""
    [customer] = linked_customers(changed, 1)
    deals = [new_deal(changed, f"Bulk {n}") for n in range(51)]
    for deal in deals:  # 51 clicks on 51 deals of one customer
        remember(changed, deal, customer)
    invoices = [new_invoice(changed.qbo, customer, 10.0 + n) for n in range(51)]
    assert changed.pull() == "pulled"
    assert sorted((deal_of(changed, i["Id"]) for i in invoices), key=int) == deals
