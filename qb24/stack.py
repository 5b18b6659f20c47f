"""Both sandboxes and the app served in-process on loopback, wired as a self-hoster would (demo, tests)."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from flask import Flask

from config.settings import Settings, load_settings
from qb24.sandboxes import (B24_SANDBOX_CLIENT_ID, B24_SANDBOX_CLIENT_SECRET, QBO_SANDBOX_CLIENT_ID,
                            QBO_SANDBOX_CLIENT_SECRET, QboSandbox, start_b24_sandbox, start_qbo_sandbox)
from sandbox.server import RunningServer, serve_in_thread
from store.crypto import TokenCipher
from store.db import migrate
from workers.embedded import ensure_embedded_worker


class LateApp:
    """A WSGI callable whose app is set after the server started (its URL is in the app's settings)."""

    def __init__(self) -> None:
        self.app: Flask | None = None

    def __call__(self, environ: dict, start_response: Any) -> Any:
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"starting"]
        return self.app(environ, start_response)


@dataclass
class Stack:
    """The running sandboxes and app."""

    qbo: QboSandbox
    b24: Any  # sandbox.bitrix24.Bitrix24Sandbox (imported lazily, like qb24.sandboxes does)
    server: RunningServer
    app: Flask
    settings: Settings

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        for part in (self.server, self.qbo, self.b24):
            part.stop()
        self.app.extensions["qb24"].close()  # its embedded worker, if a sync started one


def stack_settings(qbo: QboSandbox, b24: Any, database_url: str, app_url: str, **overrides: str) -> Settings:
    """The service's settings pointed at the sandboxes (configuration only, as the README says)."""
    return load_settings({
        "APP_BASE_URL": app_url, "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(32), "TOKEN_ENCRYPTION_KEY": TokenCipher.generate_key(),
        "QBO_CLIENT_ID": QBO_SANDBOX_CLIENT_ID, "QBO_CLIENT_SECRET": QBO_SANDBOX_CLIENT_SECRET,
        "QBO_REDIRECT_URI": app_url + "/quickbooks/callback", "QBO_ENVIRONMENT": qbo.discovery_url,
        "QBO_API_BASE": qbo.api_base, "QBO_WEB_BASE": qbo.web_base,
        "QBO_VERIFIER_TOKEN": secrets.token_urlsafe(16),
        "B24_CLIENT_ID": B24_SANDBOX_CLIENT_ID, "B24_CLIENT_SECRET": B24_SANDBOX_CLIENT_SECRET,
        "B24_OAUTH_SERVERS": b24.oauth_url, "B24_JS_URL": b24.default_portal.url + "/api/v1/",
        **overrides,
    })


def register_apps(stack_qbo: QboSandbox, b24: Any, settings: Settings,
                  webhook_format: str | None = "cloudevents") -> None:
    """Tell both sandboxes where this app lives: Intuit's redirect URI and webhook endpoint; Bitrix24's
    handler URL (the sandbox opens one handler URL for installer and app page alike). No install-event
    URL: that is for apps without a UI (reference §1.2); ours binds ONAPPINSTALL in its installer.

    Webhooks go to /webhooks/quickbooks signed with the verifier token, as CloudEvents by default: Intuit
    moves every app to them in 2026 (reference §1.2); "legacy" sends eventNotifications, None subscribes
    to nothing (reconciliation alone)."""
    stack_qbo.control("apps", {"client_id": settings.qbo_client_id, "client_secret": settings.qbo_client_secret,
                               "redirect_uris": [settings.qbo_redirect_uri]})
    if webhook_format is not None:
        stack_qbo.control("webhooks", {"client_id": settings.qbo_client_id, "format": webhook_format,
                                       "url": settings.app_base_url + "/webhooks/quickbooks",
                                       "verifier_token": settings.qbo_verifier_token})
    b24.register_app(settings.b24_client_id, settings.b24_client_secret,
                     handler_url=settings.app_base_url + "/bitrix24/install")


def start_stack(database_url: str, *, host: str = "127.0.0.1", port: int = 0, qbo_port: int = 0,
                b24_port: int = 0, auto_approve: bool = True, worker: bool = True,
                webhook_format: str | None = "cloudevents", **overrides: str) -> Stack:
    """Start the QuickBooks and Bitrix24 sandboxes and the app, migrated and registered; embedded
    (no REDIS_URL), the app's in-process Celery workers and beat too. With `worker` False the bulk
    worker is left out: queued full syncs stay pending (tests of the page alone), while change pulls
    and QuickBooks revocations still run. `webhook_format`: see register_apps."""
    from webhooks import create_app

    qbo = start_qbo_sandbox(host, qbo_port, auto_approve=auto_approve)
    b24 = start_b24_sandbox(host, b24_port)
    late = LateApp()
    server = serve_in_thread(late, host, port)
    try:
        settings = stack_settings(qbo, b24, database_url, server.url, **overrides)
        migrate(settings.database_url)
        late.app = create_app(settings)
        register_apps(qbo, b24, settings, webhook_format)
        ensure_embedded_worker(late.app.extensions["qb24"].celery, bulk=worker)
    except Exception:
        for part in (server, qbo, b24):
            part.stop()
        raise
    return Stack(qbo, b24, server, late.app, settings)
