"""Helpers of the queue, beat and revocation tests: an embedded app on a fresh store, and what it publishes."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import requests
from celery.signals import before_task_publish

from clients.quickbooks_auth import QboTokens
from config.settings import load_settings
from qb24.stack import Stack, start_stack
from store.db import migrate, transaction
from store.lifecycle import end_install
from store.portals import connect_realm, ensure_portal
from tests.config.test_settings import VALID
from workers.context import Services


class Published(NamedTuple):
    task: str
    args: tuple
    kwargs: dict
    queue: str


@contextmanager
def published(services: Services) -> Iterator[list[Published]]:
    """Every task message the services' Celery app publishes meanwhile (Celery's before_task_publish
    signal, in the publishing thread: a web request, a worker, beat), with the queue it went to."""
    suffix, seen = services.celery.queue_suffix, []

    def record(sender: str, body: Any, routing_key: str = "", **_: Any) -> None:
        if suffix and routing_key.endswith(suffix):  # this app's queues only (other apps run in tests too)
            args, kwargs, _embed = body
            seen.append(Published(sender, tuple(args), dict(kwargs), routing_key.removesuffix(suffix)))

    before_task_publish.connect(record, weak=False)
    try:
        yield seen
    finally:
        before_task_publish.disconnect(record)


@contextmanager
def embedded_services(tmp_path: Path, **env: str) -> Iterator[Services]:
    """Services of an embedded app (in-memory broker) on a migrated SQLite store; closed after."""
    url = f"sqlite:///{tmp_path / 'qb24.db'}"
    migrate(url)
    services = Services.from_settings(load_settings({**VALID, "DATABASE_URL": url, **env}))
    try:
        yield services
    finally:
        services.close()


def add_portal(services: Services, member_id: str, realm_id: str | None, *, installed: bool = True,
               connection: str = "connected", watermark: str | None = None) -> int:
    """A portal (installed or not), with a QuickBooks connection in the given status when `realm_id`."""
    with transaction(services.sessions) as session:
        portal = ensure_portal(session, member_id=member_id, domain=f"{member_id}.bitrix24.com",
                               client_endpoint=f"https://{member_id}.bitrix24.com/rest/",
                               server_endpoint="https://oauth.bitrix.info/rest/")
        if realm_id is not None:
            row = connect_realm(session, portal, QboTokens(realm_id, "access", "refresh"), services.token_cipher())
            row.status, row.cdc_watermark = connection, watermark
        if not installed:
            end_install(portal)
        return portal.id


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """Both sandboxes and the app, embedded; its bulk worker left out (no full sync runs by itself)."""
    running = start_stack(f"sqlite:///{tmp_path / 'web.db'}", worker=False)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def browser() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session
