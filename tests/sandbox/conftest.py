"""The `qbo` fixture (a QuickBooks sandbox served over HTTP, one per test module), `qb` (python-quickbooks on a
fresh company), a webhook `receiver` and a webhook `session`."""
from __future__ import annotations

from typing import Any, Iterator

import pytest
from quickbooks import QuickBooks

from sandbox.quickbooks import create_app
from sandbox.quickbooks.context import EXTENSION_KEY
from sandbox.server import serve_in_thread
from tests.sandbox.qbo_app_support import Api, Receiver, Sandbox, connect, quickbooks

VERIFIER = "verifier-for-write-tests"


@pytest.fixture(scope="module")
def qbo() -> Iterator[Sandbox]:
    """One sandbox per test module, auto-approving consent."""
    app = create_app(auto_approve=True)
    server = serve_in_thread(app)
    try:
        with pytest.MonkeyPatch.context() as patch:
            # python-quickbooks talks through requests-oauthlib, which refuses plain http unless told so.
            patch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
            yield Sandbox(server=server, app=app)
    finally:
        app.extensions[EXTENSION_KEY].hooks.stop()
        server.stop()


@pytest.fixture
def qb(qbo: Sandbox) -> QuickBooks:
    """A fresh sample company connected through intuitlib, as python-quickbooks sees it."""
    realm_id = qbo.reset()
    client, _ = connect(qbo.url)
    return quickbooks(qbo.url, client, realm_id)


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    """A recording webhook endpoint served over HTTP and its URL."""
    hook = Receiver()
    server = serve_in_thread(hook.app)
    yield hook, f"{server.url}/hook"
    server.stop()


@pytest.fixture
def session(qbo: Sandbox, receiver: tuple[Receiver, str]) -> Iterator[tuple[Api, Any, Receiver]]:
    """A fresh sample company, raw API + python-quickbooks, legacy webhooks to a recording receiver."""
    hook, url = receiver
    qbo.reset()
    qbo.control("POST", "webhooks", url=url, verifier_token=VERIFIER, format="legacy", aggregation_seconds=0)
    client, realm_id = connect(qbo.url)
    with hook.lock:
        hook.received.clear()
    yield Api(qbo.url, client.access_token, realm_id), quickbooks(qbo.url, client, realm_id), hook
    # Acknowledge everything before the next test resets the company under the same realm id.
    assert qbo.control("POST", "webhooks/flush", timeout=10)["flushed"] is True
