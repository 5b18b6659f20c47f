"""workers/pull_marker.py: a webhook skips its enqueue while its realm has a pull queued and not started, and
no event is lost by it - the race made deterministic on the sandboxes, and the marker's states on real Redis."""
from __future__ import annotations

from dataclasses import replace

import threading
import time
import uuid
from types import SimpleNamespace

import pytest

from tests.services import redis_client
from tests.workers.changes_support import Changed, new_customer
from tests.workers.e2e_support import SMART, run_sync, synced_world
from tests.workers.test_changes_pull import emails, pull_in_thread
from workers import changes, pull_marker
from workers.tasks import EnqueueFailed


@pytest.fixture(scope="module")
def changed(tmp_path_factory):
    with synced_world("postgresql+redis", tmp_path_factory.mktemp("marker"), SMART) as world:
        run_sync(world)
        rig = Changed(world)
        # these tests drive pulls back to back: pacing (tests/workers/test_changes_pull.py) would queue them for later
        rig.services.settings = replace(rig.services.settings, pull_interval_s=0)
        assert rig.pull() == "pulled"
        yield rig


def hold_after_cdc_call(monkeypatch, number: int) -> tuple[threading.Event, threading.Event]:
    """The pull's `number`th CDC call answers, then waits for `go_on`: (answered, go_on)."""
    answered, go_on, real, calls = threading.Event(), threading.Event(), changes.read_changes, []

    def held_read(qbo, since):
        found = real(qbo, since)
        calls.append(since)
        if len(calls) == number:
            answered.set()
            assert go_on.wait(30)
        return found

    monkeypatch.setattr(changes, "read_changes", held_read)
    return answered, go_on


def test_an_event_skipped_while_a_pull_is_queued_is_pulled_by_it(changed, monkeypatch):
    """A pull P is queued (marker set) while another pull X runs; X goes round again (pull_again) after P's
    noticed_at, and a change lands after X's second CDC call: its webhook skips the enqueue. P must not count
    as covered by X's second round (the old rule: X began after P's noticed_at) and brings the change."""
    first, go_first = hold_after_cdc_call(monkeypatch, 1)
    outcome: list[str] = []
    holder = pull_in_thread(changed, outcome)
    assert first.wait(30)
    assert changed.pull(noticed_at=time.time()) == "busy"  # X owes another round
    queued: list[float] = []
    noticed = time.time()
    assert pull_marker.queue_pull(changed.services, changed.world.realm_id, lambda: queued.append(noticed))
    second, go_second = hold_after_cdc_call(monkeypatch, 1)  # X's next CDC call
    go_first.set()
    assert second.wait(30)
    customer = new_customer(changed.qbo, "Skipped Enqueue", "skipped@example.com")  # after X's 2nd CDC call
    assert not pull_marker.queue_pull(changed.services, changed.world.realm_id, lambda: queued.append(time.time()))
    go_second.set()
    holder.join(30)
    assert outcome == ["pulled"] and queued == [noticed]
    assert changes._covered(changed.connection(), noticed)  # what the old rule would have answered
    assert changed.pull(noticed_at=noticed) == "pulled"
    assert emails(changed, customer) == ["skipped@example.com"]
    assert pull_marker.queue_pull(changed.services, changed.world.realm_id, lambda: None)  # P removed its marker
    assert changed.pull(noticed_at=time.time()) == "pulled"


@pytest.fixture
def services():
    client = redis_client()
    found = SimpleNamespace(redis=client, settings=SimpleNamespace(database_url=f"test://{uuid.uuid4().hex}"))
    yield found
    client.delete(pull_marker.key(found, "1"))
    client.close()


def test_a_pending_marker_does_not_skip_and_a_failed_enqueue_leaves_none(services):
    calls = []
    pull_marker.queue_pull(services, "1", lambda: calls.append(services.redis.get(pull_marker.key(services, "1"))))
    assert calls[0].startswith(b"p:")  # while the first request queues, a second one queues too
    services.redis.set(pull_marker.key(services, "1"), calls[0])
    assert pull_marker.queue_pull(services, "1", lambda: calls.append("second"))
    services.redis.delete(pull_marker.key(services, "1"))

    def broker_down():
        raise EnqueueFailed("down")

    with pytest.raises(EnqueueFailed):
        pull_marker.queue_pull(services, "1", broker_down)
    assert services.redis.get(pull_marker.key(services, "1")) is None
    assert pull_marker.started(services, "1") is None  # no marker: the pull's own noticed_at stands


def test_a_marker_whose_pull_never_started_is_taken_over(services, monkeypatch):
    assert pull_marker.queue_pull(services, "1", lambda: None)
    assert not pull_marker.queue_pull(services, "1", lambda: None)
    monkeypatch.setattr(pull_marker, "STALE_S", -1.0)
    assert pull_marker.queue_pull(services, "1", lambda: None)
    assert pull_marker.started(services, "1") is not None
