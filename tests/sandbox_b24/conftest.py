"""Fixtures: one Bitrix24 sandbox per session, a fresh portal with the app installed per test."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests
from flask import Flask, request

from sandbox.bitrix24 import Bitrix24Sandbox
from sandbox.bitrix24.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from sandbox.server import RunningServer, serve_in_thread

FIXTURES = Path(__file__).parent / "fixtures"
CLIENT_ID, CLIENT_SECRET = DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET


def ok(response: requests.Response) -> Any:
    """The JSON of a 200 answer (anything else fails the test with the body)."""
    assert response.status_code == 200, response.text
    return response.json()


def fixture_json(name: str) -> Any:
    """A copied documentation example."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@dataclass
class Receiver:
    """A loopback HTTP endpoint recording every POST body."""

    server: RunningServer
    bodies: list[bytes] = field(default_factory=list)
    status: int = 200

    @property
    def url(self) -> str:
        return f"{self.server.url}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    app = Flask("receiver")
    holder: dict[str, Receiver] = {}
    lock = threading.Lock()

    @app.route("/hook", methods=["POST"])
    def hook() -> tuple[str, int]:
        with lock:
            holder["r"].bodies.append(request.get_data())
        return "ok", holder["r"].status

    rec = Receiver(serve_in_thread(app))
    holder["r"] = rec
    yield rec
    rec.server.stop()


@pytest.fixture(scope="session")
def sb() -> Iterator[Bitrix24Sandbox]:
    sandbox = Bitrix24Sandbox().start()
    yield sandbox
    sandbox.stop()


@dataclass
class Portal:
    """A portal with the default app installed and finished."""

    sb: Bitrix24Sandbox
    member_id: str
    url: str
    auth: str
    refresh: str
    install: dict

    def call(self, method: str, payload: dict | None = None, auth: str | None = None) -> requests.Response:
        """JSON POST to /rest/<method>.json with `auth` in the body."""
        body = {"auth": auth or self.auth, **(payload or {})}
        return requests.post(f"{self.url}/rest/{method}.json", json=body, timeout=10)

    def control(self, path: str, body: dict | None = None) -> requests.Response:
        """POST to this portal's control API."""
        return requests.post(f"{self.sb.control_url}/portals/{self.member_id}/{path}", json=body or {}, timeout=10)

    def control_get(self, path: str) -> Any:
        """GET this portal's control API (the JSON of a 200)."""
        return ok(requests.get(f"{self.sb.control_url}/portals/{self.member_id}/{path}", timeout=10))

    @property
    def application_token(self) -> str:
        """The install's application token (the captured installer POST does not carry it)."""
        installs = requests.get(f"{self.sb.control_url}/portals/{self.member_id}/installs", timeout=10).json()
        return installs[CLIENT_ID]["application_token"]


@pytest.fixture
def portal(sb: Bitrix24Sandbox) -> Portal:
    info = requests.post(f"{sb.control_url}/portals", json={"plan": "basic"}, timeout=10).json()
    install = requests.post(f"{sb.control_url}/portals/{info['member_id']}/install",
                            json={"client_id": CLIENT_ID, "handler_url": "http://127.0.0.1:9/app",
                                  "finish": True}, timeout=10).json()
    return Portal(sb, info["member_id"], info["url"], install["form"]["AUTH_ID"],
                  install["form"]["REFRESH_ID"], install)


def same_shape(ours: Any, documented: Any, path: str = "$", ignore: Callable[[str], bool] = lambda k: False) -> list[str]:
    """Differences in keys/value types where the documented example has them.

    Either side's null matches a scalar (the example's value was simply empty, or ours is), but a
    documented null is not an object or a list: userfieldconfig-list__01's `"listColumnLabel": null` is
    not the `{"de": null}` of userfieldconfig-get.
    """
    problems: list[str] = []
    if documented is None and isinstance(ours, (dict, list)):
        return [f"{path}: null expected, got {type(ours).__name__}"]
    if documented is None or ours is None:
        return problems
    if isinstance(documented, dict):
        if not isinstance(ours, dict):
            return [f"{path}: dict expected, got {type(ours).__name__}"]
        for key, value in documented.items():
            if ignore(key):
                continue
            if key not in ours:
                problems.append(f"{path}.{key}: missing")
            else:
                problems += same_shape(ours[key], value, f"{path}.{key}", ignore)
        return problems
    if isinstance(documented, list):
        if not isinstance(ours, list):
            return [f"{path}: list expected, got {type(ours).__name__}"]
        if documented and ours:
            problems += same_shape(ours[0], documented[0], f"{path}[0]", ignore)
        return problems
    number = (int, float)
    if isinstance(documented, bool) or isinstance(ours, bool):
        ok = type(documented) is type(ours)
    else:
        ok = isinstance(ours, number) if isinstance(documented, number) else type(ours) is type(documented)
    return [] if ok else [f"{path}: {type(documented).__name__} expected, got {type(ours).__name__}"]
