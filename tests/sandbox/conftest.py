"""The `qbo` fixture: a QuickBooks sandbox served over HTTP, one per test module."""
from __future__ import annotations

from typing import Iterator

import pytest

from sandbox.quickbooks import create_app
from sandbox.quickbooks.context import EXTENSION_KEY
from sandbox.server import serve_in_thread
from tests.sandbox.qbo_app_support import Sandbox


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
