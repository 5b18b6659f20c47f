"""workers/exports.py: one export queued per portal (the marker), and no add event lost through it - while a
task works, while it defers for a writer, when the broker refuses (beat's sweep) - on real Redis. The portal
here exports nothing (not connected), so a handled event needs no Bitrix24 call; the export itself is tested
through the sandboxes in tests/webhooks/test_b24_add_events_stack.py."""
from __future__ import annotations

import itertools
import random
import threading

import pytest
from sqlalchemy import select

from store.db import transaction
from store.events import record_event
from store.models import ReceivedEvent, SyncRun
from tests.services import REDIS_URL, redis_client
from tests.workers.queue_support import add_portal, embedded_services
from workers import exports
from workers.celery_app import EXPORT_RECORDS

_ids = itertools.count(1)


@pytest.fixture
def services(tmp_path):
    redis_client().close()  # skips (or fails, in CI) without Redis
    with embedded_services(tmp_path, REDIS_URL=REDIS_URL) as found:
        yield found


class Broker:
    """The portal's queued exports, captured instead of published (run by the test, in order)."""

    def __init__(self, services, monkeypatch, refuse: bool = False) -> None:
        self.sent: list[tuple[int, float | None]] = []
        self.refuse, self.lock = refuse, threading.Lock()

        def send_task(name, args=(), countdown=None, **_):
            assert name == EXPORT_RECORDS
            if self.refuse:
                raise ConnectionError("broker down")
            with self.lock:
                self.sent.append((args[0], countdown))

        monkeypatch.setattr(services.celery, "send_task", send_task)

    def run_all(self, services) -> list[str]:
        outcomes = []
        while self.sent:
            with self.lock:
                portal_id, _ = self.sent.pop(0)
            outcomes.append(exports.run_export(services, portal_id))
        return outcomes


def _event(services, portal_id: int) -> None:
    """What the webhook does: record the event, commit, then queue the portal's export."""
    with transaction(services.sessions) as session:
        record_event(session, source="b24", dedupe_key=f"m:ONCRMCONTACTADD:{next(_ids)}:1", portal_id=portal_id,
                     entity="contact", entity_id=str(next(_ids)), operation="add")
    try:
        exports.enqueue_export(services, portal_id)
    except exports.EnqueueFailed:
        pass  # the webhook's path: logged, left to beat's sweep


def _unhandled(services) -> int:
    with services.sessions() as session:
        return len(list(session.scalars(select(ReceivedEvent.id).where(ReceivedEvent.handled_at.is_(None)))))


def test_a_burst_queues_one_export_and_it_handles_every_event(services, monkeypatch):
    portal_id = add_portal(services, "m-burst", None)
    broker = Broker(services, monkeypatch)
    for _ in range(5):
        _event(services, portal_id)
    assert len(broker.sent) == 1  # the marker: one queued and not started
    assert broker.run_all(services) == ["off"]
    assert _unhandled(services) == 0


def test_an_event_recorded_while_the_task_reads_queues_another(services, monkeypatch):
    """The task takes the marker before it reads: a webhook in between finds none and queues a task."""
    portal_id = add_portal(services, "m-race", None)
    broker = Broker(services, monkeypatch)
    _event(services, portal_id)
    real, calls = exports.unhandled_adds, []

    def read_then_webhook(session, *args):
        found = real(session, *args)
        if not calls:
            calls.append(1)
            _event(services, portal_id)  # committed after the task's read: not in `found`
        return found

    monkeypatch.setattr(exports, "unhandled_adds", read_then_webhook)
    broker.sent.clear()
    exports.run_export(services, portal_id)
    assert len(broker.sent) == 1 and _unhandled(services) == 1  # the late event has a task of its own
    broker.run_all(services)
    assert _unhandled(services) == 0


def test_events_skipped_while_a_task_defers_for_a_writer_are_worked_by_it(services, monkeypatch):
    portal_id = add_portal(services, "m-defer", "4001")
    with transaction(services.sessions) as session:
        run = SyncRun(portal_id=portal_id, kind="full", status="running")
        session.add(run)
    broker = Broker(services, monkeypatch)
    _event(services, portal_id)
    portal_settings(services, portal_id, export_new_contacts=True)
    portal_id_, _ = broker.sent.pop()
    assert exports.run_export(services, portal_id_) == "deferred"
    assert broker.sent == [(portal_id, exports.RUN_WAIT_S)]
    _event(services, portal_id)  # the deferred task is queued: this webhook queues nothing
    assert len(broker.sent) == 1
    with transaction(services.sessions) as session:
        session.get(SyncRun, run.id).status = "done"
        portal_settings(services, portal_id, export_new_contacts=False, session=session)
    assert broker.run_all(services) == ["off"]
    assert _unhandled(services) == 0


def portal_settings(services, portal_id: int, session=None, **values) -> None:
    from store.models import Portal

    if session is None:
        with transaction(services.sessions) as own:
            return portal_settings(services, portal_id, session=own, **values)
    portal = session.get(Portal, portal_id)
    portal.settings = {**(portal.settings or {}), **values}


def test_a_refused_enqueue_leaves_the_event_to_beats_sweep(services, monkeypatch):
    portal_id = add_portal(services, "m-refused", None)
    broker = Broker(services, monkeypatch, refuse=True)
    _event(services, portal_id)
    assert broker.sent == [] and _unhandled(services) == 1  # stored, nothing queued
    broker.refuse = False
    assert exports.queue_unhandled(services) == 1
    broker.run_all(services)
    assert _unhandled(services) == 0
    assert exports.queue_unhandled(services) == 0  # nothing left: the sweep queues nothing


def test_no_event_is_lost_under_concurrent_webhooks_and_tasks(services, monkeypatch):
    """Four webhook threads record and queue while two worker threads run whatever is queued, in any order;
    once all is quiet every event is handled, without the sweep."""
    portal_id = add_portal(services, "m-storm", None)
    broker = Broker(services, monkeypatch)
    stop = threading.Event()

    def webhooks() -> None:
        for _ in range(25):
            _event(services, portal_id)

    def worker() -> None:
        rng = random.Random()
        while not stop.is_set() or broker.sent:
            with broker.lock:
                job = broker.sent.pop(rng.randrange(len(broker.sent))) if broker.sent else None
            if job is not None:
                exports.run_export(services, job[0])

    workers = [threading.Thread(target=worker) for _ in range(2)]
    senders = [threading.Thread(target=webhooks) for _ in range(4)]
    for thread in workers + senders:
        thread.start()
    for thread in senders:
        thread.join(60)
    stop.set()
    for thread in workers:
        thread.join(60)
    assert _unhandled(services) == 0
