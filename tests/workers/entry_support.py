"""The sync's entry points as an administrator reaches them: a stack with the app installed and
QuickBooks connected through the app's own pages, Start sync pressed over HTTP."""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import requests
from sqlalchemy import select

from bench.realtime_procs import settings_env  # noqa: F401 - the worker tests' import
from qb24.demo import connect_quickbooks, install_app, open_app_page
from qb24.stack import Stack, start_stack
from store.models import Link, SyncRun
from tests.support import wait_for
from workers.runs import ACTIVE_RUNS


@dataclass
class Connected:
    """A running stack whose default portal installed the app and connected the sample company."""

    stack: Stack
    browser: requests.Session

    @property
    def services(self):
        return self.stack.app.extensions["qb24"]

    def page(self) -> str:
        return self.browser.get(self.stack.url + "/bitrix24/app", timeout=30).text

    def start(self, mode: str = "full") -> str:
        """Press Start sync (or Dry run) on the app page; the page the redirect lands on."""
        csrf = unescape(re.search(r'<meta name="csrf-token" content="([^"]+)">', self.page()).group(1))
        response = self.browser.post(self.stack.url + "/bitrix24/app/sync", data={"csrf_token": csrf, "mode": mode},
                                     timeout=30)
        response.raise_for_status()
        return response.text

    def runs(self) -> list[SyncRun]:
        with self.services.sessions() as session:
            return list(session.scalars(select(SyncRun).order_by(SyncRun.id)))

    def finished(self, timeout: float = 120.0) -> SyncRun:
        """The latest run once it is over (the worker finishes it asynchronously)."""
        return wait_for(lambda: next((r for r in self.runs()[-1:] if r.status not in ACTIVE_RUNS), None),
                        "the sync run to finish", timeout=timeout, poll=0.2)

    def links(self) -> list[Link]:
        with self.services.sessions() as session:
            return list(session.scalars(select(Link)))

    def b24_ids(self, method: str) -> set[str]:
        """Every record id Bitrix24 holds for a list method, read through its REST API."""
        client = self.services.bitrix24_client(self.stack.b24.default_member_id)
        if method == "crm.item.list":
            return {str(row["id"]) for row in client.list_all(method, {"entityTypeId": 31, "select": ["id"]})}
        return {str(row["ID"]) for row in client.list_all(method, {"select": ["ID"]})}


def connect(stack: Stack) -> Connected:
    """Install the app in the default portal and log in to QuickBooks, as `make demo` does."""
    browser = requests.Session()
    member_id = stack.b24.default_member_id
    install_app(stack, browser, member_id)
    connect_quickbooks(browser, stack.url, open_app_page(stack, browser, member_id))
    return Connected(stack, browser)


@contextmanager
def connected_stack(database_url: str, **overrides: str) -> Iterator[Connected]:
    stack = start_stack(database_url, **overrides)
    try:
        yield connect(stack)
    finally:
        stack.stop()


ROOT = Path(__file__).resolve().parents[2]
