"""Start the local sandboxes in this process (CLI, demo, tests) and talk to their control APIs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from sandbox.server import RunningServer, serve_in_thread

QBO_SANDBOX_CLIENT_ID = "qb24-sandbox-client"
QBO_SANDBOX_CLIENT_SECRET = "qb24-sandbox-secret"


@dataclass
class QboSandbox:
    """A running QuickBooks sandbox and the URLs the service is configured with."""

    server: RunningServer
    app: Any = None  # the sandbox's Flask app, whose webhook senders stop with it

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def discovery_url(self) -> str:
        return self.url + "/.well-known/openid_configuration"

    @property
    def api_base(self) -> str:
        return self.url + "/v3"

    @property
    def web_base(self) -> str:
        """The base of the sandbox's stand-ins for QuickBooks' screens (/app/invoice, /app/customerdetail)."""
        return self.url

    def urls(self) -> dict[str, str]:
        return {"discovery document": self.discovery_url, "API base": self.api_base,
                "web screens": self.web_base + "/app/", "control API": self.url + "/_sandbox/"}

    def control(self, path: str, payload: dict[str, Any] | None = None, method: str = "POST") -> Any:
        """Call the sandbox's control API (tests, demo only)."""
        response = requests.request(method, f"{self.url}/_sandbox/{path}", json=payload, timeout=30)
        response.raise_for_status()
        return response.json() if response.content else None

    def stop(self) -> None:
        self.server.stop()
        if self.app is not None:
            from sandbox.quickbooks.context import EXTENSION_KEY

            self.app.extensions[EXTENSION_KEY].hooks.stop()  # no retries left posting to a stopped app


B24_SANDBOX_CLIENT_ID = "local.qb24sandbox.0000"
B24_SANDBOX_CLIENT_SECRET = "qb24-b24-sandbox-secret"


def start_b24_sandbox(host: str = "127.0.0.1", port: int = 0, portal_port: int = 0):
    """The Bitrix24 sandbox: an OAuth server + control API listener on `port` and one listener per
    portal, the default portal's on `portal_port` (0 = any free port)."""
    from sandbox.bitrix24 import Bitrix24Sandbox

    return Bitrix24Sandbox().start(host=host, port=port, portal_port=portal_port)


def b24_urls(b24) -> dict[str, str]:
    """What `qb24 sandbox` prints: the portal, its applications page (install an app by its handler URL
    there), the BX24 library it serves (the app's B24_JS_URL), the OAuth server (B24_OAUTH_SERVERS)."""
    portal = b24.default_portal
    return {"portal": portal.url + "/", "applications page": portal.url + "/marketplace/",
            "BX24 JS library": portal.url + "/api/v1/", "OAuth server": b24.oauth_url,
            "REST endpoint": portal.url + "/rest/", "control API": b24.control_url + "/"}


def start_qbo_sandbox(host: str = "127.0.0.1", port: int = 0, **options: Any) -> QboSandbox:
    from sandbox.quickbooks import create_app

    app = create_app(**options)
    return QboSandbox(serve_in_thread(app, host, port), app)
