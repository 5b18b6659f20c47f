"""The full-sync bench's world: both sandboxes and the app, a generated company, the app installed
and connected, the Bitrix24 portals at the standard plan's rate times a stated speed-up, and
request counters on both sandboxes.

The speed-up shortens every rate window alike (Bitrix24's leaky bucket drains `speedup` times
faster, QuickBooks admits `speedup` times more requests a minute) and the clients' own limiters are
scaled by the same factor, so a run is the real run with the clock turned faster.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import select

from bench.traffic import Counting, b24_label, count_app, qbo_label
from qb24.demo import b24_control, connect_quickbooks, install_app, open_app_page
from qb24.stack import Stack, start_stack
from store.db import make_engine, make_session_factory
from store.models import Portal, QboConnection

PLAN = "standard"  # reference §8: every plan but Enterprise drains 2 requests/s with a bucket of 50
QBO_RATE_PER_MINUTE = 500  # reference (QuickBooks) §6, per realm
QBO_BATCH_PER_MINUTE = 40
# The generated company bills in these (sandbox.quickbooks.company_generator); a new sandbox portal
# has only USD and EUR. The admin adds the rest first, so no invoice fails on a currency.
CURRENCIES = [{"CURRENCY": "USD", "BASE": "Y", "SORT": 100}, {"CURRENCY": "EUR", "AMOUNT": 1.08, "SORT": 200},
              {"CURRENCY": "GBP", "AMOUNT": 1.27, "SORT": 300},
              {"CURRENCY": "CAD", "AMOUNT": 0.73, "SORT": 400}]


@dataclass
class Harness:
    """The running world of one bench invocation."""

    stack: Stack
    realm_id: str
    speedup: float
    invoice_kind: str
    qbo_traffic: Counting
    customers: int = 0   # what the company really holds (the generator may fall short of the asked invoices)
    invoices: int = 0
    baseline_member_id: str = ""  # the second portal the record-by-record copy goes to
    b24_traffic: dict[str, Counting] = field(default_factory=dict)  # by member_id

    def stop(self) -> None:
        self.stack.stop()

    def worker_config(self, member_id: str) -> dict[str, Any]:
        """What a worker process needs to build the service's clients (no Flask, no sandbox)."""
        s = self.stack.settings
        return {"database_url": s.database_url, "token_key": s.token_encryption_key, "speedup": self.speedup,
                "member_id": member_id, "realm_id": self.realm_id,
                "qbo": {"client_id": s.qbo_client_id, "client_secret": s.qbo_client_secret,
                        "redirect_uri": s.qbo_redirect_uri, "environment": s.qbo_environment,
                        "api_base": s.qbo_api_base},
                "b24": {"client_id": s.b24_client_id, "client_secret": s.b24_client_secret}}


def start_harness(database_url: str, *, customers: int, invoices: int, seed: int, speedup: float,
                  invoice_kind: str) -> Harness:
    """Start everything, seed the company, install and connect the app on the default portal, and
    prepare the baseline's portal now, while nothing else loads the machine (an install waits for
    its ONAPPINSTALL delivery, which a busy sandbox may not make in time)."""
    stack = start_stack(database_url)
    try:
        qbo_traffic = count_app(stack.qbo.server.server.app, qbo_label)
        realm_id, counts = seed_company(stack, customers, invoices, seed, speedup)
        harness = Harness(stack, realm_id, speedup, invoice_kind, qbo_traffic,
                          customers=counts["Customer"], invoices=counts["Invoice"])
        browser = requests.Session()
        add_portal(harness, stack.b24.default_member_id, browser)
        connect_quickbooks(browser, stack.url, open_app_page(stack, browser, stack.b24.default_member_id))
        set_invoice_kind(harness, stack.b24.default_member_id)
        harness.baseline_member_id = add_portal(harness)
        set_invoice_kind(harness, harness.baseline_member_id)
    except Exception:
        stack.stop()
        raise
    return harness


def seed_company(stack: Stack, customers: int, invoices: int, seed: int, speedup: float) -> tuple[str, dict]:
    """The sandbox's generated company in the realm the consent screen approves; its limits sped up."""
    stack.qbo.control("settings", {"rate_per_minute": int(QBO_RATE_PER_MINUTE * speedup),
                                   "batch_rate_per_minute": int(QBO_BATCH_PER_MINUTE * speedup)})
    answer = stack.qbo.control("seed", {"customers": customers, "invoices": invoices, "seed": seed})
    return answer["realm_id"], answer["counts"]


def add_portal(harness: Harness, member_id: str | None = None, browser: requests.Session | None = None) -> str:
    """A portal (new unless given) at the plan's rate × speed-up, the app installed, its traffic counted."""
    stack = harness.stack
    if member_id is None:
        member_id = b24_control(stack, "portals", {"plan": PLAN})["member_id"]
    b24_control(stack, f"portals/{member_id}/settings",
                {"plan": PLAN, "speedup": harness.speedup, "reset_bucket": True})
    b24_control(stack, f"portals/{member_id}/currencies", {"currencies": CURRENCIES})
    install_app(stack, browser or requests.Session(), member_id)
    # The sandbox keeps one listener per portal; counting wraps that listener's Flask app.
    server = stack.b24._portal_servers[member_id]  # noqa: SLF001 - the bench's measuring tap
    harness.b24_traffic[member_id] = count_app(server.server.app, b24_label)
    return member_id


def set_invoice_kind(harness: Harness, member_id: str) -> None:
    """The portal's Use new invoice setting, as the settings page would save it."""
    engine = make_engine(harness.stack.settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            portal = session.scalar(select(Portal).where(Portal.member_id == member_id))
            portal.settings = {**(portal.settings or {}), "use_new_invoice": harness.invoice_kind == "smart"}
            session.commit()
    finally:
        engine.dispose()


def portal_ids(harness: Harness, member_id: str) -> tuple[int, int | None]:
    """The portal's row id and its QuickBooks connection's row id (None when not connected)."""
    engine = make_engine(harness.stack.settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            portal = session.scalar(select(Portal).where(Portal.member_id == member_id))
            connection = session.scalar(select(QboConnection).where(QboConnection.portal_id == portal.id))
            return portal.id, connection.id if connection else None
    finally:
        engine.dispose()


def run_worker(config: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run bench.full_sync_worker in its own process; its last stdout line is its JSON report."""
    root = str(Path(__file__).resolve().parents[1])  # the checkout this bench belongs to
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "bench.full_sync_worker"], input=json.dumps(config),
                          capture_output=True, text=True, timeout=timeout, env=env)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"worker failed (exit {done.returncode}): {done.stderr[-3000:]}")
    return json.loads(lines[-1])
