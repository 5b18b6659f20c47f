"""The engine's test rig: a stack with the app installed and QuickBooks connected, clients on the stored tokens."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clients.bitrix24 import Bitrix24Client
from clients.bitrix24_auth import AppCredentials
from clients.coordination import locks_for
from clients.quickbooks import QuickBooksClient
from clients.quickbooks_auth import QboApp, QboOAuth
from clients.quickbooks_limits import QboGate
from clients.ratelimit import make_limiter
from config.settings import Settings
from qb24.demo import connect_quickbooks, install_app, open_app_page
from qb24.stack import Stack
from store.crypto import TokenCipher
from store.db import make_engine, make_session_factory, transaction
from store.models import Link, Portal, QboConnection, SyncRun
from store.tokens import SqlPortalTokens, SqlRealmTokens
from tests.webhooks.stack_support import running_stack
from workers.celery_app import DAILY_S


@dataclass
class Rig:
    """A connected portal: the stack, the store and both clients as the worker builds them."""

    stack: Stack
    sessions: sessionmaker[Session]
    redis_url: str | None

    @property
    def member_id(self) -> str:
        return self.stack.b24.default_member_id

    def clients(self) -> tuple[QuickBooksClient, Bitrix24Client]:
        settings = self.stack.settings
        return (quickbooks_client(settings, self.sessions, self.redis_url),
                bitrix24_client(settings, self.member_id, self.sessions, self.redis_url))

    def portal(self) -> Portal:
        with self.sessions() as session:
            return session.scalar(select(Portal).where(Portal.member_id == self.member_id))

    def new_run(self, kind: str = "full") -> int:
        with transaction(self.sessions) as session:
            run = SyncRun(portal_id=self.portal().id, kind=kind, status="pending")
            session.add(run)
            session.flush()
            return run.id

    def run(self, run_id: int) -> SyncRun:
        with self.sessions() as session:
            return session.get(SyncRun, run_id)

    def links(self) -> list[Link]:
        with self.sessions() as session:
            return list(session.scalars(select(Link).order_by(Link.qbo_type, Link.qbo_id)))

    def set_settings(self, **values: Any) -> None:
        with transaction(self.sessions) as session:
            portal = session.scalar(select(Portal).where(Portal.member_id == self.member_id))
            portal.settings = {**(portal.settings or {}), **values}

    def control(self, path: str, payload: dict | None = None) -> Any:
        response = requests.post(f"{self.stack.b24.control_url}/portals/{self.member_id}/{path}", json=payload,
                                 timeout=30)
        response.raise_for_status()
        return response.json()


@contextmanager
def connected_rig(tmp_path: Path, kind: str = "postgresql+redis") -> Iterator[Rig]:
    """Install the app into the default portal and connect the sample QuickBooks company, as an admin does.

    The tests drive runs and pulls themselves (the engine, run_pull): the sandbox posts no webhooks and
    beat's reconciliation waits a day, so the embedded realtime worker never pulls alongside a test's own
    pull (which would then answer "busy", or defer a run the test drives)."""
    with running_stack(kind, tmp_path, webhook_format=None, RECONCILE_INTERVAL_S=str(DAILY_S)) as stack:
        browser = requests.Session()
        install_app(stack, browser, stack.b24.default_member_id)
        connect_quickbooks(browser, stack.url, open_app_page(stack, browser, stack.b24.default_member_id))
        engine = make_engine(stack.settings.database_url)
        try:
            yield Rig(stack, make_session_factory(engine), stack.settings.redis_url)
        finally:
            engine.dispose()


def _redis(url: str | None) -> redis.Redis | None:
    return redis.Redis.from_url(url) if url else None


def bitrix24_client(settings: Settings, member_id: str, sessions: sessionmaker[Session],
                    redis_url: str | None) -> Bitrix24Client:
    client = _redis(redis_url)
    tokens = SqlPortalTokens(sessions, TokenCipher(settings.token_encryption_key))
    # the sandbox's own limits are what this exercises; a generous local bucket keeps tests quick
    return Bitrix24Client(member_id, tokens,
                          AppCredentials(settings.b24_client_id, settings.b24_client_secret),
                          locks_for(client), make_limiter(client, 50.0, 500), timeout=(5, 60))


def quickbooks_client(settings: Settings, sessions: sessionmaker[Session], redis_url: str | None) -> QuickBooksClient:
    client = _redis(redis_url)
    with sessions() as session:
        realm_id = session.scalar(select(QboConnection.realm_id))
    oauth = QboOAuth(QboApp(settings.qbo_client_id, settings.qbo_client_secret, settings.qbo_redirect_uri,
                            settings.qbo_environment))
    return QuickBooksClient(realm_id, tokens=SqlRealmTokens(sessions, TokenCipher(settings.token_encryption_key)),
                            oauth=oauth, locks=locks_for(client), api_base=settings.qbo_api_base,
                            gate=QboGate(client))


def b24_rows(b24: Bitrix24Client, entity: str, select_: list[str] | None = None) -> list[dict]:
    """Every record of a kind, read back through Bitrix24's REST API."""
    if entity == "smart_invoice":
        return list(b24.list_all("crm.item.list", {"entityTypeId": 31, "select": select_ or ["*"]}))
    method = {"contact": "crm.contact.list", "company": "crm.company.list", "invoice": "crm.invoice.list"}[entity]
    return list(b24.list_all(method, {"select": select_ or ["*", "EMAIL", "PHONE"]}))
