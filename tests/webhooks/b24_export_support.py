"""Helpers of the add-event export tests: a connected stack whose sandbox portal fires real ONCRM*ADD events
at /webhooks/bitrix24 (sandbox/bitrix24/events.py), and what QuickBooks and the store hold after."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select

from clients.quickbooks import quoted
from store.db import transaction
from store.models import Portal, QboConnection, ReceivedEvent
from tests.services import EXPORT_REDIS_URL, postgres_schema, redis_client
from tests.support import wait_for
from tests.webhooks.stack_support import b24_control
from tests.workers.entry_support import ROOT, Connected, connected_stack, settings_env

ADD_EVENTS = ("ONCRMCONTACTADD", "ONCRMCOMPANYADD")


def set_export(connected: Connected, on: bool) -> None:
    """The portal's `export_new_contacts` setting (the form's own path is tested in test_pages.py)."""
    with transaction(connected.services.sessions) as session:
        portal = session.scalar(select(Portal).where(Portal.member_id == connected.stack.b24.default_member_id))
        portal.settings = {**(portal.settings or {}), "export_new_contacts": on}


def realm_id(connected: Connected) -> str:
    with connected.services.sessions() as session:
        return session.scalar(select(QboConnection.realm_id))


def add_by_hand(connected: Connected, kind: str, fields: dict, origin: str = "user") -> str:
    """A record made in the portal (as a user, or by a robot: `origin`); the sandbox fires its add event."""
    out = b24_control(connected.stack, f"portals/{connected.stack.b24.default_member_id}/seed",
                      {f"{kind}s" if kind == "contact" else "companies": [fields], "origin": origin})
    return str(out["contacts" if kind == "contact" else "companies"][0])


def sent_adds(connected: Connected) -> list[dict]:
    """Every add event the sandbox sent to the app's handler (the control API's log)."""
    stack = connected.stack
    rows = b24_control(stack, f"events?member_id={stack.b24.default_member_id}", method="GET")
    return [row for row in rows if row["event"] in ADD_EVENTS and row["client_id"] == stack.settings.b24_client_id]


def all_handled(connected: Connected, expected: int, timeout: float = 60.0) -> list[ReceivedEvent]:
    """Wait until `expected` add events were delivered, recorded and handled by the worker; the rows."""
    def done() -> list[ReceivedEvent] | None:
        sent = sent_adds(connected)
        if len(sent) < expected or any(row["status"] is None and not row["error"] for row in sent):
            return None
        with connected.services.sessions() as session:
            rows = list(session.scalars(select(ReceivedEvent).where(ReceivedEvent.source == "b24")))
        return rows if len(rows) >= expected and all(r.handled_at is not None for r in rows) else None

    return wait_for(done, f"{expected} add events to be handled", timeout=timeout, poll=0.2)


def customers_named(connected: Connected, name: str) -> list[dict]:
    qbo = connected.services.quickbooks_client(realm_id(connected))
    return qbo.query(f"SELECT * FROM Customer WHERE DisplayName = {quoted(name)}")


def customer_count(connected: Connected) -> int:
    qbo = connected.services.quickbooks_client(realm_id(connected))
    return sum(len(page) for _, page in qbo.query_pages("Customer", "Active IN (true, false)"))


def b24_commands(connected: Connected) -> dict[str, int]:
    """The portal's commands run so far by method (a batch's commands each count; sandbox control API)."""
    stack = connected.stack
    return b24_control(stack, f"portals/{stack.b24.default_member_id}/requests", method="GET")["commands"]


@contextmanager
def connected_world(kind: str, tmp_path: Path) -> Iterator[Connected]:
    """A connected stack: "sqlite" (embedded: its own worker threads, in-process markers and locks) or
    "postgresql+redis" as deployed: a `celery worker` process (four threads, every queue) on a Redis database
    of its own, purged first (as tests/workers/test_sync_entry.py: another test's worker on the shared
    WORKER_REDIS_URL would take this one's tasks), Redis markers and locks."""
    if kind == "sqlite":
        with connected_stack(f"sqlite:///{tmp_path / 'world.db'}") as connected:
            yield connected
        return
    redis_client().close()  # skips (or fails, in CI) without Redis
    with postgres_schema() as url, connected_stack(url, REDIS_URL=EXPORT_REDIS_URL) as connected:
        connected.services.celery.control.purge()
        env = {**os.environ, **settings_env(connected.stack.settings), "PYTHONPATH": str(ROOT)}
        worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "--pool",
                                   "threads", "--concurrency", "4", "--without-heartbeat", "--without-mingle",
                                   "--without-gossip", "--loglevel", "WARNING"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            yield connected
        finally:
            worker.terminate()
            worker.wait(30)
            connected.services.sessions.kw["bind"].dispose()  # before the schema is dropped
