"""A queued (pending) sync run can be cancelled; one a worker has begun cannot, and the two never both win."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from store.db import transaction
from store.lifecycle import cancel_pending_run
from store.models import SyncRun
from store.portals import ensure_portal
from workers.full_sync import run_full_sync

DEADLINE_S = 10.0


def _portal(session, member_id: str) -> int:
    return ensure_portal(session, member_id=member_id, domain=f"{member_id}.bitrix24.com",
                         client_endpoint=f"https://{member_id}.bitrix24.com/rest/",
                         server_endpoint="https://oauth.bitrix.info/rest/").id


def _run(sessions, status: str = "pending", member_id: str = "m-1") -> tuple[int, int]:
    with transaction(sessions) as session:
        portal_id = _portal(session, member_id)
        run = SyncRun(portal_id=portal_id, kind="full", status=status)
        session.add(run)
        session.flush()
        return portal_id, run.id


def _status(sessions, run_id: int) -> str:
    with sessions() as session:
        return session.get(SyncRun, run_id).status


def test_a_pending_run_is_cancelled_and_the_worker_never_starts_it(sessions):
    portal_id, run_id = _run(sessions)
    with transaction(sessions) as session:
        assert cancel_pending_run(session, portal_id, run_id) is True
    with sessions() as session:
        run = session.get(SyncRun, run_id)
        assert (run.status, run.finished_at is not None) == ("cancelled", True)
        assert not run.cursor and not run.counters  # nothing of it ran
    # The queued task still arrives: the engine finds the run over before it touches either service
    # (no clients given: any call would raise).
    assert run_full_sync(sessions, run_id, qbo=None, b24=None) == "cancelled"
    assert _status(sessions, run_id) == "cancelled"
    with transaction(sessions) as session:  # once is enough: a second cancel changes nothing
        assert cancel_pending_run(session, portal_id, run_id) is False


@pytest.mark.parametrize("status", ["running", "done", "failed"])
def test_a_run_that_is_not_pending_is_left_alone(sessions, status):
    portal_id, run_id = _run(sessions, status)
    with transaction(sessions) as session:
        assert cancel_pending_run(session, portal_id, run_id) is False
    assert _status(sessions, run_id) == status


def test_another_portals_run_is_not_cancelled(sessions):
    _, run_id = _run(sessions)
    with transaction(sessions) as session:
        other = _portal(session, "m-2")
    with transaction(sessions) as session:
        assert cancel_pending_run(session, other, run_id) is False
    assert _status(sessions, run_id) == "pending"


def test_cancel_waits_for_a_worker_claiming_the_run_and_then_changes_nothing(sessions, database_url):
    """The worker's claim (workers/full_sync._begin: SELECT ... FOR UPDATE, then status running) holds the
    row; a cancel arriving meanwhile waits for it and finds the run no longer pending."""
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks: SQLite serialises whole-database writes instead")
    portal_id, run_id = _run(sessions)
    outcome: list[bool] = []
    with transaction(sessions) as worker:
        run = worker.get(SyncRun, run_id, with_for_update=True)
        run.status = "running"
        worker.flush()

        def cancel() -> None:
            with transaction(sessions) as session:
                outcome.append(cancel_pending_run(session, portal_id, run_id))

        canceller = threading.Thread(target=cancel)
        canceller.start()
        _wait_until_blocked(sessions)
        assert outcome == []  # still waiting on the worker's lock
    canceller.join(DEADLINE_S)
    assert outcome == [False] and _status(sessions, run_id) == "running"


def _wait_until_blocked(sessions) -> None:
    """Until another backend of this database waits on a lock for an UPDATE of sync_runs."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        with sessions() as session:
            waiting = session.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query ILIKE 'UPDATE sync_runs%' AND datname = current_database()"))
        if waiting:
            return
        time.sleep(0.05)
    raise AssertionError("the cancel never waited on the worker's row lock")
