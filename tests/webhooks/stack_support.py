"""Helpers of the backend's web tests (fixtures are in conftest.py): store snapshots, sandbox portal calls."""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import select

from qb24.demo import b24_control, frame_post, install_app, open_app_page
from qb24.stack import Stack, start_stack
from store.crypto import TokenCipher
from store.db import make_engine, make_session_factory
from store.events import B24_ADD
from store.models import Base, Portal, ReceivedEvent
from tests.services import REDIS_URL, postgres_schema, redis_client
from tests.support import wait_for
from workers.embedded import EmbeddedWorker


@contextmanager
def running_stack(kind: str, tmp_path: Path, **overrides: str) -> Iterator[Stack]:
    """A stack on "sqlite" (embedded: in-process locks and caches) or "postgresql+redis" (as deployed;
    REDIS_URL in `overrides` picks a Redis database of the test's own)."""
    if kind == "sqlite":
        running = start_stack(f"sqlite:///{tmp_path / 'web.db'}", worker=False, **overrides)  # runs stay pending
        try:
            yield running
        finally:
            running.stop()
        return
    redis_client().close()  # skips (or fails, in CI) when Redis is not there
    with postgres_schema() as url:
        running = start_stack(url, **{"REDIS_URL": REDIS_URL, **overrides})
        try:
            yield running
        finally:
            running.stop()
            running.app.extensions["qb24"].sessions.kw["bind"].dispose()  # before the schema is dropped


def snapshot(stack: Stack) -> dict[str, list[tuple]]:
    """Every row of every table, for "nothing changed" assertions."""
    engine = make_engine(stack.settings.database_url)
    try:
        with engine.connect() as db:
            return {table.name: sorted(tuple(map(repr, row)) for row in db.execute(select(table)))
                    for table in Base.metadata.sorted_tables}
    finally:
        engine.dispose()


def read_portal(stack: Stack, member_id: str) -> Portal | None:
    engine = make_engine(stack.settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            return session.scalar(select(Portal).where(Portal.member_id == member_id))
    finally:
        engine.dispose()


@contextmanager
def realtime_worker(stack: Stack) -> Iterator[None]:
    """A Redis stack's worker for the realtime and default queues, as deployed (`celery worker -Q
    realtime,celery`), in this process. The stack's Redis database must be the test's own: its queues
    are purged first, so the worker takes no other test's tasks."""
    celery = stack.app.extensions["qb24"].celery
    celery.control.purge()
    worker = EmbeddedWorker(celery, "realtime").start()
    try:
        yield
    finally:
        _exports_done(stack)
        worker.stop()


def _exports_done(stack: Stack, timeout: float = 15.0) -> None:
    """Let the worker finish the exports the test's add events queued (workers/exports.py) before it stops:
    a Redis worker stopped while it takes a task just published can hang in kombu's channel close (seen in
    tests/webhooks/test_uninstall_claims.py). Bounded, and no assertion: an event may rightly stay unhandled."""
    engine = make_engine(stack.settings.database_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as db:
                if db.execute(select(ReceivedEvent.id).where(*B24_ADD).limit(1)).first() is None:
                    return
            time.sleep(0.1)
    finally:
        engine.dispose()


def revocations_done(stack: Stack, timeout: float = 10.0) -> None:
    """Wait until the worker has handled every QuickBooks revocation a request queued (workers/revocations.py:
    the row goes when Intuit confirmed, or refused for good)."""
    def handled() -> bool:
        return not snapshot(stack)["qbo_revocations"]

    wait_for(handled, "the queued QuickBooks revocations to be handled", timeout)


def cipher(stack: Stack) -> TokenCipher:
    return TokenCipher(stack.settings.token_encryption_key)


def install_fields(stack: Stack, member_id: str | None = None, client_id: str | None = None) -> dict:
    """The installer/app-page POST fields the sandbox portal would submit."""
    member_id = member_id or stack.b24.default_member_id
    return b24_control(stack, f"portals/{member_id}/install",
                       {"client_id": client_id or stack.settings.b24_client_id})


def post_frame(browser: requests.Session, url: str, fields: dict, **changes: Any) -> requests.Response:
    """POST frame fields to `url` (not the portal's handler URL), with form fields changed or dropped."""
    form = {**fields["form"], **changes}
    form = {k: v for k, v in form.items() if v is not None}
    return browser.post(url, params=fields["query"], data=form, timeout=30, allow_redirects=False)


def documented_shape(stack: Stack) -> None:
    """Frame POSTs in the documented shape (DOCS simple-way.md), which hands every user APPLICATION_TOKEN."""
    stack.b24.set_app_switches(stack.settings.b24_client_id, installer_shape="documented")


def application_token(stack: Stack, member_id: str | None = None) -> str:
    """The portal's install's application token, as Bitrix24 knows it."""
    return installs(stack, member_id)[stack.settings.b24_client_id]["application_token"]


def installs(stack: Stack, member_id: str | None = None) -> dict:
    return b24_control(stack, f"portals/{member_id or stack.b24.default_member_id}/installs", method="GET")


__all__ = ["running_stack", "snapshot", "revocations_done", "realtime_worker", "read_portal", "cipher", "install_fields", "post_frame", "wait_for",
           "installs", "documented_shape", "application_token", "install_app", "open_app_page", "frame_post", "b24_control"]
