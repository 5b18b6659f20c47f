"""Start sync on the app page queues the full_sync task; a worker runs it: the embedded one in the
web process (no REDIS_URL) or a real `celery worker` process on Redis and PostgreSQL."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

from sqlalchemy import select

from store.db import transaction
from store.models import QboConnection, SyncRun
from tests.services import WORKER_PROCESS_REDIS_URL, postgres_schema, redis_client
from tests.workers.entry_support import ROOT, connected_stack, settings_env
from workers.full_sync import run_full_sync
from workers.tasks import enqueue_full_sync, run_sync


def test_start_sync_runs_on_the_embedded_worker_and_fills_bitrix24(tmp_path):
    with connected_stack(f"sqlite:///{tmp_path / 'qb24.db'}") as app:
        worker = app.services.celery.embedded.workers["bulk"]  # full syncs: the bulk queue's worker
        assert worker.thread.is_alive()
        assert "Sync queued." in app.start()
        run = app.finished()
        assert (run.kind, run.status, run.error) == ("full", "done", None)
        links = app.links()
        contacts, companies = app.b24_ids("crm.contact.list"), app.b24_ids("crm.company.list")
        invoices = app.b24_ids("crm.item.list")
        # Every link names a record Bitrix24 holds, and every record Bitrix24 holds was linked.
        assert {l.b24_id for l in links if l.b24_type == "contact"} <= contacts
        assert {l.b24_id for l in links if l.b24_type == "company"} == companies and companies
        assert {l.b24_id for l in links if l.b24_type == "smart_invoice"} == invoices and invoices
        report = run.report
        assert report["customers"]["imported"] >= len(companies) and report["dry_run"] is False
        assert report["invoices"]["imported"] + report["invoices"]["failed"] >= len(invoices)
        page = app.page()
        assert 'id="report"' in page and "Last run's report</h3>" in page


def test_a_second_start_while_one_is_active_queues_nothing(tmp_path):
    with connected_stack(f"sqlite:///{tmp_path / 'qb24.db'}", worker=False) as app:
        assert "Sync queued." in app.start()
        assert "A sync is already queued or running" in app.start("dry_run")
        assert [(r.kind, r.status) for r in app.runs()] == [("full", "pending")]


def test_a_run_whose_connection_is_gone_fails_with_a_reason_on_the_worker(tmp_path):
    with connected_stack(f"sqlite:///{tmp_path / 'qb24.db'}") as app:
        with transaction(app.services.sessions) as session:
            connection = session.scalar(select(QboConnection))
            run = SyncRun(portal_id=connection.portal_id, kind="full", status="pending")
            session.delete(connection)
            session.add(run)
        enqueue_full_sync(app.services, run.id)
        done = app.finished()
        assert done.status == "failed" and "log in with QuickBooks" in done.error


def _worker(env: dict[str, str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "--pool", "solo",
               "--concurrency", "1", "--without-heartbeat", "--without-mingle", "--without-gossip",
               "--loglevel", "INFO"]
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_start_sync_runs_on_a_celery_worker_process_on_redis_and_postgresql(tmp_path):
    redis_client().close()  # skips (or fails in CI) without Redis
    # A Redis database of its own: other tests' queued tasks (their run ids, their schemas) stay theirs.
    with postgres_schema() as url, connected_stack(url, REDIS_URL=WORKER_PROCESS_REDIS_URL) as app:
        assert app.services.celery.embedded is None  # with Redis the web process only enqueues
        worker, lines = _worker(settings_env(app.stack.settings)), []
        reader = threading.Thread(target=lambda: lines.extend(worker.stdout), daemon=True)
        reader.start()
        try:
            assert "Sync queued." in app.start()
            run = app.finished(timeout=180)
        finally:
            worker.terminate()
            worker.wait(30)
            reader.join(10)
        app.services.sessions.kw["bind"].dispose()
        output = "".join(lines)
        assert (run.status, run.error) == ("done", None), output[-3000:]
        assert "qb24.full_sync[" in output and "succeeded" in output  # the worker process ran it
        assert {l.b24_id for l in app.links() if l.b24_type == "smart_invoice"} == app.b24_ids("crm.item.list")


def test_a_redelivered_task_of_a_finished_run_writes_nothing(tmp_path):
    with connected_stack(f"sqlite:///{tmp_path / 'qb24.db'}", worker=False) as app:
        app.start()
        run_id = app.runs()[-1].id
        assert run_sync(app.services, run_id) == "done"
        links, invoices = len(app.links()), app.b24_ids("crm.item.list")
        assert run_sync(app.services, run_id) == "done"  # acks late: a task may arrive twice
        assert (len(app.links()), app.b24_ids("crm.item.list")) == (links, invoices)


def test_an_interrupted_run_is_retried_on_the_embedded_worker_and_finishes(tmp_path, monkeypatch):
    import requests

    import workers.tasks

    calls = []

    def flaky(*args, **kwargs):  # the first attempt loses its connection (a TRANSIENT error)
        calls.append(1)
        if len(calls) == 1:
            raise requests.ConnectionError("connection reset")
        return run_full_sync(*args, **kwargs)

    monkeypatch.setattr(workers.tasks, "RETRY_DELAY_S", 0.5)
    monkeypatch.setattr(workers.tasks, "run_full_sync", flaky)
    with connected_stack(f"sqlite:///{tmp_path / 'qb24.db'}") as app:
        assert "Sync queued." in app.start()
        run = app.finished()  # the retry is a countdown task: it runs from the worker's timer thread
        assert (len(calls), run.status, run.error) == (2, "done", None)
