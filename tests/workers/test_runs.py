"""At most one pending or running sync run per portal: start_run's check, and the partial unique
index (migration 0006) that settles two starts racing past it, on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from store.db import transaction
from store.models import SyncRun
from store.portals import ensure_portal
from workers import runs
from workers.runs import RunActive, cancel_runs, start_run


def _portal_id(sessions, member_id: str = "m-1") -> int:
    with transaction(sessions) as session:
        return ensure_portal(session, member_id=member_id, domain=f"{member_id}.bitrix24.com",
                             client_endpoint=f"https://{member_id}.bitrix24.com/rest/",
                             server_endpoint="https://oauth.bitrix.info/rest/").id


def test_a_second_start_is_refused_until_the_first_is_over(sessions):
    portal_id, other = _portal_id(sessions), _portal_id(sessions, "m-2")
    with transaction(sessions) as session:
        first = start_run(session, portal_id)
    with pytest.raises(RunActive) as refused, transaction(sessions) as session:
        start_run(session, portal_id, dry_run=True)
    assert refused.value.run_id == first.id
    with transaction(sessions) as session:
        assert start_run(session, other).kind == "full"  # another portal is not affected
        session.get(SyncRun, first.id).status = "running"
        assert cancel_runs(session, portal_id) == 1  # log out / uninstall
    with transaction(sessions) as session:
        dry = start_run(session, portal_id, dry_run=True)
    assert (dry.kind, dry.status) == ("dry_run", "pending")


def test_the_index_refuses_a_start_that_raced_past_the_check(sessions, monkeypatch):
    portal_id = _portal_id(sessions)
    with transaction(sessions) as session:
        start_run(session, portal_id)
    monkeypatch.setattr(runs, "active_run", lambda session, portal_id: None)  # both saw no active run
    with pytest.raises(RunActive), transaction(sessions) as session:
        start_run(session, portal_id)
    with pytest.raises(IntegrityError), transaction(sessions) as session:
        session.add(SyncRun(portal_id=portal_id, kind="full", status="running"))
    with transaction(sessions) as session:  # finished runs are not constrained
        session.add_all([SyncRun(portal_id=portal_id, kind="full", status=s) for s in ("done", "done", "failed")])
    with sessions() as session:
        assert sorted(r.status for r in session.query(SyncRun)) == ["done", "done", "failed", "pending"]
