"""A production-shaped world for the real-time sync: both sandboxes and the app on PostgreSQL and a
Redis of its own, real `celery worker` processes, portals installed and connected to their own
QuickBooks companies, QuickBooks webhooks pointed at the app, and a way to tell when all is quiet.

Shared by the chaos and two-portal tests (tests/workers/) and bench/bench_realtime.py.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from datetime import datetime
from dataclasses import dataclass, field
from typing import Any, Callable

import redis
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bench.realtime_procs import CeleryBeat, CeleryWorker, RedisServer, settings_env
from clients.bitrix24 import Bitrix24Client
from clients.quickbooks import QuickBooksClient
from qb24.demo import b24_control, connect_quickbooks, install_app, open_app_page
from qb24.stack import Stack, start_stack
from store.db import make_engine, make_session_factory, transaction
from store.models import Portal, QboConnection, SyncRun
from workers.context import Services
from workers.runs import ACTIVE_RUNS, start_run
from workers.tasks import enqueue_full_sync

ALL_QUEUES = "realtime,celery,bulk"
LATER_S = 30.0
QUEUES = ("realtime", "celery", "bulk")
# Every currency the generated and the sample company bill in, so no invoice fails on one (issue-9 bench).
CURRENCIES = [{"CURRENCY": "USD", "BASE": "Y", "SORT": 100}, {"CURRENCY": "EUR", "AMOUNT": 1.08, "SORT": 200},
              {"CURRENCY": "GBP", "AMOUNT": 1.27, "SORT": 300}, {"CURRENCY": "CAD", "AMOUNT": 0.73, "SORT": 400}]


@dataclass(frozen=True)
class Tenant:
    """One Bitrix24 portal connected to one QuickBooks company."""

    member_id: str
    realm_id: str
    portal_id: int


@dataclass
class RealtimeWorld:
    stack: Stack
    redis: RedisServer
    sessions: sessionmaker[Session]
    workers: list[CeleryWorker] = field(default_factory=list)
    _names: int = 0
    _respawn: dict[CeleryWorker, Callable[[], CeleryWorker]] = field(default_factory=dict)

    # -- processes --------------------------------------------------------------------------------

    def start_worker(self, queues: str = ALL_QUEUES) -> CeleryWorker:
        self._names += 1
        worker = CeleryWorker(settings_env(self.stack.settings), queues, f"w{self._names}").wait_ready()
        self.workers.append(worker)
        self._respawn[worker] = lambda: self.start_worker(queues)
        return worker

    def start_beat(self, interval_s: float) -> CeleryWorker:
        """`celery beat` with RECONCILE_INTERVAL_S = interval_s (the reconciliation's schedule)."""
        env = {**settings_env(self.stack.settings), "RECONCILE_INTERVAL_S": str(interval_s)}
        beat = CeleryBeat(env, "beat", os.path.join(tempfile.mkdtemp(prefix="qb24-beat-"), "schedule")).wait_ready()
        self.workers.append(beat)
        self._respawn[beat] = lambda: self.start_beat(interval_s)
        return beat

    def revive(self) -> None:
        """What docker-compose's `restart: unless-stopped` does: a process that exited (killed, or a Celery
        worker that gave up when Redis went away) is started again."""
        for process, respawn in list(self._respawn.items()):
            if process.process.poll() is not None:
                del self._respawn[process]
                respawn()

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.stack.stop()
        self.stack.app.extensions["qb24"].sessions.kw["bind"].dispose()
        self.sessions.kw["bind"].dispose()
        self.redis.stop()

    def worker_logs(self) -> str:
        return "\n".join(f"--- {w.name}\n{w.output()[-4000:]}" for w in self.workers)

    # -- tenants ----------------------------------------------------------------------------------

    def add_realm(self, **company: Any) -> str:
        """Another QuickBooks company: the sample ({}) or generated ({"customers", "invoices", "seed"})."""
        return self.stack.qbo.control("realms", company)["realm_id"]

    def add_tenant(self, realm_id: str, portal: dict[str, Any], member_id: str | None = None) -> Tenant:
        """A portal (the default one unless `member_id` is None and another exists) with `portal`'s limits,
        the app installed, logged in to `realm_id`, Smart Invoices on."""
        stack = self.stack
        member_id = member_id or b24_control(stack, "portals", {"plan": "standard"})["member_id"]
        b24_control(stack, f"portals/{member_id}/settings", {**portal, "reset_bucket": True})
        b24_control(stack, f"portals/{member_id}/currencies", {"currencies": CURRENCIES})
        browser = requests.Session()
        install_app(stack, browser, member_id)
        stack.qbo.control("settings", {"auto_approve_realm_id": realm_id})
        connect_quickbooks(browser, stack.url, open_app_page(stack, browser, member_id))
        with transaction(self.sessions) as session:
            row = session.scalar(select(Portal).where(Portal.member_id == member_id))
            row.settings = {**(row.settings or {}), "use_new_invoice": True}
            return Tenant(member_id, realm_id, row.id)

    def start_full_sync(self, tenant: Tenant) -> int:
        """Start sync, as the app page does: a pending run, queued on the bulk queue."""
        with transaction(self.sessions) as session:
            run_id = start_run(session, tenant.portal_id).id
        enqueue_full_sync(self.services, run_id)
        return run_id

    def run(self, run_id: int) -> SyncRun:
        with self.sessions() as session:
            return session.get(SyncRun, run_id)

    def wait_run(self, run_id: int, timeout: float) -> SyncRun:
        deadline = time.monotonic() + timeout
        while (run := self.run(run_id)).status in ACTIVE_RUNS:
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} still {run.status} after {timeout:.0f} s\n{self.worker_logs()}")
            time.sleep(0.1)
        return run

    def connection(self, realm_id: str) -> QboConnection:
        with self.sessions() as session:
            return session.scalar(select(QboConnection).where(QboConnection.realm_id == realm_id))

    # -- clients ----------------------------------------------------------------------------------

    def qbo(self, realm_id: str) -> QuickBooksClient:
        """A client on the realm's stored tokens (what an admin's own QuickBooks edits stand for)."""
        return self.services.quickbooks_client(realm_id)

    def b24(self, member_id: str) -> Bitrix24Client:
        return self.services.bitrix24_client(member_id)

    @property
    def services(self) -> Services:
        return self.stack.app.extensions["qb24"]

    def b24_writes(self, member_id: str, since: int = 0) -> list[dict[str, Any]]:
        """The portal's logged CRM writes (sandbox/bitrix24/write_log.py), with their times."""
        return b24_control(self.stack, f"portals/{member_id}/writes?since={since}", method="GET")

    # -- webhooks and quiet -----------------------------------------------------------------------

    def webhooks(self, **config: Any) -> dict[str, Any]:
        """Point the QuickBooks sandbox's webhooks at the app (CloudEvents, as Intuit sends since 2026)."""
        settings = self.stack.settings
        base = {"url": settings.app_base_url + "/webhooks/quickbooks", "verifier_token": settings.qbo_verifier_token,
                "format": "cloudevents", "retry_scale": 0.05, "aggregation_seconds": 0}
        return self.stack.qbo.control("webhooks", {**base, **config})

    def quiet(self) -> str | None:
        """None when nothing is left to do, else what is still going on."""
        pending = self.stack.qbo.control("webhooks/deliveries", method="GET")["pending"]
        if pending:
            return f"{pending} webhook events not yet delivered"
        with self.sessions() as session:
            for c in session.scalars(select(QboConnection)):
                if c.pull_owner or c.pull_again or c.pull_in_flight:
                    return (f"realm {c.realm_id}: pull owner {c.pull_owner}, again {c.pull_again}, "
                            f"in flight {c.pull_in_flight}")
            if session.scalar(select(SyncRun.id).where(SyncRun.status.in_(ACTIVE_RUNS))):
                return "a sync run is active"
        broker = redis.Redis.from_url(self.redis.url)
        try:
            queued = {q: sum(broker.llen(key) for key in broker.scan_iter(f"{q}*")) for q in QUEUES}
            later = _scheduled_later(broker)
            unacked = broker.hlen("unacked") - len(later)
        except redis.ConnectionError:
            return "Redis is down"
        finally:
            broker.close()
        # Tasks ack late: one running is still unacked, so no worker's log needs reading (a task a worker
        # held when Redis restarted is gone with it, whatever its log said).
        if any(queued.values()) or unacked:
            return f"queued {queued}, unacked {unacked}"
        return None

    def wait_quiet(self, timeout: float) -> None:
        """Until quiet twice in a row, a quarter second apart (a pull may queue its follow-up)."""
        deadline, calm, why = time.monotonic() + timeout, 0, "?"
        while calm < 2:
            if time.monotonic() > deadline:
                raise AssertionError(f"not quiet after {timeout:.0f} s: {why}\n{self.worker_logs()}")
            self.revive()
            why = self.quiet()
            calm = calm + 1 if why is None else 0
            time.sleep(0.25)


def _scheduled_later(broker: redis.Redis) -> set[str]:
    """Ids of tasks a worker holds for later (an ETA more than LATER_S ahead: the pull's look-again
    safety net, LEASE_S away), which are no work left to do now; retries due sooner still count."""
    later: set[str] = set()
    for raw in broker.hvals("unacked"):
        headers = json.loads(raw)[0].get("headers") or {}
        eta = headers.get("eta")
        if eta and datetime.fromisoformat(eta).timestamp() > time.time() + LATER_S:
            later.add(headers.get("id"))
    return later


def start_world(database_url: str) -> RealtimeWorld:
    """Redis, then both sandboxes and the app on it (no embedded worker: workers are processes)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = RedisServer().start()
    try:
        stack = start_stack(database_url, REDIS_URL=server.url)
    except Exception:
        server.stop()
        raise
    return RealtimeWorld(stack, server, make_session_factory(make_engine(stack.settings.database_url)))
