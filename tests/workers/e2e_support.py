"""The end-to-end sync harness: the app installed in the Bitrix24 sandbox, QuickBooks connected, clients
built on the stored tokens, runs started and driven through `run_full_sync` (STYLE: not through a task)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clients.bitrix24 import Bitrix24Client
from clients.quickbooks import QuickBooksClient
from qb24.demo import b24_control, connect_quickbooks, install_app, open_app_page
from qb24.stack import Stack
from store.models import Portal, QboConnection, SyncRun
from tests.webhooks.stack_support import running_stack
from webhooks import services
from workers.full_sync import run_full_sync

SMART, OLD = "smart_invoice", "invoice"
WRITE_VERBS = ("add", "update", "set", "delete")
FAST_PORTAL = {"speedup": 20, "reset_bucket": True}  # rate-limit realism is the bench's job, not these tests'


class CountingSession(requests.Session):
    """A requests session that counts Bitrix24 REST methods, batch commands included (by method name)."""

    def __init__(self) -> None:
        super().__init__()
        self.methods: Counter[str] = Counter()

    def post(self, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        method = url.rsplit("/", 1)[-1].removesuffix(".json")
        if method == "batch":
            for command in ((kwargs.get("json") or {}).get("cmd") or {}).values():
                self.methods[command.split("?", 1)[0]] += 1
        else:
            self.methods[method] += 1
        return super().post(url, *args, **kwargs)

    def writes(self) -> Counter[str]:
        """Methods that change CRM data (…add, …update, …set, …delete), with their counts."""
        return Counter({m: n for m, n in self.methods.items() if m.rsplit(".", 1)[-1] in WRITE_VERBS})


@dataclass
class World:
    """One installed, connected portal and what a test needs to sync it and read it back."""

    stack: Stack
    kind: str
    target: str
    member_id: str
    realm_id: str
    portal_id: int
    qbo: QuickBooksClient
    b24: Bitrix24Client
    counter: CountingSession
    reader: Bitrix24Client
    runs: list[int] = field(default_factory=list)

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.stack.app.extensions["qb24"].sessions

    def control(self, path: str, payload: dict | None = None, method: str = "POST") -> Any:
        """The Bitrix24 sandbox's control API for this portal."""
        return b24_control(self.stack, f"portals/{self.member_id}/{path}", payload, method)


@contextmanager
def synced_world(kind: str, tmp_path: Path, target: str) -> Iterator[World]:
    """Install the app in the sandbox portal, connect the QuickBooks sample company, pick the invoice kind."""
    with running_stack(kind, tmp_path) as stack:
        browser = requests.Session()
        member_id = stack.b24.default_member_id
        install_app(stack, browser, member_id)
        connect_quickbooks(browser, stack.url, open_app_page(stack, browser, member_id))
        b24_control(stack, f"portals/{member_id}/settings", FAST_PORTAL)
        yield _world(stack, kind, target, member_id)


def _world(stack: Stack, kind: str, target: str, member_id: str) -> World:
    runtime = stack.app.extensions["qb24"]
    with runtime.sessions.begin() as session:
        portal = session.scalar(select(Portal).where(Portal.member_id == member_id))
        portal.settings = {**(portal.settings or {}), "use_new_invoice": target == SMART}
        realm_id = session.scalar(select(QboConnection.realm_id).where(QboConnection.portal_id == portal.id))
        portal_id = portal.id
    counter = CountingSession()
    with stack.app.app_context():  # the service's own builders, on the stored tokens
        qbo, b24, reader = (services.quickbooks_client(realm_id), services.bitrix24_client(member_id),
                            services.bitrix24_client(member_id))
    b24.session = counter
    return World(stack, kind, target, member_id, realm_id, portal_id, qbo, b24, counter, reader)


def run_sync(world: World, *, today: date | None = None) -> SyncRun:
    """A new full run for the portal, driven to its end by the engine; the run row as it ended."""
    with world.sessions.begin() as session:
        run = SyncRun(portal_id=world.portal_id, kind="full", status="pending")
        session.add(run)
        session.flush()
        run_id = run.id
    world.runs.append(run_id)
    world.counter.methods.clear()
    status = run_full_sync(world.sessions, run_id, qbo=world.qbo, b24=world.b24, today=today or date.today())
    with world.sessions() as session:
        ended = session.get(SyncRun, run_id)
        session.expunge(ended)
    assert ended.status == status == "done", (status, ended.error, ended.report)
    return ended
