"""The Bitrix24 client against the Bitrix24 sandbox over HTTP: shapes, batch, paging, refresh, limits."""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
import requests

from clients.bitrix24 import Bitrix24Client
from clients.bitrix24_auth import AppCredentials, InMemoryPortalTokens, PortalAuth
from clients.bitrix24_errors import AlreadyBound, InvalidArgument, InvalidGrant, NotFound
from clients.coordination import LocalLocks
from clients.ratelimit import LeakyBucket
from sandbox.bitrix24.sandbox import Bitrix24Sandbox
from sandbox.bitrix24.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

APP = AppCredentials(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
HANDLER = "http://127.0.0.1:9/app"  # never contacted: no install event URL is registered


def control(sb: Bitrix24Sandbox, path: str, body: dict | None = None) -> dict:
    """POST to the sandbox's control API and return its JSON."""
    response = requests.post(f"{sb.control_url}{path}", json=body or {}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def install(sb: Bitrix24Sandbox, member_id: str, client_id: str = DEFAULT_CLIENT_ID) -> PortalAuth:
    """Install an app on a portal the way Bitrix24 does and return the tokens it hands over."""
    form = control(sb, f"/portals/{member_id}/install",
                   {"client_id": client_id, "handler_url": HANDLER, "finish": True})["form"]
    info = sb.info(member_id)
    return PortalAuth(member_id, info.domain, info.url + "/rest/", f"{sb.oauth_url}/rest/", form["AUTH_ID"],
                      form["REFRESH_ID"], datetime.now(timezone.utc) + timedelta(seconds=int(form["AUTH_EXPIRES"])))


def new_portal(sb: Bitrix24Sandbox, plan: str = "basic", **settings: object) -> PortalAuth:
    """A fresh portal with the default app installed and the given limit settings."""
    member_id = control(sb, "/portals", {"plan": plan})["member_id"]
    if settings:
        control(sb, f"/portals/{member_id}/settings", settings)
    return install(sb, member_id)


def client_for(auth: PortalAuth, **kwargs) -> tuple[Bitrix24Client, InMemoryPortalTokens]:
    tokens = InMemoryPortalTokens(auth)
    limiter = kwargs.pop("limiter", LeakyBucket(1000, 1000))
    return Bitrix24Client(auth.member_id, tokens, APP, LocalLocks(), limiter, **kwargs), tokens


@pytest.fixture(scope="module")
def sb() -> Iterator[Bitrix24Sandbox]:
    sandbox = Bitrix24Sandbox().start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def auth(sb: Bitrix24Sandbox) -> PortalAuth:
    return new_portal(sb)


def test_call_shapes(auth: PortalAuth) -> None:
    client, _ = client_for(auth)
    added = client.call("crm.contact.add", {"fields": {"NAME": "Ada", "EMAIL": [{"VALUE": "a@x.io", "VALUE_TYPE": "WORK"}]}})
    assert isinstance(added.result, int) and added.total is None and added.next is None
    got = client.call("crm.contact.get", {"id": added.result})
    assert got.result["ID"] == str(added.result) and got.result["NAME"] == "Ada"
    assert {"start", "finish", "duration", "operating", "operating_reset_at"} <= set(got.time)


def test_list_pages_report_total_and_next(sb: Bitrix24Sandbox, auth: PortalAuth) -> None:
    control(sb, f"/portals/{auth.member_id}/seed", {"contacts": [{"NAME": f"C{i}"} for i in range(60)]})
    client, _ = client_for(auth)
    first = client.call("crm.contact.list", {"order": {"ID": "ASC"}})
    assert len(first.result) == 50 and first.total == 60 and first.next == 50


def test_list_all_pages_classic_methods_by_id(sb: Bitrix24Sandbox, auth: PortalAuth, caplog) -> None:
    control(sb, f"/portals/{auth.member_id}/seed",
            {"contacts": [{"NAME": "Even" if i % 2 else "Odd"} for i in range(130)]})
    client, _ = client_for(auth)
    with caplog.at_level(logging.INFO, logger="clients.bitrix24"):
        rows = list(client.list_all("crm.contact.list", {"select": ["NAME"]}))
    ids = [int(r["ID"]) for r in rows]
    assert len(ids) == 130 and ids == sorted(set(ids))
    assert len([r for r in caplog.records if r.msg == "b24.call"]) == 3  # 50 + 50 + 30
    evens = list(client.list_all("crm.contact.list", {"filter": {"NAME": "Even"}}))
    assert len(evens) == 65 and {r["NAME"] for r in evens} == {"Even"}


def test_list_all_unwraps_crm_item_list(sb: Bitrix24Sandbox, auth: PortalAuth) -> None:
    control(sb, f"/portals/{auth.member_id}/seed", {"smart_invoices": [{"title": f"I{i}"} for i in range(55)]})
    client, _ = client_for(auth)
    items = list(client.list_all("crm.item.list", {"entityTypeId": 31, "select": ["title"]}))
    assert len(items) == 55 and [i["id"] for i in items] == sorted({i["id"] for i in items})


def test_batch_references_and_per_command_errors(auth: PortalAuth) -> None:
    client, _ = client_for(auth)
    outcome = client.batch({
        "contact": ("crm.contact.add", {"fields": {"NAME": "Grace"}}),
        "again": ("crm.contact.get", {"id": "$result[contact]"}),
        "invoice": ("crm.item.add", {"entityTypeId": 31, "fields": {"title": "Q-1", "contactId": "$result[contact]"}}),
        "rows": ("crm.item.productrow.set", {"ownerType": "SI", "ownerId": "$result[invoice][item][id]",
                                             "productRows": [{"productName": "Hours", "price": 90, "quantity": 2}]}),
        "broken": ("crm.contact.get", {"id": 987654}),
        "nomethod": ("crm.nothing.here", {}),
    })
    assert outcome.results["again"]["NAME"] == "Grace"
    assert outcome.results["invoice"]["item"]["contactId"] == outcome.results["contact"]
    assert outcome.results["rows"]["productRows"][0]["productName"] == "Hours"
    assert type(outcome.errors["broken"]) is NotFound and outcome.errors["nomethod"].code == "ERROR_METHOD_NOT_FOUND"
    assert set(outcome.results) == {"contact", "again", "invoice", "rows"}


def test_batch_halt_stops_at_the_first_error(auth: PortalAuth) -> None:
    client, _ = client_for(auth)
    outcome = client.batch([("crm.contact.add", {"fields": {"NAME": "A"}}), ("crm.contact.add", {"fields": "x"}),
                            ("crm.contact.add", {"fields": {"NAME": "C"}})], halt=True)
    assert list(outcome.results) == ["0"] and type(outcome.errors["1"]) is InvalidArgument
    assert "2" not in outcome.results and "2" not in outcome.errors


def test_batch_over_fifty_is_chunked(auth: PortalAuth, caplog) -> None:
    client, _ = client_for(auth)
    with caplog.at_level(logging.INFO, logger="clients.bitrix24"):
        outcome = client.batch([("crm.contact.add", {"fields": {"NAME": f"N{i}"}}) for i in range(120)])
    assert sorted(outcome.results, key=int) == [str(i) for i in range(120)] and outcome.errors == {}
    assert len(set(outcome.results.values())) == 120
    assert len([r for r in caplog.records if r.msg == "b24.call"]) == 3


def test_expired_token_is_refreshed_and_the_new_pair_saved(sb: Bitrix24Sandbox, auth: PortalAuth) -> None:
    client, tokens = client_for(auth)
    control(sb, "/expire-tokens", {"member_id": auth.member_id})
    assert client.call("profile").result["ID"] == "1"
    stored = tokens.load(auth.member_id)
    assert tokens.saves == 1 and stored.access_token != auth.access_token
    assert stored.refresh_token != auth.refresh_token and stored.expires_at > datetime.now(timezone.utc)
    assert stored.client_endpoint == auth.client_endpoint and stored.domain == auth.domain
    # the sandbox rotates strictly: the old refresh token is dead, so saving the new one mattered
    stale = requests.get(f"{sb.oauth_url}/oauth/token/", timeout=5, params={
        "grant_type": "refresh_token", "client_id": APP.client_id, "client_secret": APP.client_secret,
        "refresh_token": auth.refresh_token})
    assert stale.status_code == 400 and stale.json()["error"] == "invalid_grant"


def test_token_past_expires_at_is_refreshed_before_the_call(sb: Bitrix24Sandbox, auth: PortalAuth) -> None:
    control(sb, "/expire-tokens", {"member_id": auth.member_id})
    client, tokens = client_for(auth.__class__(**{**auth.__dict__, "expires_at": datetime.now(timezone.utc)}))
    client.call("profile")
    assert tokens.saves == 1 and client.retries == 0


def test_uninstalled_app_gets_invalid_grant(sb: Bitrix24Sandbox, auth: PortalAuth) -> None:
    client, tokens = client_for(auth)
    control(sb, f"/portals/{auth.member_id}/uninstall", {"client_id": DEFAULT_CLIENT_ID})
    with pytest.raises(InvalidGrant):
        client.call("profile")
    assert tokens.saves == 0


def test_query_limit_exceeded_is_retried_until_done(sb: Bitrix24Sandbox) -> None:
    auth = new_portal(sb, bucket_size=3, speedup=5)  # drains 10/s; the client's own limiter is off
    client, _ = client_for(auth)
    results = [client.call("profile").result["ID"] for _ in range(12)]
    assert results == ["1"] * 12 and client.retries >= 1


def test_operation_time_limit_waits_for_the_reset(sb: Bitrix24Sandbox) -> None:
    auth = new_portal(sb, operating_limit=0.5, operating_cost=1.0, operating_window=2.0)
    client, _ = client_for(auth)
    client.call("profile")
    started = time.monotonic()
    client.call("profile")
    assert client.retries >= 1 and time.monotonic() - started >= 0.5


def test_duplicate_bind_is_already_bound(auth: PortalAuth) -> None:
    client, _ = client_for(auth)
    params = {"event": "ONCRMCONTACTADD", "handler": "http://127.0.0.1:9/events"}
    assert client.call("event.bind", params).result is True
    with pytest.raises(AlreadyBound) as caught:
        client.call("event.bind", params)
    assert caught.value.code == "ERROR_CORE" and caught.value.status == 400


def test_moved_portal_is_followed_and_the_new_endpoint_stored(sb) -> None:
    """The old domain answers 302 (a POST may turn into a GET): the client re-POSTs and saves the move."""
    auth = new_portal(sb)
    client, tokens = client_for(auth)
    contact_id = client.call("crm.contact.add", {"fields": {"NAME": "Moved"}}).result
    moved = control(sb, f"/portals/{auth.member_id}/move-domain")
    assert client.call("crm.contact.get", {"id": contact_id}).result["NAME"] == "Moved"
    stored = tokens.load(auth.member_id)
    assert stored.domain != auth.domain and stored.client_endpoint == f"http://{stored.domain}/rest/"
    assert stored.domain in str(moved)
    old = requests.post(auth.client_endpoint + "profile.json", json={"auth": stored.access_token},
                        allow_redirects=False, timeout=10)
    assert old.status_code == 302 and old.headers["Location"].startswith(stored.client_endpoint)
