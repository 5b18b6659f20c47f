"""One process at a time runs a sync run (workers/lease.py), and a run whose process died is resumed:
by a restarted embedded worker (its in-memory queue died with the process) or by `qb24 resync`."""
from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from click.testing import CliRunner
from sqlalchemy import select

from qb24.cli import main
from store.db import transaction
from store.models import QboConnection, SyncRun, utcnow
from tests.support import wait_for
from tests.workers.entry_support import Connected, connected_stack, settings_env
from tests.workers.test_runs import _portal_id
from workers import lease
from workers.embedded import ensure_embedded_worker
from workers.runs import start_run
from workers.full_sync import run_full_sync
from workers.tasks import BUSY, enqueue_full_sync, fail_run, run_sync


def _stuck_run(app: Connected, *, heartbeat_age_s: float | None, kind: str = "full") -> int:
    """A run left "running" by a process that is gone (its queue message with it); last heartbeat that old."""
    with transaction(app.services.sessions) as session:
        portal_id = session.scalar(select(QboConnection)).portal_id
        beat = None if heartbeat_age_s is None else utcnow() - timedelta(seconds=heartbeat_age_s)
        run = SyncRun(portal_id=portal_id, kind=kind, status="running", heartbeat_at=beat)
        session.add(run)
    return run.id


def _status(app: Connected, run_id: int) -> SyncRun:
    with app.services.sessions() as session:
        return session.get(SyncRun, run_id)


def test_the_lease_is_held_renewed_and_released(sessions, monkeypatch):
    monkeypatch.setattr(lease, "BEAT_S", 0.05)
    with transaction(sessions) as session:
        run_id = start_run(session, _portal_id(sessions)).id

    def heartbeat():
        with sessions() as session:
            return session.get(SyncRun, run_id).heartbeat_at

    with lease.held(sessions, run_id) as mine:
        assert mine
        first = heartbeat()
        assert not lease.claim(sessions, run_id)  # a second process is refused while it is held
        with lease.held(sessions, run_id) as theirs:
            assert not theirs
        wait_for(lambda: heartbeat() > first, "a heartbeat", timeout=10)
    assert heartbeat() is None
    assert lease.claim(sessions, run_id)


def test_a_run_another_process_holds_is_not_run_again_until_its_lease_lapses(tmp_path):
    with connected_stack(f"sqlite:///{tmp_path / 'qb24.db'}", worker=False) as app:
        run_id = _stuck_run(app, heartbeat_age_s=1)  # its worker is alive (Redis redelivered its task)
        assert run_sync(app.services, run_id) == BUSY
        assert (_status(app, run_id).status, app.links(), app.b24_ids("crm.item.list")) == ("running", [], set())
        with transaction(app.services.sessions) as session:  # that worker died: no heartbeat since
            session.get(SyncRun, run_id).heartbeat_at = utcnow() - timedelta(seconds=lease.LEASE_S + 1)
        assert run_sync(app.services, run_id) == "done"
        assert _status(app, run_id).heartbeat_at is None


def test_a_busy_task_looks_again_and_takes_the_run_over_once_the_lease_lapses(tmp_path, monkeypatch):
    monkeypatch.setattr(lease, "LEASE_S", 2.0)
    with connected_stack(f"sqlite:///{tmp_path / 'qb24.db'}") as app:
        run_id = _stuck_run(app, heartbeat_age_s=0)
        enqueue_full_sync(app.services, run_id)
        run = app.finished(timeout=120)
        assert (run.id, run.status, run.error) == (run_id, "done", None)
        assert {l.b24_id for l in app.links() if l.b24_type == "smart_invoice"} == app.b24_ids("crm.item.list")


def test_a_restarted_embedded_worker_resumes_the_runs_its_lost_queue_held(tmp_path):
    with connected_stack(f"sqlite:///{tmp_path / 'qb24.db'}", worker=False) as app:
        run_id = _stuck_run(app, heartbeat_age_s=None)  # the process died; its in-memory queue with it
        assert "bulk" not in app.services.celery.embedded.workers  # nothing ran the full sync
        ensure_embedded_worker(app.services.celery)  # the web process starts again
        run = app.finished(timeout=120)
        assert (run.id, run.status, run.error) == (run_id, "done", None)
        assert {l.b24_id for l in app.links() if l.b24_type == "smart_invoice"} == app.b24_ids("crm.item.list")
        assert "Start sync" in app.page() and "Sync queued." in app.start()  # the portal is not blocked


def _resync(app: Connected, *args: str):
    return CliRunner().invoke(main, ["resync", "--portal", app.stack.b24.default_member_id, *args],
                              env=settings_env(app.stack.settings))


def test_resync_resumes_a_run_no_process_is_running(tmp_path):
    with connected_stack(f"sqlite:///{tmp_path / 'qb24.db'}", worker=False) as app:
        run_id = _stuck_run(app, heartbeat_age_s=lease.LEASE_S + 60, kind="dry_run")
        result = _resync(app)
        assert result.exit_code == 0, result.output
        assert f"Run {run_id} (dry run, running) was left unfinished" in result.output
        assert f"Sync run {run_id} (dry run: nothing is written to Bitrix24) for portal" in result.output
        assert [(r.id, r.status) for r in app.runs()] == [(run_id, "done")]


def test_resync_is_refused_while_another_process_runs_the_portals_sync(tmp_path):
    with connected_stack(f"sqlite:///{tmp_path / 'qb24.db'}", worker=False) as app:
        run_id = _stuck_run(app, heartbeat_age_s=5)
        result = _resync(app)
        assert result.exit_code == 1
        assert f"A sync is already running for portal {app.stack.b24.default_member_id} (run {run_id})" in result.output
        assert [(r.id, r.status) for r in app.runs()] == [(run_id, "running")] and app.links() == []


def _take_over(sessions, run_id: int) -> str:
    """Another process claims the run once this one's lease has lapsed (it was paused or cut off)."""
    with transaction(sessions) as session:
        session.get(SyncRun, run_id).heartbeat_at = utcnow() - timedelta(seconds=lease.LEASE_S + 1)
    owner = lease.claim(sessions, run_id)
    assert owner
    return owner


def _lease_of(sessions, run_id: int) -> tuple[str | None, bool]:
    with sessions() as session:
        run = session.get(SyncRun, run_id)
        return run.lease_owner, run.heartbeat_at is not None


def test_a_lapsed_holder_neither_renews_nor_releases_the_new_holders_lease(sessions, monkeypatch):
    monkeypatch.setattr(lease, "BEAT_S", 0.05)
    with transaction(sessions) as session:
        run_id = start_run(session, _portal_id(sessions)).id
    with lease.held(sessions, run_id) as mine:
        assert mine and _lease_of(sessions, run_id) == (mine.owner, True)
        theirs = _take_over(sessions, run_id)
        wait_for(mine.lost.is_set, "the heartbeat to find the lease taken", timeout=10)
        assert _lease_of(sessions, run_id) == (theirs, True)
    assert _lease_of(sessions, run_id) == (theirs, True)  # leaving the block released nothing of theirs


def test_a_stale_holder_stops_at_its_next_checkpoint_and_never_moves_the_cursor(tmp_path):
    with connected_stack(f"sqlite:///{tmp_path / 'qb24.db'}", worker=False) as app:
        sessions, services = app.services.sessions, app.services
        with transaction(sessions) as session:
            run_id = start_run(session, session.scalar(select(QboConnection)).portal_id).id
        b24 = services.bitrix24_client(app.stack.b24.default_member_id)
        batches: list[int] = []
        taken: list[str] = []
        real_batch = b24.batch

        def batch(commands, *args, **kwargs):  # the first write goes out; then the lease lapses and is taken
            answer = real_batch(commands, *args, **kwargs)
            if any(method.endswith(".add") for method, _ in commands.values()):
                batches.append(len(commands))
                taken.append(taken[0] if taken else _take_over(sessions, run_id))
            return answer

        b24.batch = batch
        with lease.held(sessions, run_id) as mine:
            realm_id = session_realm(sessions)
            status = run_full_sync(sessions, run_id, qbo=services.quickbooks_client(realm_id), b24=b24,
                                   page_size=5, lease=mine)
        assert status == lease.LOST and len(batches) == 1  # no write after the checkpoint that saw it
        run = _status(app, run_id)
        assert (run.status, run.cursor["start"], run.cursor["in_flight"]) == ("running", 1, 1)  # page 1 not committed
        assert (run.lease_owner, app.links()) == (taken[0], [])
        with transaction(sessions) as session:  # the new holder dies too; the run resumes and recovers page 1
            session.get(SyncRun, run_id).heartbeat_at = None
        assert run_sync(services, run_id) == "done"
        customers = {l.b24_id for l in app.links() if l.b24_type in ("contact", "company")}
        assert customers == app.b24_ids("crm.contact.list") | app.b24_ids("crm.company.list")


def session_realm(sessions) -> str:
    with sessions() as session:
        return session.scalar(select(QboConnection)).realm_id


def test_failing_a_run_leaves_it_to_the_process_that_holds_its_lease(sessions):
    """fail_run is called outside the lease (Start sync's re-queue when the broker refuses it, a task's last
    retry, a CLI resync's interruption): a run another process claimed meanwhile must stay active, or the
    portal is unblocked while that engine still writes, and a second run would write the same records."""
    def status() -> str:
        with sessions() as session:
            return session.get(SyncRun, run_id).status

    with transaction(sessions) as session:
        run_id = start_run(session, _portal_id(sessions)).id
    services = SimpleNamespace(sessions=sessions)
    theirs = lease.claim(sessions, run_id)
    fail_run(services, run_id, "The sync could not be queued; start it again.")
    assert status() == "pending"
    fail_run(services, run_id, "The sync stopped on an unexpected error.", owner="someone else")
    assert status() == "pending"
    fail_run(services, run_id, "The sync stopped on an unexpected error.", owner=theirs)  # its holder may
    assert status() == "failed"

    with transaction(sessions) as session:
        run_id = start_run(session, _portal_id(sessions)).id
    paused = lease.Lease(run_id, lease.claim(sessions, run_id))
    with transaction(sessions) as session:  # that holder died, or was paused: its lease lapsed
        session.get(SyncRun, run_id).heartbeat_at = utcnow() - timedelta(seconds=lease.LEASE_S + 1)
    fail_run(services, run_id, "Gave up after 20 retries.")
    assert status() == "failed"
    with sessions() as session:  # a paused holder that wakes up stops at its next checkpoint
        assert not lease.still_ours(session, paused)
