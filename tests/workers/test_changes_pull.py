"""The change pull's guarantees on the sandboxes: one pull per realm with nothing lost to a race, older
changes never win, a crash before the commit duplicates nothing, a stale watermark resyncs, a full run
defers pulls and pulls at its end, and Retry re-applies a failed record."""
from __future__ import annotations

import threading
from dataclasses import replace
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from qb24.demo import b24_control
from store.db import transaction
from store.models import Link, SyncRun
from tests.workers.changes_support import Changed, new_customer, new_invoice, sync_log
from tests.workers.e2e_b24 import multi_values
from tests.workers.e2e_qbo import change_contact_details
from tests.workers.e2e_support import SMART, run_sync, synced_world
from workers import change_retry, changes, facts_cache, full_sync, tasks
from workers.celery_app import EXPORT_RECORDS
from workers.facts_cache import FactsCache
from workers.portal_facts import read_facts_and_stages
from workers.change_retry import apply_record
from workers.lease import LEASE_S


@pytest.fixture(scope="module", params=["postgresql+redis", "sqlite"])
def changed(request, tmp_path_factory) -> Iterator[Changed]:
    with synced_world(request.param, tmp_path_factory.mktemp("pull"), SMART) as world:
        run_sync(world)
        rig = Changed(world)
        # these tests drive pulls back to back: pacing (its own test below) would queue them for later
        rig.services.settings = replace(rig.services.settings, pull_interval_s=0)
        assert rig.pull() == "pulled"
        yield rig


def emails(changed: Changed, customer: dict) -> list[str]:
    record = changed.customer_record(changed.crm(), customer)
    return [v for _, v, _ in multi_values(record, "EMAIL")]


def hold_after_cdc(monkeypatch) -> tuple[threading.Event, threading.Event, list]:
    """The pull's first CDC call answers, then waits for `go_on`: (answered, go_on, the `since` of each call)."""
    answered, go_on, real, calls = threading.Event(), threading.Event(), changes.read_changes, []

    def held_read(qbo, since):
        found = real(qbo, since)
        calls.append(since)
        if len(calls) == 1:
            answered.set()
            assert go_on.wait(30)
        return found

    monkeypatch.setattr(changes, "read_changes", held_read)
    return answered, go_on, calls


def pull_in_thread(changed: Changed, outcome: list[str]) -> threading.Thread:
    holder = threading.Thread(target=lambda: outcome.append(changed.pull()))
    holder.start()
    return holder


def dies_before_commit(monkeypatch, module) -> None:
    """The module's commit_changes raises, as a worker killed after its Bitrix24 writes would stop."""
    def killed(*args, **kwargs):
        raise RuntimeError("killed after the Bitrix24 writes")

    monkeypatch.setattr(module, "commit_changes", killed)


def cancel(changed: Changed, run_id: int) -> None:
    with transaction(changed.world.rig.sessions) as session:
        session.get(SyncRun, run_id).status = "cancelled"


def test_a_pull_asked_for_while_another_runs_is_pulled_by_the_holder(changed, monkeypatch):
    """The race, made deterministic: the holder is held just after its CDC call answered; a change and a
    second pull come then. The second finds the lease taken, sets pull_again; the holder pulls once more."""
    answered, go_on, calls = hold_after_cdc(monkeypatch)
    outcome: list[str] = []
    holder = pull_in_thread(changed, outcome)
    assert answered.wait(30)
    customer = new_customer(changed.qbo, "Late Comer", "late@example.com")  # after the holder's CDC call
    assert changed.pull(noticed_at=time.time()) == "busy"
    assert changed.connection().pull_again
    go_on.set()
    holder.join(30)
    assert outcome == ["pulled"] and len(calls) == 2
    assert emails(changed, customer) == ["late@example.com"]  # the holder's second pull brought it
    connection = changed.connection()
    assert not connection.pull_again and connection.pull_owner is None


def test_an_event_noticed_before_the_latest_pull_began_is_covered(changed):
    noticed = time.time()
    time.sleep(0.01)  # the pull must begin strictly later than the event was noticed (clock resolution)
    assert changed.pull() == "pulled"
    before = changed.qbo_requests()
    assert changed.pull(noticed_at=noticed) == "covered"
    assert changed.qbo_requests() == before
    assert changed.pull(noticed_at=time.time()) == "pulled"  # noticed after: a pull is owed


def test_an_older_change_never_overwrites_a_newer_one(changed):
    customer = new_customer(changed.qbo, "Fresh Stone", "fresh@example.com")
    assert changed.pull() == "pulled"
    future = datetime.now(timezone.utc) + timedelta(days=1)  # the link holds a newer version than QuickBooks sends
    with transaction(changed.world.rig.sessions) as session:
        session.execute(update(Link).where(Link.qbo_type == "Customer", Link.qbo_id == customer["Id"])
                        .values(source_updated_at=future))
    skipped = changed.connection().change_counts["skipped"]
    change_contact_details(changed.qbo, customer["Id"], "stale@example.com", "+1 555 0111")
    assert changed.pull() == "pulled"
    assert emails(changed, customer) == ["fresh@example.com"]
    assert changed.connection().change_counts["skipped"] > skipped


def test_a_contact_and_a_company_of_the_same_bitrix24_id_updated_in_one_pull_both_land(changed):
    """Contacts and companies number their ids apart in Bitrix24: contact 1 and company 1 are two records,
    and the stored email rows each update is planned against must be its own."""
    with changed.world.rig.sessions() as session:
        links = session.scalars(select(Link).where(Link.qbo_type == "Customer")).all()
    by_type = {(link.b24_type, link.b24_id): link.qbo_id for link in links}
    shared = sorted({b24_id for kind, b24_id in by_type if kind == "contact"}
                    & {b24_id for kind, b24_id in by_type if kind == "company"}, key=int)
    assert shared, "the sample company's first sync makes contact and company ids that overlap"
    pair = [changed.qbo.get("Customer", by_type[(kind, shared[0])]) for kind in ("contact", "company")]
    for customer in pair:
        change_contact_details(changed.qbo, customer["Id"], f"same.id.{customer['Id']}@example.com", "+1 555 0123")
    assert changed.pull() == "pulled"
    for customer in pair:
        assert emails(changed, customer) == [f"same.id.{customer['Id']}@example.com"], customer["Id"]


def test_a_crash_between_the_writes_and_the_commit_duplicates_nothing(changed, monkeypatch):
    customer = new_customer(changed.qbo, "Crash Test", "crash@example.com")
    watermark = changed.connection().cdc_watermark

    dies_before_commit(monkeypatch, changes)
    with pytest.raises(RuntimeError):
        changed.pull()
    connection = changed.connection()
    assert connection.pull_in_flight and connection.cdc_watermark == watermark and connection.pull_owner is None
    with transaction(changed.world.rig.sessions) as session:  # as if the customer's link had not been bound
        session.execute(Link.__table__.delete().where(Link.qbo_id == customer["Id"], Link.qbo_type == "Customer"))
    monkeypatch.undo()
    assert changed.pull() == "pulled"  # resumed: the record is found by its origin marker
    assert len(changed.crm().by_origin("contact", f"Customer:{customer['Id']}")) == 1
    assert not changed.connection().pull_in_flight


def test_a_pull_whose_holder_was_killed_is_taken_over_once_its_lease_lapses(changed, monkeypatch):
    """SIGKILL between the writes and the commit, made deterministic: the dead holder's row as it leaves it
    (pull_owner set, its last beat, pull_in_flight). Until the lease lapses another pull waits; then it takes
    over and runs resumed, finding the dead pull's create by origin marker."""
    customer = new_customer(changed.qbo, "Killed Holder", "killed@example.com")

    dies_before_commit(monkeypatch, changes)
    with pytest.raises(RuntimeError):
        changed.pull()
    monkeypatch.undo()
    with transaction(changed.world.rig.sessions) as session:  # its customer link never committed
        session.execute(Link.__table__.delete().where(Link.qbo_id == customer["Id"], Link.qbo_type == "Customer"))
    last_beat = datetime.now(timezone.utc) - timedelta(seconds=LEASE_S / 2)
    changed.update_connection(pull_owner="killed-worker", pull_heartbeat_at=last_beat, pull_in_flight=True)
    assert changed.pull() == "busy"  # the lease has not lapsed yet
    changed.update_connection(pull_heartbeat_at=datetime.now(timezone.utc) - timedelta(seconds=LEASE_S + 1))
    assert changed.pull() == "pulled"
    assert len(changed.crm().by_origin("contact", f"Customer:{customer['Id']}")) == 1
    assert emails(changed, customer) == ["killed@example.com"]
    connection = changed.connection()
    assert connection.pull_owner is None and not connection.pull_in_flight and not connection.pull_again


def test_retry_reapplies_a_failed_record_and_clears_its_log_row(changed):
    customer = new_customer(changed.qbo, "Refused Once", "refused@example.com")
    changed.world.reader.call("crm.contact.userfield.add", {"fields": {
        "FIELD_NAME": "QB24_RETRY", "MANDATORY": "Y", "USER_TYPE_ID": "string", "EDIT_FORM_LABEL": "Retry"}})
    changed.world.control("settings", {"req_uf_check": True})  # the portal refuses the contact
    assert changed.pull() == "pulled"
    assert any(row[1] == customer["Id"] for row in sync_log(changed))
    changed.world.control("settings", {"req_uf_check": False})  # the admin fixed the portal
    portal_id = changed.world.rig.portal().id
    assert apply_record(changed.services, portal_id, "Customer", customer["Id"]) == "applied"
    assert not any(row[1] == customer["Id"] for row in sync_log(changed))
    assert emails(changed, customer) == ["refused@example.com"]


def test_a_retry_dying_between_its_write_and_its_commit_duplicates_nothing(changed, monkeypatch):
    """A Retry writes like a pull, so it is in flight like one: the next pull finds its create by origin marker."""
    customer = new_customer(changed.qbo, "Retry Crash", "retrycrash@example.com")  # not pulled yet

    dies_before_commit(monkeypatch, change_retry)
    with pytest.raises(RuntimeError):
        apply_record(changed.services, changed.world.rig.portal().id, "Customer", customer["Id"])
    monkeypatch.undo()
    assert len(changed.crm().by_origin("contact", f"Customer:{customer['Id']}")) == 1  # written, not bound
    assert changed.connection().pull_in_flight
    assert changed.pull() == "pulled"  # its window re-reads the customer: resumed, found, not created again
    assert len(changed.crm().by_origin("contact", f"Customer:{customer['Id']}")) == 1
    assert not changed.connection().pull_in_flight


def test_a_pull_during_a_full_run_defers_and_the_run_end_pulls(changed, monkeypatch):
    run_id = changed.world.rig.new_run()
    before = changed.qbo_requests()
    assert changed.pull(noticed_at=time.time()) == "deferred"
    assert changed.qbo_requests() == before and changed.connection().pull_again
    sent = []
    monkeypatch.setattr(changed.services.celery, "send_task", lambda name, **kw: sent.append((name, kw["args"])))
    changed.services.celery.set_current()
    assert tasks.full_sync.apply(args=(run_id,)).result == "done"
    # The run's imports fire the sandbox portal's add events, whose webhooks queue the portal's export task
    # (workers/exports.py) while send_task is recorded here: that is the echo path, not the run's end.
    assert [task for task in sent if task[0] != EXPORT_RECORDS] == [(changes.PULL_CHANGES, (changed.world.realm_id, None))]
    assert changed.pull() == "pulled"
    assert not changed.connection().pull_again


def test_a_watermark_older_than_the_cdc_window_starts_a_resync(changed, monkeypatch):
    kept, old = changed.connection().cdc_watermark, (datetime.now(timezone.utc) - timedelta(days=30)).isoformat()
    changed.update_connection(cdc_watermark=old)
    queued = []
    monkeypatch.setattr(changes, "enqueue_full_sync", lambda services, run_id: queued.append(run_id))
    before = changed.qbo_requests()
    assert changed.pull() == "resync"
    assert changed.qbo_requests() == before  # CDC would refuse the window: not even asked
    with changed.world.rig.sessions() as session:
        run = session.get(SyncRun, queued[0])
        assert run.status == "pending" and run.kind == "full"
    assert changed.pull(noticed_at=time.time()) == "deferred"  # until the resync ends
    with transaction(changed.world.rig.sessions) as session:
        session.get(SyncRun, queued[0]).status = "cancelled"
    changed.update_connection(cdc_watermark=kept)  # as the resync's start would have (later tests pull on)


def test_a_first_sync_starts_the_watermark_on_quickbooks_clock_not_ours(changed, monkeypatch):
    """Our clock 10 minutes ahead of QuickBooks' (more than the overlap): a change made after the first sync
    began must still reach the pull after it."""
    changed.update_connection(cdc_watermark=None)  # a first sync: the run's start sets the watermark
    ours = full_sync.utcnow
    monkeypatch.setattr(full_sync, "utcnow", lambda: ours() + timedelta(minutes=10))
    run_sync(changed.world)
    monkeypatch.undo()
    assert changed.connection().cdc_watermark
    customer = new_customer(changed.qbo, "Slow Clock", "slowclock@example.com")
    assert changed.pull() == "pulled"
    assert emails(changed, customer) == ["slowclock@example.com"]


def test_an_overflowing_cdc_window_is_read_in_parts_and_nothing_is_missed(changed):
    """More changes than one CDC answer may hold (the sandbox's limit lowered from 1,000 to 3)."""
    qbo, sandbox = changed.qbo, changed.world.rig.stack.qbo
    customers = [new_customer(qbo, f"Many Person{n}", f"many{n}@example.com") for n in range(5)]
    sandbox.control("settings", {"cdc_max_objects": 3})
    try:
        before = changed.qbo_requests()
        assert changed.pull() == "pulled"
        assert changed.qbo_requests() - before > 2  # the refused call, then the parts
    finally:
        sandbox.control("settings", {"cdc_max_objects": 1000})
    crm = changed.crm()
    for customer in customers:
        changed.customer_record(crm, customer)


def test_a_full_run_waits_while_a_pull_holds_the_realm(changed, monkeypatch):
    """A pull already past its check for runs when a full run's task starts: the run's task defers (re-queued
    shortly) instead of writing alongside it."""
    answered, go_on, _ = hold_after_cdc(monkeypatch)
    outcome: list[str] = []
    holder = pull_in_thread(changed, outcome)
    run_id = None
    try:
        assert answered.wait(30)
        run_id = changed.world.rig.new_run()
        sent = []
        monkeypatch.setattr(changed.services.celery, "send_task",
                            lambda name, **kw: sent.append((name, kw["args"], kw.get("countdown"))))
        changed.services.celery.set_current()
        assert tasks.full_sync.apply(args=(run_id,)).result == tasks.PULLING
        assert sent == [(tasks.FULL_SYNC, (run_id,), tasks.PULL_WAIT_S)]
        run = changed.world.rig.run(run_id)
        assert run.status == "pending" and run.lease_owner is None and not run.counters
    finally:
        go_on.set()
        holder.join(30)
        if run_id is not None:
            cancel(changed, run_id)
    assert outcome and outcome[0] in ("pulled", "deferred")


def test_a_pull_that_finds_a_full_run_started_before_its_writes_defers(changed, monkeypatch):
    """A full run queued after the pull's check for runs but before its first Bitrix24 write: the pull writes
    nothing, keeps its watermark and leaves pull_again for the run's end."""
    customer = new_customer(changed.qbo, "Run Racer", "racer@example.com")
    watermark = changed.connection().cdc_watermark
    answered, go_on, _ = hold_after_cdc(monkeypatch)
    outcome: list[str] = []
    holder = pull_in_thread(changed, outcome)
    run_id = None
    try:
        assert answered.wait(30)
        run_id = changed.world.rig.new_run()
        go_on.set()
        holder.join(30)
        assert outcome == ["deferred"]
        assert changed.crm().by_origin("contact", f"Customer:{customer['Id']}") == []
        connection = changed.connection()
        assert connection.pull_again and connection.pull_owner is None and not connection.pull_in_flight
        assert connection.cdc_watermark == watermark
    finally:
        go_on.set()
        holder.join(30)
        if run_id is not None:
            cancel(changed, run_id)
    monkeypatch.undo()
    assert changed.pull() == "pulled"
    assert emails(changed, customer) == ["racer@example.com"]


def test_a_full_run_after_a_pull_died_mid_write_finds_its_writes(changed, monkeypatch):
    """A pull wrote to Bitrix24 and died before its commit (pull_in_flight stays set); a full run comes next:
    it must look the pull's creates up by origin marker, not create them again."""
    owner = new_customer(changed.qbo, "Orphan Owner", "orphan@example.com")
    invoice = new_invoice(changed.qbo, owner["Id"], 77.0)

    dies_before_commit(monkeypatch, changes)
    with pytest.raises(RuntimeError):
        changed.pull()
    monkeypatch.undo()
    assert changed.connection().pull_in_flight
    assert len(changed.invoice_record(changed.crm(), invoice["Id"])) == 1  # written, not bound
    run_sync(changed.world)
    assert len(changed.invoice_record(changed.crm(), invoice["Id"])) == 1
    assert len(changed.crm().by_origin("contact", f"Customer:{owner['Id']}")) == 1
    assert changed.pull() == "pulled"
    assert len(changed.invoice_record(changed.crm(), invoice["Id"])) == 1


def test_retry_waits_while_a_full_run_or_a_pull_may_write_the_record(changed, monkeypatch):
    """A Retry writes like a pull: never alongside a full run or a pull of the realm (both could create it)."""
    customer = new_customer(changed.qbo, "Retry Waiter", "waiter@example.com")  # not in Bitrix24 yet
    portal_id, args = changed.world.rig.portal().id, (changed.world.rig.portal().id, "Customer", customer["Id"])
    run_id = changed.world.rig.new_run()
    try:
        assert apply_record(changed.services, *args) == "deferred"
        sent = []
        monkeypatch.setattr(changed.services.celery, "send_task",
                            lambda name, **kw: sent.append((name, kw["args"], kw.get("countdown"))))
        changed.services.celery.set_current()
        assert change_retry.retry_record.apply(args=args).result == "deferred"
        assert sent == [(change_retry.RETRY_RECORD, args, change_retry.RUN_WAIT_S)]
    finally:
        cancel(changed, run_id)
    assert changed.crm().by_origin("contact", f"Customer:{customer['Id']}") == []
    answered, go_on, _ = hold_after_cdc(monkeypatch)
    outcome: list[str] = []
    holder = pull_in_thread(changed, outcome)
    try:
        assert answered.wait(30)
        assert apply_record(changed.services, portal_id, "Customer", customer["Id"]) == "busy"
        assert not changed.connection().pull_again  # the holder is not asked for another pull
    finally:
        go_on.set()
        holder.join(30)
    assert outcome == ["pulled"]  # the pull brought the customer
    monkeypatch.undo()
    assert apply_record(changed.services, *args) == "applied"
    assert len(changed.crm().by_origin("contact", f"Customer:{customer['Id']}")) == 1
    assert changed.connection().pull_owner is None


def facts_reads(changed: Changed) -> int:
    """How often the portal answered crm.currency.list: once per read of the portal facts."""
    counts = b24_control(changed.world.rig.stack, f"portals/{changed.world.rig.member_id}/requests", method="GET")
    return int(counts["commands"].get("crm.currency.list", 0))


def test_a_second_pull_reads_no_portal_facts(changed):
    customer = new_customer(changed.qbo, "Cached Facts", "cached@example.com")
    new_invoice(changed.qbo, customer["Id"], 40)
    assert changed.pull() == "pulled"
    reads = facts_reads(changed)
    invoice = new_invoice(changed.qbo, customer["Id"], 41)
    assert changed.pull() == "pulled"
    assert facts_reads(changed) == reads
    assert len(changed.invoice_record(changed.crm(), invoice["Id"])) == 1


def test_a_refused_stage_drops_the_cached_facts(changed, monkeypatch):
    """The portal lost a stage the cache still holds: the write is refused, the cache dropped, and the next
    pull reads the facts again and lands its invoice."""
    def stale(client, use_new_invoice):
        facts, stages = read_facts_and_stages(client, use_new_invoice)
        return facts, [{**s, "STATUS_ID": f"{s['STATUS_ID']}_GONE"} for s in stages]

    customer = new_customer(changed.qbo, "Stale Stages", "stale-stages@example.com")
    assert changed.pull() == "pulled"
    FactsCache(changed.services.redis, changed.world.rig.portal()).drop()
    monkeypatch.setattr(facts_cache, "read_facts_and_stages", stale)
    refused = new_invoice(changed.qbo, customer["Id"], 50)
    assert changed.pull() == "pulled"
    assert any(f[1] == refused["Id"] and "stage" in f[2].lower() for f in sync_log(changed))
    monkeypatch.undo()
    reads = facts_reads(changed)
    invoice = new_invoice(changed.qbo, customer["Id"], 51)
    assert changed.pull() == "pulled"
    assert facts_reads(changed) == reads + 1
    assert len(changed.invoice_record(changed.crm(), invoice["Id"])) == 1


def test_a_linked_customer_and_its_invoice_share_one_write_batch(changed):
    """A pull of a changed linked customer and a new invoice of it: one read (the customer's stored emails and
    phones) and one write batch carrying both; the facts come from the cache."""
    customer = new_customer(changed.qbo, "Shared Batch", "shared@example.com")
    new_invoice(changed.qbo, customer["Id"], 60)
    assert changed.pull() == "pulled"
    before = portal_requests(changed)
    change_contact_details(changed.qbo, customer["Id"], "shared-new@example.com", "+1 555 0160")
    invoice = new_invoice(changed.qbo, customer["Id"], 61)
    assert changed.pull() == "pulled"
    after = portal_requests(changed)
    assert {m: n - before.get(m, 0) for m, n in after.items() if n != before.get(m, 0)} == {"batch": 2}
    assert emails(changed, customer) == ["shared-new@example.com"]
    assert len(changed.invoice_record(changed.crm(), invoice["Id"])) == 1


def portal_requests(changed: Changed) -> dict[str, int]:
    """The portal's HTTP requests by method (a batch is one)."""
    return b24_control(changed.world.rig.stack, f"portals/{changed.world.rig.member_id}/requests",
                       method="GET")["requests"]


def test_a_change_soon_after_a_pull_is_paced_and_its_later_pull_loses_nothing(changed, monkeypatch):
    """Under sustained changes a realm pulls at most every pull_interval_s: an event noticed sooner is queued
    again for the interval's end (its noticed_at kept), and that later task pulls it."""
    monkeypatch.setattr(changed.services, "settings", replace(changed.services.settings, pull_interval_s=0.5))
    queued: list[tuple] = []
    monkeypatch.setattr(changed.services.celery, "send_task",
                        lambda name, args, countdown, **_: queued.append((name, args, countdown)))
    assert changed.pull() == "pulled"
    customer = new_customer(changed.qbo, "Paced Change", "paced@example.com")
    noticed, requests = time.time(), changed.qbo_requests()
    assert changed.pull(noticed_at=noticed) == "paced"
    assert changed.qbo_requests() == requests  # no CDC call yet
    [countdown] = [c for name, args, c in queued if name == changes.PULL_CHANGES
                   and args == (changed.world.realm_id, noticed)]
    assert 0 < countdown <= 0.5
    time.sleep(countdown)  # the broker's countdown, which the test stands in for
    assert changed.pull(noticed_at=noticed) == "pulled"
    assert changed.customer_record(changed.crm(), customer)
    monkeypatch.setattr(changed.services, "settings", replace(changed.services.settings, pull_interval_s=0))
    assert changed.pull(noticed_at=time.time()) == "pulled"  # no pacing: pulled at once
