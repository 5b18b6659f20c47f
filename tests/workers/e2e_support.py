"""The end-to-end sync harness on the engine's rig: the app installed in the Bitrix24 sandbox, QuickBooks
connected, the invoice kind chosen, the engine's Bitrix24 requests counted by method, runs driven through
`run_full_sync` directly (STYLE: tasks are not how logic is tested)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import requests

from clients.bitrix24 import Bitrix24Client
from clients.quickbooks import QuickBooksClient
from qb24.demo import b24_control
from store.models import SyncRun
from tests.workers.sync_support import Rig, connected_rig
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
        return writes_of(self.methods)


def writes_of(methods: dict[str, int]) -> Counter[str]:
    return Counter({m: n for m, n in methods.items() if m.rsplit(".", 1)[-1] in WRITE_VERBS and n})


@dataclass
class World:
    """The engine's rig (sync_support.Rig) plus what these tests add: the invoice kind, a counting client."""

    rig: Rig
    target: str
    realm_id: str
    qbo: QuickBooksClient
    b24: Bitrix24Client         # the engine's client: its requests are counted
    counter: CountingSession
    reader: Bitrix24Client      # the tests' own reads, not counted

    def control(self, path: str, payload: dict | None = None) -> Any:
        """The Bitrix24 sandbox's control API for this portal."""
        return self.rig.control(path, payload)

    def portal_writes(self) -> Counter[str]:
        """Write methods the portal ran since the last run began (its own count, batch commands included)."""
        counts = b24_control(self.rig.stack, f"portals/{self.rig.member_id}/requests", method="GET")
        return writes_of(counts["commands"])


@contextmanager
def synced_world(kind: str, tmp_path: Path, target: str) -> Iterator[World]:
    """Install the app in the sandbox portal, connect the QuickBooks sample company, pick the invoice kind."""
    with connected_rig(tmp_path, kind) as rig:
        rig.control("settings", FAST_PORTAL)
        rig.set_settings(use_new_invoice=target == SMART)
        qbo, b24 = rig.clients()
        counter = CountingSession()
        b24.session = counter
        yield World(rig, target, qbo.realm_id, qbo, b24, counter, rig.clients()[1])


def run_sync(world: World, *, today: date | None = None) -> SyncRun:
    """A new full run for the portal, driven to its end by the engine; the run row as it ended."""
    run_id = world.rig.new_run()
    world.counter.methods.clear()
    world.control("requests/reset")
    status = run_full_sync(world.rig.sessions, run_id, qbo=world.qbo, b24=world.b24,
                           today=today or date.today())
    ended = world.rig.run(run_id)
    assert ended.status == status == "done", (status, ended.error, ended.report)
    return ended
