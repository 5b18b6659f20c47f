"""Helpers shared by the QuickBooks sandbox app tests (test_qbo_app_*.py)."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from flask import Flask, request
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from quickbooks import QuickBooks

from sandbox.quickbooks.store import Settings
from sandbox.server import RunningServer

FIXTURES = Path(__file__).parent / "fixtures" / "qbo"
CLIENT_ID = "qb24-sandbox-client"
CLIENT_SECRET = "qb24-sandbox-secret"
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never contacted: tests read the redirect's Location


def fixture(name: str) -> Any:
    """A real QuickBooks body copied byte for byte into tests/sandbox/fixtures/qbo."""
    return json.loads((FIXTURES / name).read_text())


@dataclass
class Sandbox:
    """A running sandbox plus shortcuts to its control API."""

    server: RunningServer
    app: Any

    @property
    def url(self) -> str:
        return self.server.url

    def control(self, method: str, path: str, **body: Any) -> Any:
        """Call /_sandbox/<path> and return the JSON answer (asserting success)."""
        response = requests.request(method, f"{self.url}/_sandbox/{path}", json=body or None, timeout=10)
        assert response.status_code < 300, response.text
        return response.json()

    def reset(self, **body: Any) -> str:
        """Fresh sample company; returns its realm id."""
        return self.control("POST", "reset", **body)["realm_id"]

    def restore_settings(self, *names: str) -> None:
        """Put the named settings back to the sandbox's real defaults (a reset keeps settings, and the
        sandbox lives for the whole test module, so a value left behind leaks into later tests)."""
        defaults = Settings().as_dict()
        self.control("POST", "settings", **{name: defaults[name] for name in names})


def auth_client(url: str, client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET,
                redirect_uri: str = REDIRECT_URI) -> AuthClient:
    """An unmodified intuitlib AuthClient pointed at the sandbox's discovery document."""
    return AuthClient(client_id, secret, redirect_uri, environment=f"{url}/.well-known/openid_configuration")


def authorize(client: AuthClient) -> dict[str, str]:
    """Follow the authorization URL (auto-approve) and return the redirect's query parameters."""
    response = requests.get(client.get_authorization_url([Scopes.ACCOUNTING]), allow_redirects=False,
                            timeout=10)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(client.redirect_uri + "?")
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


def connect(url: str, **kwargs: Any) -> tuple[AuthClient, str]:
    """Run the whole OAuth flow with intuitlib; returns the client (holding tokens) and the realm id."""
    client = auth_client(url, **kwargs)
    redirect = authorize(client)
    assert redirect["state"] == client.state_token
    client.get_bearer_token(redirect["code"], realm_id=redirect["realmId"])
    return client, redirect["realmId"]


def quickbooks(url: str, client: AuthClient, realm_id: str) -> QuickBooks:
    """An unmodified python-quickbooks client aimed at the sandbox by configuration only."""
    qb = QuickBooks(auth_client=client, refresh_token=client.refresh_token, company_id=realm_id,
                    minorversion=75)
    qb.api_url_v3 = f"{url}/v3"
    return qb


class Api:
    """Raw HTTP calls to /v3/company/<realm> with a bearer token."""

    def __init__(self, url: str, token: str, realm_id: str) -> None:
        self.base = f"{url}/v3/company/{realm_id}"
        self.token = token

    def call(self, method: str, path: str, *, body: Any = None, raw: bytes | str | None = None,
             content_type: str = "application/json", **params: Any) -> requests.Response:
        """One request; `body` is JSON-encoded, `raw` is sent as is."""
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json",
                   "Content-Type": content_type}
        return requests.request(method, f"{self.base}/{path}", data=data, headers=headers,
                                params={"minorversion": 75, **params}, timeout=10)


def connected_api(qbo: Sandbox) -> tuple[Api, str]:
    """Reset the sandbox, connect through OAuth and return a raw API helper and the realm id."""
    qbo.reset()
    client, realm_id = connect(qbo.url)
    return Api(qbo.url, client.access_token, realm_id), realm_id


def assert_fault(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    """The answer is a QuickBooks Fault envelope with this status and code; returns the error."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"Fault", "time"}, body
    # SERVICE: the real 429 Fault (intuit/QuickBooks-V3-PHP-SDK#54).
    assert body["Fault"]["type"] in ("ValidationFault", "SystemFault", "SERVICE")
    error = body["Fault"]["Error"][0]
    assert error["code"] == code, body
    assert isinstance(error["Message"], str) and error["Message"]
    assert isinstance(error["Detail"], str)
    return error


class Receiver:
    """A webhook endpoint that records raw bodies and headers and answers 200."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.app = Flask("receiver")
        self.app.add_url_rule("/hook", "hook", self._hook, methods=["POST"])

    def _hook(self) -> tuple[str, int]:
        with self.lock:
            self.received.append((request.get_data(), dict(request.headers)))
        return "", 200

    def wait_for(self, predicate, timeout: float = 10.0) -> list[tuple[bytes, dict[str, str]]]:
        """Poll until some received delivery satisfies `predicate` (deadline, no fixed sleeps)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                hits = [item for item in self.received if predicate(item)]
            if hits:
                return hits
            time.sleep(0.02)
        raise AssertionError(f"no matching delivery; received {self.received!r}")


def wait_for_entity(hook: Receiver, entity_id: str, entity: str) -> list[tuple[str, str]]:
    """(name, id) of every legacy webhook entity delivered, once `entity`/`entity_id` arrived (polls)."""
    def arrived(item: tuple[bytes, dict[str, str]]) -> bool:
        return (entity, entity_id) in legacy_entities([item])
    hook.wait_for(arrived)
    with hook.lock:
        return legacy_entities(list(hook.received))


def legacy_entities(items: list[tuple[bytes, dict[str, str]]]) -> list[tuple[str, str]]:
    """(name, id) of every entity in legacy `eventNotifications` bodies, in delivery order."""
    return [(e["name"], e["id"]) for body, _ in items for note in json.loads(body)["eventNotifications"]
            for e in note["dataChangeEvent"]["entities"]]
