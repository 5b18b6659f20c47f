"""`Bitrix24Sandbox`: the OAuth server + control API listener and one loopback listener per portal."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask

from sandbox.bitrix24 import (batch, currency, directory, invoices, methods_app,  # noqa: F401
                              methods_bindings, methods_classic, methods_item, methods_productrow, methods_system,
                              methods_userfield)
from sandbox.bitrix24.control import control_blueprint
from sandbox.bitrix24.directory import seed_directories
from sandbox.bitrix24.errors import RestError
from sandbox.bitrix24.events import EventSender
from sandbox.bitrix24.oauth import oauth_blueprint
from sandbox.bitrix24.portal_app import MOVED_TO, create_portal_app
from sandbox.bitrix24.state import (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_SCOPE, PLANS, App,
                                    Limits, Portal, State, check_switches, token_hex)
from sandbox.server import RunningServer, serve_in_thread


@dataclass
class PortalInfo:
    """How to reach a portal."""

    member_id: str
    domain: str
    url: str


class Bitrix24Sandbox:
    """A faithful in-memory Bitrix24 cloud: OAuth server, portals, events, pages."""

    def __init__(self) -> None:
        self.state = State()
        self.sender = EventSender(self.state)
        self.host = "127.0.0.1"
        self._oauth: RunningServer | None = None
        self._portal_servers: dict[str, RunningServer] = {}
        self._old_domains: list[RunningServer] = []
        self.default_member_id = ""
        self.default_portal_port = 0  # the default portal's listener port, kept across resets (0 = any)

    def start(self, host: str = "127.0.0.1", port: int = 0, portal_port: int = 0) -> "Bitrix24Sandbox":
        """Start the OAuth/control listener, the event sender, the default portal and app; the default
        portal listens on `portal_port` (0 = any free port), other portals on any free port."""
        self.host = host
        self.default_portal_port = portal_port
        app = Flask("bitrix24_oauth")
        app.register_blueprint(oauth_blueprint(self))
        app.register_blueprint(control_blueprint(self))
        self._oauth = serve_in_thread(app, host=host, port=port)
        self.state.oauth_url = self._oauth.url
        self.sender.start()
        self._seed_defaults()
        return self

    def _seed_defaults(self) -> None:
        """The default app and portal that exist after start/reset."""
        self.register_app(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
        self.default_member_id = self.create_portal("basic", port=self.default_portal_port).member_id

    @property
    def oauth_url(self) -> str:
        """Base URL of the OAuth server (`/oauth/token/`, `/rest/app.info`)."""
        return self.state.oauth_url

    @property
    def control_url(self) -> str:
        """Base URL of the control API."""
        return f"{self.state.oauth_url}/_sandbox"

    @property
    def default_portal(self) -> PortalInfo:
        """The portal created at start."""
        return self.info(self.default_member_id)

    def info(self, member_id: str) -> PortalInfo:
        """Reach data of one portal."""
        portal = self.portal(member_id)
        return PortalInfo(portal.member_id, portal.domain, portal.url)

    def portal(self, member_id: str) -> Portal:
        """A portal's state or 404."""
        portal = self.state.portals.get(member_id)
        if portal is None:
            raise RestError(404, "PORTAL_NOT_FOUND", f"No portal {member_id}")
        return portal

    def create_portal(self, plan: str = "basic", member_id: str | None = None,
                      invoice_category_id: int = 5, port: int = 0) -> PortalInfo:
        """Start a portal listener on `port` (0 = any free port); its DOMAIN is 127.0.0.1:<port>."""
        rate, size = PLANS.get(plan, PLANS["basic"])
        portal = Portal(member_id or token_hex(16), plan, limits=Limits(drain_rate=rate, bucket_size=size))
        with self.state.lock:
            if portal.member_id in self.state.portals:
                raise RestError(409, "PORTAL_EXISTS", f"Portal {portal.member_id} exists")
            seed_directories(portal, invoice_category_id)
            self.state.portals[portal.member_id] = portal
        try:
            server = serve_in_thread(create_portal_app(self, portal), host=self.host, port=port)
        except OSError:  # the port is taken: no portal without a listener is left behind
            with self.state.lock:
                del self.state.portals[portal.member_id]
            raise
        self._portal_servers[portal.member_id] = server
        portal.url = server.url
        portal.domain = server.url.split("://", 1)[1]
        return PortalInfo(portal.member_id, portal.domain, portal.url)

    def move_domain(self, member_id: str) -> dict:
        """Give a portal a new domain (a new listener); the old one answers 302 to it from now on."""
        portal = self.portal(member_id)
        old_server, old_url = self._portal_servers[member_id], portal.url
        server = serve_in_thread(create_portal_app(self, portal), host=self.host, port=0)
        with self.state.lock:
            portal.url = server.url
            portal.domain = server.url.split("://", 1)[1]
        old_server.server.app.config[MOVED_TO] = portal.url
        self._portal_servers[member_id] = server
        self._old_domains.append(old_server)
        return {"member_id": member_id, "old_url": old_url, "url": portal.url, "domain": portal.domain}

    def _stop_portal_servers(self) -> None:
        """Stop every portal listener, old domains included."""
        for server in [*self._portal_servers.values(), *self._old_domains]:
            server.stop()
        self._portal_servers.clear()
        self._old_domains.clear()

    def register_app(self, client_id: str, client_secret: str, scope: str = DEFAULT_SCOPE,
                     code: str = "qb24", version: int = 1, handler_url: str | None = None,
                     install_event_url: str | None = None, redirect_uri: str | None = None) -> App:
        """Register (or replace) an application the OAuth server knows."""
        app = App(client_id, client_secret, scope, code, int(version), handler_url, install_event_url,
                  redirect_uri)
        with self.state.lock:
            self.state.apps[client_id] = app
        return app

    def set_app_switches(self, client_id: str, **changes: Any) -> dict:
        """Change an app's `AppSwitches` (400 for an unknown name or a wrong type); returns them all."""
        with self.state.lock:
            app = self.state.apps.get(client_id)
            if app is None:
                raise RestError(404, "APP_NOT_FOUND", f"No app registered with client_id {client_id}")
            updated = check_switches(app.switches, changes)
            app.switches = updated
            return updated.as_dict()

    def describe(self) -> dict:
        """Defaults and portals, for the control API."""
        return {"oauth_url": self.oauth_url, "control_url": self.control_url,
                "default_member_id": self.default_member_id,
                "default_client_id": DEFAULT_CLIENT_ID,
                "portals": [self.info(m).__dict__ | {"plan": p.plan}
                            for m, p in self.state.portals.items()]}

    def reset(self) -> None:
        """Forget everything and recreate the default portal and app; nothing of the old world is sent after."""
        self.sender.cancel_pending()
        self._stop_portal_servers()
        with self.state.lock:
            self.state = self.sender.state = State(oauth_url=self.state.oauth_url)
        self._seed_defaults()

    def stop(self) -> None:
        """Stop every listener and the event sender."""
        self._stop_portal_servers()
        self.sender.stop()
        if self._oauth:
            self._oauth.stop()
            self._oauth = None
