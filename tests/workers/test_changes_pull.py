"""The change pull's guarantees on the sandboxes: one pull per realm with nothing lost to a race, older
changes never win, a crash before the commit duplicates nothing, a stale watermark resyncs, a full run
defers pulls and pulls at its end, and Retry re-applies a failed record."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from store.db import transaction
from store.models import Link, SyncRun
from tests.workers.changes_support import Changed, new_customer, sync_log
from tests.workers.e2e_b24 import multi_values
from tests.workers.e2e_qbo import change_contact_details
from tests.workers.e2e_support import SMART, run_sync, synced_world
from workers import changes, tasks
from workers.change_retry import apply_record


@pytest.fixture(scope="module", params=["postgresql+redis", "sqlite"])
def changed(request, tmp_path_factory) -> Iterator[Changed]:
    with synced_world(request.param, tmp_path_factory.mktemp("pull"), SMART) as world:
        run_sync(world)
        rig = Changed(world)
        assert rig.pull() == "pulled"
        yield rig


def emails(changed: Changed, customer: dict) -> list[str]:
    record = changed.customer_record(changed.crm(), customer)
    return [v for _, v, _ in multi_values(record, "EMAIL")]


def test_a_pull_asked_for_while_another_runs_is_pulled_by_the_holder(changed, monkeypatch):
    """The race, made deterministic: the holder is held just after its CDC call answered; a change and a
    second pull come then. The second finds the lease taken, sets pull_again; the holder pulls once more."""
    answered, go_on, real = threading.Event(), threading.Event(), changes.read_changes
    calls = []

    def held_read(qbo, since):
        found = real(qbo, since)
        calls.append(since)
        if len(calls) == 1:
            answered.set()
            assert go_on.wait(30)
        return found

    monkeypatch.setattr(changes, "read_changes", held_read)
    outcome: list[str] = []
    holder = threading.Thread(target=lambda: outcome.append(changed.pull()))
    holder.start()
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


def test_a_crash_between_the_writes_and_the_commit_duplicates_nothing(changed, monkeypatch):
    customer = new_customer(changed.qbo, "Crash Test", "crash@example.com")
    watermark = changed.connection().cdc_watermark

    def crash(*args, **kwargs):
        raise RuntimeError("killed after the Bitrix24 writes")

    monkeypatch.setattr(changes, "commit_changes", crash)
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


def test_a_pull_during_a_full_run_defers_and_the_run_end_pulls(changed, monkeypatch):
    run_id = changed.world.rig.new_run()
    before = changed.qbo_requests()
    assert changed.pull(noticed_at=time.time()) == "deferred"
    assert changed.qbo_requests() == before and changed.connection().pull_again
    sent = []
    monkeypatch.setattr(changed.services.celery, "send_task", lambda name, **kw: sent.append((name, kw["args"])))
    changed.services.celery.set_current()
    assert tasks.full_sync.apply(args=(run_id,)).get() == "done"
    assert sent == [(changes.PULL_CHANGES, (changed.world.realm_id, None))]
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
