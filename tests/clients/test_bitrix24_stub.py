"""Client behaviours the Bitrix24 sandbox cannot be driven into, against a tiny stub over real HTTP.

Scripted answers (non-JSON bodies, a token refused again
right after its refresh, exact backoff schedules with a recorded sleep) come from a queue the
test fills. Everything the sandbox can do is tested against it in test_bitrix24_sandbox.py.
"""
from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
from flask import Flask, Response, request

from clients.bitrix24 import Bitrix24Client
from clients.bitrix24_auth import AppCredentials, InMemoryPortalTokens, PortalAuth
from clients.bitrix24_errors import (
    InvalidArgument, QueryLimitExceeded, ServerError,
)
from clients.coordination import LocalLocks
from clients.ratelimit import LeakyBucket
from sandbox.server import RunningServer, serve_in_thread

MEMBER = "a223c6b3710f85df22e9377d6c4f7553"
APP = AppCredentials("local.stub.1", "stub-secret-value")
TIME = {"start": 1.0, "finish": 1.1, "duration": 0.1, "processing": 0.1,
        "date_start": "2024-08-29T10:34:19+03:00", "date_finish": "2024-08-29T10:34:19+03:00"}


@dataclass
class StubPortal:
    """What the stub knows: valid tokens, scripted answers, and what it was sent."""

    access: dict[str, float] = field(default_factory=dict)  # token -> expires (unix)
    refresh: set[str] = field(default_factory=set)
    script: list[tuple[int, str, dict]] = field(default_factory=list)  # status, body, headers
    calls: list[tuple[str, dict]] = field(default_factory=list)
    refreshes: list[dict] = field(default_factory=list)

    def issue(self, lifetime: float = 3600) -> tuple[str, str]:
        access, refresh = secrets.token_hex(16), secrets.token_hex(16)
        self.access[access], _ = time.time() + lifetime, self.refresh.add(refresh)
        return access, refresh


def stub_app(portal: StubPortal) -> Flask:
    app = Flask("b24stub")

    @app.post("/rest/<method>.json")
    def rest(method: str) -> Response:
        params = request.get_json()
        portal.calls.append((method, dict(params)))
        if portal.script:
            status, body, headers = portal.script.pop(0)
            return Response(body, status, headers=headers, content_type="application/json")
        if portal.access.get(params.pop("auth", ""), 0) < time.time():
            return _json({"error": "expired_token", "error_description": "The access token provided has expired"}, 401)
        return _json({"result": {"echo": params}, "time": TIME})

    @app.get("/oauth/token/")
    def token() -> Response:
        args = request.args.to_dict()
        portal.refreshes.append(args)
        if args.get("client_secret") != APP.client_secret or args.get("refresh_token") not in portal.refresh:
            return _json({"error": "invalid_grant", "error_description": "Invalid grant"}, 400)
        portal.refresh.discard(args["refresh_token"])
        access, refresh = portal.issue()
        return _json({"access_token": access, "refresh_token": refresh, "expires_in": 3600,
                      "domain": "oauth.bitrix.info", "member_id": MEMBER, "status": "L",
                      "client_endpoint": request.host_url + "rest/", "server_endpoint": request.host_url + "rest/"})

    return app


def _json(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status, content_type="application/json")


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[RunningServer, StubPortal]]:
    portal = StubPortal()
    running = serve_in_thread(stub_app(portal))
    yield running, portal
    running.stop()


@pytest.fixture
def portal(shared: tuple[RunningServer, StubPortal]) -> StubPortal:
    shared[1].__init__()  # a fresh portal for every test, on the one server
    return shared[1]


@pytest.fixture
def server(shared: tuple[RunningServer, StubPortal], portal: StubPortal) -> RunningServer:
    return shared[0]


def make_client(server: RunningServer, portal: StubPortal, expired: bool = False,
                **kwargs) -> tuple[Bitrix24Client, InMemoryPortalTokens]:
    access, refresh = portal.issue(lifetime=-1 if expired else 3600)
    auth = PortalAuth(MEMBER, server.url.split("//")[1], server.url + "/rest/", server.url + "/rest/",
                      access, refresh, datetime.now(timezone.utc) + timedelta(hours=-1 if expired else 1))
    tokens = InMemoryPortalTokens(auth)
    client = Bitrix24Client(MEMBER, tokens, APP, LocalLocks(), LeakyBucket(1000, 100), **kwargs)
    return client, tokens


def script(portal: StubPortal, status: int, body: dict | str, **headers: str) -> None:
    portal.script.append((status, body if isinstance(body, str) else json.dumps(body), headers))








def test_second_expired_answer_after_refresh_is_raised(server, portal) -> None:
    client, _ = make_client(server, portal)
    expired = {"error": "expired_token", "error_description": "The access token provided has expired"}
    script(portal, 401, expired)
    script(portal, 401, expired)
    with pytest.raises(Exception) as caught:
        client.call("app.info")
    assert type(caught.value).__name__ == "ExpiredToken" and len(portal.refreshes) == 1


@pytest.mark.parametrize("status,code", [(503, "QUERY_LIMIT_EXCEEDED"), (429, "OPERATION_TIME_LIMIT")])
def test_limit_errors_are_retried_with_backoff(server, portal, status, code) -> None:
    slept: list[float] = []
    client, _ = make_client(server, portal, sleep=slept.append)
    script(portal, status, {"error": code, "error_description": "limit"})
    script(portal, status, {"error": code, "error_description": "limit"})
    assert client.call("crm.item.list", {"entityTypeId": 31}).result["echo"]["entityTypeId"] == 31
    assert len(slept) == 2 and client.retries == 2 and 0 < slept[0] <= 0.5 and slept[1] <= 1.0


def test_limit_retries_stop_at_the_budget_with_retry_after(server, portal) -> None:
    slept: list[float] = []
    client, _ = make_client(server, portal, sleep=slept.append, retry_budget=3.0)
    for _ in range(10):
        script(portal, 503, {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"})
    with pytest.raises(QueryLimitExceeded) as caught:
        client.call("app.info")
    assert caught.value.status == 503 and caught.value.retry_after > 0 and sum(slept) <= 3.0


def test_operation_time_limit_waits_for_operating_reset_at(server, portal) -> None:
    slept: list[float] = []
    client, _ = make_client(server, portal, sleep=slept.append)
    reset_at = int(time.time()) + 5
    script(portal, 200, {"result": [], "time": {**TIME, "operating": 479.0, "operating_reset_at": reset_at}})
    script(portal, 429, {"error": "OPERATION_TIME_LIMIT", "error_description": "Method is blocked"})
    client.call("crm.contact.list")
    client.call("crm.contact.list")
    assert len(slept) == 1 and 3.5 <= slept[0] <= 6.5


def test_other_4xx_is_never_retried(server, portal) -> None:
    client, _ = make_client(server, portal, sleep=lambda s: pytest.fail("slept"))
    script(portal, 400, {"error": "", "error_description": "Parameter 'fields' must be array."})
    with pytest.raises(InvalidArgument):
        client.call("crm.contact.add", {"fields": "x"})
    assert len(portal.calls) == 1


@pytest.mark.parametrize("status,body", [(502, "<html>Bad gateway</html>"), (200, "not json"), (500, "")])
def test_non_json_answers_are_server_errors(server, portal, status, body) -> None:
    client, _ = make_client(server, portal)
    script(portal, status, body)
    with pytest.raises(ServerError) as caught:
        client.call("app.info")
    assert caught.value.status == status




def test_logs_have_stable_keys_and_no_secrets(server, portal, caplog) -> None:
    client, tokens = make_client(server, portal, expired=True)
    old = tokens.load(MEMBER)
    script(portal, 503, {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"})
    # INFO: at DEBUG urllib3 logs request lines, and the documented refresh is a GET with the
    # secrets in its query string; werkzeug's lines are the stub server's, not ours
    with caplog.at_level(logging.INFO):
        client.sleep = lambda s: None
        client.call("app.info")
    new = tokens.load(MEMBER)
    caplog.records[:] = [r for r in caplog.records if r.name != "werkzeug"]
    calls = [r for r in caplog.records if r.msg == "b24.call"]
    assert calls and all(r.member_id == MEMBER and r.method == "app.info" and r.ms >= 0 for r in calls)
    assert {"b24.refresh", "b24.retry"} <= {r.msg for r in caplog.records}
    dumped = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records) + repr(new) + repr(APP)
    for secret in (old.access_token, old.refresh_token, new.access_token, new.refresh_token, APP.client_secret):
        assert secret not in dumped


def test_local_limiter_refusal_is_raised_at_once_not_retried(server, portal) -> None:
    client, _ = make_client(server, portal, sleep=lambda s: pytest.fail("slept"), limit_wait=0.0)
    client.limiter = LeakyBucket(1.0, 1)
    client.call("app.info")
    with pytest.raises(QueryLimitExceeded) as caught:
        client.call("app.info")
    assert caught.value.status is None and 0.9 < caught.value.retry_after <= 1.0 and len(portal.calls) == 1
