"""The real-time helpers on the sandboxes: one first sync of the QuickBooks sample company into Smart Invoices
(PostgreSQL + Redis), then each helper against what QuickBooks really answers and Bitrix24 really holds.

The tests share the synced portal and each works on records of its own (no test undoes another's change).
"""
from __future__ import annotations

from collections.abc import Iterator
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from clients.bitrix24_errors import NotFound
from store.db import transaction
from store.events import record_event
from store.links import link_for_qbo, links_for_qbo_ids
from store.models import CustomerParent, PaymentInvoices, ReceivedEvent, SyncFailure
from store.sync_log import record_failure
from tests.workers.changes_support import Changed, new_invoice
from tests.workers.e2e_b24 import multi_values
from tests.workers.e2e_qbo import pay, read_company
from tests.workers.e2e_support import SMART, World, run_sync, synced_world
from workers.change_apply import ApplyResult, apply_changes
from workers.change_commit import commit_changes
from workers.change_deletes import apply_customer_tombstones, apply_invoice_tombstones
from workers.change_merge import apply_merges
from workers.change_payments import invoices_of_payments
from workers.customer_parents import resolve_owners
from workers.portal_facts import read_portal_facts
from workers.sync_invoices import InvoiceTarget, top_customer
from workers.sync_state import SyncContext, bind_all, empty_report, flush_sync_log

TODAY = date.today()
ALL_CURRENCIES = [{"CURRENCY": "USD", "BASE": "Y"}, {"CURRENCY": "EUR", "AMOUNT": 1.08},
                  {"CURRENCY": "CAD", "AMOUNT": 0.73}, {"CURRENCY": "GBP", "AMOUNT": 1.27}]


@dataclass
class Synced:
    world: World
    customers: dict[str, dict]
    invoices: dict[str, dict]
    first_failures: dict[tuple[str, str], str]  # the sync log right after the first sync

    def ctx(self, **settings: object) -> SyncContext:
        """A context as a change pull builds one: no run, an in-memory cursor."""
        rig = self.world.rig
        portal = rig.portal()
        return SyncContext(sessions=rig.sessions, run_id=None, portal_id=portal.id,
                           member_id=portal.member_id, realm_id=self.world.realm_id, qbo=self.world.qbo,
                           b24=self.world.b24, dry_run=False, today=TODAY, page_size=1000,
                           stored_settings={**(portal.settings or {}), **settings},
                           cursor={"subs": {}, "failed_customers": {}, "report": empty_report(False)}, counters={})

    def target(self, ctx: SyncContext) -> InvoiceTarget:
        facts, stage_map = read_portal_facts(ctx.b24, ctx.stored_settings)
        return InvoiceTarget(SMART, facts, stage_map)

    def link(self, qbo_type: str, qbo_id: str):
        with self.world.rig.sessions() as session:
            return link_for_qbo(session, self.world.rig.portal().id, qbo_type, qbo_id)

    def sync_log(self) -> dict[tuple[str, str], str]:
        with self.world.rig.sessions() as session:
            return {(f.qbo_type, f.qbo_id): f.reason for f in session.scalars(select(SyncFailure))}

    def linked_invoices(self, count: int, used: set[str]) -> list[dict]:
        """`count` open home-currency invoices of one customer that landed in Bitrix24 and no other test took."""
        with self.world.rig.sessions() as session:
            links = links_for_qbo_ids(session, self.world.rig.portal().id, "Invoice", self.invoices)
        free = [i for i in self.invoices.values() if i["Id"] in links and i["Id"] not in used
                and float(i.get("Balance", 0)) > 0 and i.get("CurrencyRef", {}).get("value", "USD") == "USD"]
        by_customer: dict[str, list[dict]] = {}
        for invoice in sorted(free, key=lambda i: int(i["Id"])):
            by_customer.setdefault(invoice["CustomerRef"]["value"], []).append(invoice)
        # one customer's (a payment pays invoices of its own customer only)
        chosen = next(found[:count] for found in by_customer.values() if len(found) >= count)
        used.update(i["Id"] for i in chosen)
        return chosen


USED: set[str] = set()


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> Iterator[Synced]:
    with synced_world("postgresql+redis", tmp_path_factory.mktemp("ops"), SMART) as world:
        run_sync(world)  # a new portal lacks GBP and CAD: those invoices fail into the sync log
        customers, invoices = read_company(world.qbo)
        synced = Synced(world, customers, invoices, {})
        synced.first_failures = synced.sync_log()
        yield synced


def test_a_full_sync_logs_its_failures_and_a_later_write_clears_them(synced):
    failed = {k for k in synced.first_failures if k[0] == "Invoice"}
    foreign = {i["Id"] for i in synced.invoices.values()
               if i.get("CurrencyRef", {}).get("value") in ("GBP", "CAD")}
    assert failed and {qbo_id for _, qbo_id in failed} == foreign
    assert all("GBP" in r or "CAD" in r for k, r in synced.first_failures.items() if k in failed)
    synced.world.control("currencies", {"currencies": ALL_CURRENCIES})
    run_sync(synced.world)
    assert not {k for k in synced.sync_log() if k[0] == "Invoice"}


def test_the_full_sync_stores_every_sub_customer_with_its_parent(synced):
    jobs = {c["Id"]: c["ParentRef"]["value"] for c in synced.customers.values() if c.get("ParentRef")}
    assert jobs, "the sample company has sub-customers"
    with synced.world.rig.sessions() as session:
        stored = {row.qbo_id: (row.parent_id, row.job_name) for row in session.scalars(select(CustomerParent))}
    assert {k: v[0] for k, v in stored.items()} == jobs
    assert all(stored[k][1] == synced.customers[k]["FullyQualifiedName"].replace(" (deleted)", "") for k in jobs)


def test_a_new_jobs_invoice_is_placed_through_quickbooks_once(synced):
    qbo = synced.world.qbo
    top = next(c for c in synced.customers.values() if not c.get("ParentRef") and synced.link("Customer", c["Id"]))
    job = qbo.create("Customer", {"DisplayName": "Ops Job A", "Job": True, "ParentRef": {"value": top["Id"]}})
    phase = qbo.create("Customer", {"DisplayName": "Ops Phase B", "Job": True, "ParentRef": {"value": job["Id"]}})
    ctx = synced.ctx()
    calls = _count_queries(qbo)
    resolve_owners(ctx, {phase["Id"], top["Id"]})
    assert top_customer(ctx, phase["Id"]) == (top["Id"], f"{top['FullyQualifiedName']}:Ops Job A:Ops Phase B")
    assert calls() == 2  # one query a level: the phase, then its job (whose parent is linked)
    with synced.world.rig.sessions() as session:
        stored = {r.qbo_id: r.parent_id for r in session.scalars(select(CustomerParent))}
    assert stored[phase["Id"]] == job["Id"] and stored[job["Id"]] == top["Id"]
    again = synced.ctx()  # a later pull knows them from the store: no QuickBooks call
    calls = _count_queries(qbo)
    resolve_owners(again, {phase["Id"]})
    assert calls() == 0 and top_customer(again, phase["Id"])[0] == top["Id"]


def _count_queries(qbo) -> Callable[[], int]:
    original, seen = qbo.query, []

    def counting(statement: str) -> list[dict]:
        seen.append(statement)
        return original(statement)
    qbo.query = counting
    return lambda: len(seen)


def test_payments_resync_the_invoices_they_touch_now_and_before(synced):
    qbo = synced.world.qbo
    first, second = synced.linked_invoices(2, USED)
    portal_id = synced.world.rig.portal().id
    payment = pay(qbo, first, 1.0)
    payment = qbo.sparse_update("Payment", payment["Id"], payment["SyncToken"], {"TotalAmt": 2.0, "Line": [
        *payment["Line"], {"Amount": 1.0, "LinkedTxn": [{"TxnId": second["Id"], "TxnType": "Invoice"}]}]})
    with transaction(synced.world.rig.sessions) as session:
        assert invoices_of_payments(session, portal_id, [payment]) == {first["Id"], second["Id"]}
    # the update drops the second invoice: it is still re-synced (its balance went back up), then forgotten
    dropped = qbo.sparse_update("Payment", payment["Id"], payment["SyncToken"],
                                {"TotalAmt": 1.0, "Line": payment["Line"][:1]})
    with transaction(synced.world.rig.sessions) as session:
        assert invoices_of_payments(session, portal_id, [dropped]) == {first["Id"], second["Id"]}
        assert _stored_payment(session, portal_id, payment["Id"]) == [first["Id"]]
    since = datetime.now(timezone.utc) - timedelta(minutes=5)
    qbo._operation("Payment", dropped, "delete")
    tombstone = next(p for p in qbo.cdc(["Payment"], since).changes["Payment"] if p["Id"] == payment["Id"])
    assert tombstone.get("status") == "Deleted" and "Line" not in tombstone
    with transaction(synced.world.rig.sessions) as session:
        assert invoices_of_payments(session, portal_id, [tombstone]) == {first["Id"]}
        assert _stored_payment(session, portal_id, payment["Id"]) is None


def test_a_voided_payment_resyncs_what_it_had_paid(synced):
    qbo = synced.world.qbo
    (invoice,) = synced.linked_invoices(1, USED)
    portal_id = synced.world.rig.portal().id
    payment = pay(qbo, invoice, 1.0)
    with transaction(synced.world.rig.sessions) as session:
        invoices_of_payments(session, portal_id, [payment])
    body = qbo._request(lambda: qbo.transport.update_object("Payment", json.dumps(
        {"Id": payment["Id"], "SyncToken": payment["SyncToken"]}), params={"operation": "update", "include": "void"}))
    voided = body["Payment"]
    assert voided["TotalAmt"] == 0 and not voided.get("Line")  # the sandbox's default: lines cleared
    with transaction(synced.world.rig.sessions) as session:
        assert invoices_of_payments(session, portal_id, [voided]) == {invoice["Id"]}


def test_the_full_sync_remembers_payments_made_before_it(synced):
    paid = {i["Id"]: {t["TxnId"] for t in i.get("LinkedTxn") or [] if t["TxnType"] == "Payment"}
            for i in synced.invoices.values()}
    payments = {p for ids in paid.values() for p in ids}
    assert payments, "the sample company has payments"
    with synced.world.rig.sessions() as session:
        stored = {r.payment_id: set(r.invoice_ids) for r in session.scalars(select(PaymentInvoices))}
    for payment_id in payments:
        assert {i for i, ids in paid.items() if payment_id in ids} <= stored[payment_id]


def _stored_payment(session, portal_id: int, payment_id: str) -> list[str] | None:
    row = session.scalar(select(PaymentInvoices).where(PaymentInvoices.portal_id == portal_id,
                                                       PaymentInvoices.payment_id == payment_id))
    return None if row is None else row.invoice_ids


def test_a_deleted_invoice_moves_to_the_deleted_stage(synced):
    (invoice,) = synced.linked_invoices(1, USED)
    qbo = synced.world.qbo
    qbo.delete_invoice(qbo.get("Invoice", invoice["Id"]))
    ctx = synced.ctx()
    target = synced.target(ctx)
    link = synced.link("Invoice", invoice["Id"])
    bindings = apply_invoice_tombstones(ctx, target, [invoice["Id"], "999999"])  # never linked: nothing
    assert [b.qbo_id for b in bindings] == [invoice["Id"]]
    with transaction(synced.world.rig.sessions) as session:  # as the pull commits (workers/change_commit.py)
        bind_all(session, ctx.portal_id, bindings)
        flush_sync_log(session, ctx, bindings)
    item = synced.world.reader.call("crm.item.get", {"entityTypeId": 31, "id": link.b24_id}).result["item"]
    assert item["stageId"] == target.stage_map["deleted"]
    assert synced.link("Invoice", invoice["Id"]).content_hash == f"deleted:{target.stage_map['deleted']}"


def test_a_failed_invoice_deleted_in_quickbooks_leaves_the_sync_log(synced):
    # never written to Bitrix24 (it failed), then deleted in QuickBooks: nothing is left to retry
    customer = next(c for c in synced.customers.values() if synced.link("Customer", c["Id"]) is not None)
    invoice = new_invoice(synced.world.qbo, customer["Id"], 12.5)
    ctx = synced.ctx()
    with transaction(synced.world.rig.sessions) as session:
        record_failure(session, ctx.portal_id, "Invoice", invoice["Id"], "Invoice x", "Refused.")
    qbo = synced.world.qbo
    qbo.delete_invoice(qbo.get("Invoice", invoice["Id"]))
    assert apply_invoice_tombstones(ctx, synced.target(ctx), [invoice["Id"]]) == []
    assert ("Invoice", invoice["Id"]) not in synced.sync_log()


def test_a_pull_skips_a_failed_never_linked_invoices_tombstone_yet_it_leaves_the_sync_log(synced):
    # the pull's own path: apply_changes skips a tombstone with no link (nothing to move in Bitrix24), which
    # must not keep the failure of an invoice that is gone from QuickBooks (nothing is left to retry)
    ctx = synced.ctx()
    with transaction(synced.world.rig.sessions) as session:
        record_failure(session, ctx.portal_id, "Invoice", "888888", "Invoice 888888", "Refused.")
    tombstone = {"Id": "888888", "status": "Deleted", "MetaData": {"LastUpdatedTime": "2026-12-01T02:15:29-08:00"}}
    synced.world.counter.methods.clear()
    result = apply_changes(ctx, [], [tombstone], resumed=False)
    assert ("Invoice", "888888") not in synced.sync_log()
    assert synced.world.counter.writes() == {} and result.skipped == 1 and result.last_change is None


def test_the_tombstone_of_an_invoice_never_in_bitrix24_is_not_the_last_change(synced):
    # CDC reports deletes of records never seen (reference §2): the page must not say one moved in Bitrix24
    tombstone = {"Id": "777777", "status": "Deleted", "MetaData": {"LastUpdatedTime": "2026-12-01T02:15:29-08:00"}}
    assert apply_changes(synced.ctx(), [], [tombstone], resumed=False).last_change is None


def test_a_deleted_invoice_is_removed_when_the_portal_says_so(synced):
    (invoice, gone_already) = synced.linked_invoices(2, USED)
    qbo = synced.world.qbo
    for record in (invoice, gone_already):
        qbo.delete_invoice(qbo.get("Invoice", record["Id"]))
    ctx = synced.ctx(on_invoice_delete="remove")
    link, other = synced.link("Invoice", invoice["Id"]), synced.link("Invoice", gone_already["Id"])
    synced.world.reader.call("crm.item.delete", {"entityTypeId": 31, "id": other.b24_id})  # a user removed it
    assert apply_invoice_tombstones(ctx, synced.target(ctx), [invoice["Id"], gone_already["Id"]]) == []
    with pytest.raises(NotFound):
        synced.world.reader.call("crm.item.get", {"entityTypeId": 31, "id": link.b24_id})
    assert synced.link("Invoice", invoice["Id"]) is None and synced.link("Invoice", gone_already["Id"]) is None
    assert ctx.report["invoices"]["removed"] == 2


def _linked_customers(synced: Synced, count: int, used: set[str]) -> list[dict]:
    found = [c for c in synced.customers.values() if not c.get("ParentRef") and c["Id"] not in used
             and synced.link("Customer", c["Id"]) is not None]
    chosen = sorted(found, key=lambda c: int(c["Id"]))[-count:]
    used.update(c["Id"] for c in chosen)
    return chosen


def _merge_event(synced: Synced, survivor: str, merged: str) -> None:
    with transaction(synced.world.rig.sessions) as session:
        record_event(session, source="qbo", dedupe_key=f"merge:{survivor}:{merged}",
                     portal_id=synced.world.rig.portal().id, realm_id=synced.world.realm_id, entity="Customer",
                     entity_id=survivor, operation="Merge", occurred_at=datetime.now(timezone.utc))
        event = session.scalar(select(ReceivedEvent).where(ReceivedEvent.dedupe_key == f"merge:{survivor}:{merged}"))
        event.deleted_id = merged


def test_a_merge_into_an_unlinked_survivor_moves_the_crm_record(synced):
    (merged,) = _linked_customers(synced, 1, USED)
    survivor = synced.world.qbo.create("Customer", {"DisplayName": "Ops Survivor", "CompanyName": "Ops Survivor"})
    before = synced.link("Customer", merged["Id"])
    _merge_event(synced, survivor["Id"], merged["Id"])
    ctx = synced.ctx()
    apply_customer_tombstones(ctx, [merged["Id"]])  # the tombstone first: the pending merge keeps the link
    assert synced.link("Customer", merged["Id"]) is not None
    survivors, handled = apply_merges(ctx)
    assert survivors == {survivor["Id"]} and len(handled) == 1
    moved = synced.link("Customer", survivor["Id"])
    assert (moved.b24_type, moved.b24_id, moved.content_hash) == (before.b24_type, before.b24_id, None)
    assert synced.link("Customer", merged["Id"]) is None
    # pending until a pull's commit marks it: applying it again (a pull died first) changes no link
    assert apply_merges(synced.ctx()) == ({survivor["Id"]}, handled)
    assert synced.link("Customer", survivor["Id"]).b24_id == before.b24_id
    assert synced.link("Customer", merged["Id"]) is None
    commit_changes(ctx, ApplyResult(merges=handled), mine=None, watermark=None, payments=[], calls=0, pulls=0)
    assert apply_merges(synced.ctx()) == (set(), [])  # handled once committed


def test_a_merge_stays_pending_until_the_pull_that_applies_its_survivor_commits(synced):
    """A pull moves the merged-away customer's CRM record to the survivor, then dies before its commit: the
    next pull (whose change window no longer holds the survivor) must still write the survivor's data."""
    (merged,) = _linked_customers(synced, 1, USED)
    before = synced.link("Customer", merged["Id"])
    shape = {"CompanyName": "Ops Heir"} if before.b24_type == "company" else {"GivenName": "Ops", "FamilyName": "Heir"}
    survivor = synced.world.qbo.create("Customer", {"DisplayName": "Ops Heir", **shape,
                                                    "PrimaryEmailAddr": {"Address": "heir@example.com"}})
    _merge_event(synced, survivor["Id"], merged["Id"])
    assert apply_merges(synced.ctx())[0] == {survivor["Id"]}  # the dying pull's merge: links moved, nothing written
    pull = Changed(synced.world)
    pull.update_connection(cdc_watermark=(datetime.now(timezone.utc) + timedelta(minutes=5)).isoformat())
    assert pull.pull() == "pulled"  # its CDC window holds no change of the survivor: only the merge brings it
    record = synced.world.reader.call(f"crm.{before.b24_type}.get", {"id": before.b24_id}).result
    assert "heir@example.com" in [value for _, value, _ in multi_values(record, "EMAIL")]
    assert synced.link("Customer", survivor["Id"]).b24_id == before.b24_id
    assert apply_merges(synced.ctx()) == (set(), [])  # handled by that pull's commit


def test_a_merge_of_two_linked_customers_drops_the_merged_away_link_only(synced):
    survivor, merged = _linked_customers(synced, 2, USED)
    kept, dropped = synced.link("Customer", survivor["Id"]), synced.link("Customer", merged["Id"])
    _merge_event(synced, survivor["Id"], merged["Id"])
    assert apply_merges(synced.ctx())[0] == {survivor["Id"]}
    assert synced.link("Customer", merged["Id"]) is None
    assert synced.link("Customer", survivor["Id"]).b24_id == kept.b24_id
    entity = dropped.b24_type
    record = synced.world.reader.call(f"crm.{entity}.get", {"id": dropped.b24_id}).result  # the CRM record stays
    assert str(record["ID"]) == dropped.b24_id


def test_a_deleted_customer_is_unlinked_and_its_crm_record_kept(synced):
    (customer,) = _linked_customers(synced, 1, USED)
    link = synced.link("Customer", customer["Id"])
    apply_customer_tombstones(synced.ctx(), [customer["Id"], "888888"])
    assert synced.link("Customer", customer["Id"]) is None and synced.link("CustomerPerson", customer["Id"]) is None
    record = synced.world.reader.call(f"crm.{link.b24_type}.get", {"id": link.b24_id}).result
    assert str(record["ID"]) == link.b24_id
