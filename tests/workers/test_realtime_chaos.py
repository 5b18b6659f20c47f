"""THE chaos test of the real-time sync (issue 10), on PostgreSQL and a Redis of its own, with real
`celery worker` processes: QuickBooks delivers every webhook three times and out of order, both
sandboxes fail 10 % of calls, a worker is SIGKILLed while a pull is in flight (between the mark set before
its first Bitrix24 write and its commit), and Redis is restarted once. The webhooks' pulls run first with no beat; then beat's
reconciliation runs as deployed: a pull retry a worker held when Redis restarted is gone with Redis (its
pull_again stays set for the next pull), and beat's pull is what brings that back in production too. In
the end Bitrix24 is the projection of QuickBooks, no duplicates, nothing missing; how much beat had to
repair is reported on failure, never hidden: the changes the webhooks carried are counted.
The sandbox's delivery log and the app's /metrics show every delivery posted three times, each event
recorded once, and events arriving out of order.
The second test drops every webhook: beat's reconciliation alone converges."""
from __future__ import annotations

import time
from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from bench.realtime_changes import Editor
from bench.realtime_world import RealtimeWorld, Tenant
from qb24.demo import b24_control
from store.models import ReceivedEvent, SyncFailure
from tests.support import wait_for
from tests.workers.realtime_deliveries import DeliveryLog, qbo_outcomes
from tests.workers.realtime_expect import projection_problems
from tests.workers.realtime_support import (Script, chaos_script, first_synced, lapse_pull_lease,
                                            realtime_world, set_error_rate)
from workers.celery_app import PULL_CHANGES, RECONCILE_ALL

# The kill comes first: the restart then drops the killed task's unacked message (else it waits an hour).
KILL_AFTER, RESTART_AFTER = "pay part of ia", "invoice for c"
STEP_GAP_S = 0.2
RECONCILE_S = 1.0
COPIES = 3
AGGREGATION_S = 0.5  # the webhook window (production Intuit aggregates for minutes, reference §1.4 WHN)
SLOW_PORTAL_S = 0.3  # Bitrix24 this slow around the kill: a pull's apply lasts long enough to be hit
# QuickBooks webhooks received (the table holds Bitrix24's events too: the portal's own, source "b24").
QBO_EVENTS = select(ReceivedEvent.dedupe_key).where(ReceivedEvent.source == "qbo")


def play(world: RealtimeWorld, tenant: Tenant, script: Script, *, chaos: bool) -> None:
    for label, action in script.steps:
        if chaos and label == KILL_AFTER:
            b24_control(world.stack, f"portals/{tenant.member_id}/settings", {"latency": SLOW_PORTAL_S})
            since = last_write(world, tenant)
        action()
        if chaos and label == KILL_AFTER:
            kill_mid_apply(world, tenant, since)
        if chaos and label == RESTART_AFTER:
            world.redis.restart()
        world.revive()
        time.sleep(STEP_GAP_S)


def last_write(world: RealtimeWorld, tenant: Tenant) -> int:
    writes = world.b24_writes(tenant.member_id)
    return writes[-1]["seq"] if writes else 0


def pull_mark(world: RealtimeWorld, tenant: Tenant) -> tuple[str, datetime] | None:
    """The pull in flight (its owner and the start it stamped), None when none is."""
    cut = world.connection(tenant.realm_id)
    return (cut.pull_owner, cut.last_pull_at) if cut.pull_in_flight and cut.pull_owner else None


def kill_mid_apply(world: RealtimeWorld, tenant: Tenant, since: int) -> None:
    """SIGKILL the worker running a pull while it is in flight (marked before its first Bitrix24 write, cleared
    in its commit). Waiting for its first write as well raced the commit that follows a pull's last batch
    within milliseconds (a CI run missed it), so the in-flight mark is what the kill is timed and asserted on;
    whether the killed pull had written by then is in the failure message, not asserted."""
    mark = wait_for(lambda: pull_mark(world, tenant), "a pull in flight", timeout=20, poll=0.005)
    pulling = [w for w in world.workers if w.process.poll() is None and w.running(PULL_CHANGES)]
    assert pulling, world.worker_logs()
    for worker in pulling:
        worker.kill()
    # Still in flight after the kill, under the killed worker's lease: a pull of it never committed. Not
    # necessarily the pull first seen: its holder may have committed it and begun the next (pull_again) in the
    # moment before the kill (a CI run under two test processes saw that); either way the kill cut one short.
    writes = world.b24_writes(tenant.member_id, since=since)
    after = pull_mark(world, tenant)
    assert after is not None and after[0] == mark[0], f"the kill missed the apply (writes {writes})"
    b24_control(world.stack, f"portals/{tenant.member_id}/settings", {"latency": 0})
    world.revive()  # a new process in its place, as docker-compose restarts a killed worker
    lapse_pull_lease(world, tenant.realm_id, mark[0])


def assert_projection(world: RealtimeWorld, tenant: Tenant, script: Script) -> None:
    problems = projection_problems(world.b24(tenant.member_id), world.qbo(tenant.realm_id),
                                   deleted_invoices=script.deleted_invoices,
                                   gone_customers=script.gone_customers, today=date.today())
    with world.sessions() as session:
        failures = [(f.qbo_type, f.qbo_id, f.reason) for f in session.scalars(select(SyncFailure))]
    counts = world.connection(tenant.realm_id).change_counts
    assert problems == [], "\n".join([*problems, f"sync log: {failures}", f"change counts: {counts}",
                                      world.worker_logs()])


def pull_count(world: RealtimeWorld, tenant: Tenant) -> int:
    return (world.connection(tenant.realm_id).change_counts or {}).get("pulls", 0)


def assert_webhooks_deduplicated(world: RealtimeWorld, editor: Editor) -> None:
    """Every acknowledged delivery was posted COPIES times, our side recorded each event once (the
    received_events rows are exactly the delivered event ids; /metrics counted each accepted once and every
    other copy a duplicate), every change brought an event, and events arrived out of order."""
    log = DeliveryLog(world.stack.qbo.control("webhooks/deliveries", method="GET")["deliveries"])
    assert log.copies_problems(COPIES) == []
    ids = [event.event_id for event in log.events()]
    with world.sessions() as session:
        recorded = sorted(session.scalars(QBO_EVENTS))
    assert len(set(ids)) == len(ids) and recorded == sorted(ids)
    assert len(ids) >= len(editor.changes)  # the webhooks brought every change (each at least one event)
    outcomes = qbo_outcomes(world.stack.url)
    assert outcomes["accepted"] == len(ids), outcomes
    assert outcomes["duplicate"] >= (COPIES - 1) * len(ids), outcomes
    # Every post answered 200 counted each of its events once; one that timed out may have counted them too.
    answered = log.handled_posted(200)
    assert answered <= outcomes["accepted"] + outcomes["duplicate"] <= answered + log.handled_posted(None)
    assert log.out_of_order() > 0, "every event arrived in order"


@pytest.mark.timeout(240)
def test_chaos_ends_with_bitrix24_the_projection_of_quickbooks():
    with realtime_world() as world:
        tenant = first_synced(world, workers=2)
        assert world.stack.qbo.control("webhooks/deliveries", method="GET")["deliveries"] == []
        # Aggregated a little, so batches hold several changes: sent newer half first, each body newest first.
        world.webhooks(copies=COPIES, out_of_order=True, aggregation_seconds=AGGREGATION_S)
        editor = Editor(world.qbo(tenant.realm_id), world.stack.qbo.control)
        script = chaos_script(editor)
        set_error_rate(world, tenant, 0.1)
        play(world, tenant, script, chaos=True)
        world.wait_quiet(60)  # no beat yet: only the webhooks' pulls (and their retries) have run
        set_error_rate(world, tenant, 0.0)
        assert script.gone_customers, "the sandbox merged nothing"
        assert_webhooks_deduplicated(world, editor)
        # Beat, as deployed, then reconciles every RECONCILE_S (what a restart of Redis lost comes back here).
        pulls = pull_count(world, tenant)
        world.start_beat(RECONCILE_S)
        wait_for(lambda: pull_count(world, tenant) > pulls, "beat's pull", timeout=15)
        world.wait_quiet(30)
        assert_projection(world, tenant, script)


@pytest.mark.timeout(240)
def test_without_webhooks_reconciliation_alone_converges():
    with realtime_world() as world:
        tenant = first_synced(world, workers=1)
        world.webhooks(url=None)
        editor = Editor(world.qbo(tenant.realm_id), world.stack.qbo.control)
        script = chaos_script(editor)
        seen = last_write(world, tenant)
        play(world, tenant, script, chaos=False)
        time.sleep(1.0)
        assert world.b24_writes(tenant.member_id, since=seen) == []  # nothing noticed the changes
        world.services.celery.send_task(RECONCILE_ALL)  # beat's tick: every connected realm's pull
        world.wait_quiet(60)
        assert_projection(world, tenant, script)
        with world.sessions() as session:
            assert session.scalar(select(func.count()).select_from(QBO_EVENTS.subquery())) == 0
