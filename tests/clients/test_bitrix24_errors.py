"""Malformed calls against the Bitrix24 sandbox each surface as the right typed error, never retried."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
import requests

from clients.bitrix24 import Bitrix24Client
from clients.bitrix24_batch import BatchResult
from clients.bitrix24_errors import (
    AccessDenied, AlreadyBound, BatchLengthExceeded, BatchMethodNotAllowed, Bitrix24Error, InsufficientScope,
    InvalidArgument, MethodNotFound, NoAuthFound, NotFound, RequiredFieldError, WrongAuthType, error_from_body,
)
from clients.bitrix24_auth import PortalAuth
from sandbox.bitrix24.sandbox import Bitrix24Sandbox
from tests.clients.test_bitrix24_sandbox import client_for, control, install, new_portal

SI = 31
UNKNOWN_METHODS = ["crm.nothing.here", "crm.contact.explode", "crm.item.fly", "user.delete.all", "x"]
BAD_IDS = [None, "abc", -1, 0, [1], {"a": 1}]
CASES: list[tuple[str, dict, type[Bitrix24Error]]] = [
    *[(m, {}, MethodNotFound) for m in UNKNOWN_METHODS],
    *[("crm.contact.get", {} if i is None else {"id": i}, InvalidArgument) for i in BAD_IDS],
    *[("crm.company.get", {} if i is None else {"id": i}, InvalidArgument) for i in BAD_IDS[:3]],
    ("crm.contact.get", {"id": 987654}, NotFound),
    ("crm.company.get", {"id": 987654}, NotFound),
    ("crm.contact.update", {"id": 987654, "fields": {"NAME": "x"}}, NotFound),
    ("crm.contact.delete", {"id": 987654}, NotFound),
    *[("crm.contact.add", p, InvalidArgument) for p in ({}, {"fields": "x"}, {"fields": 5}, {"fields": [1, 2]})],
    *[("crm.company.add", p, InvalidArgument) for p in ({}, {"fields": "x"}, {"fields": [3]})],
    ("crm.contact.update", {"id": 1, "fields": "x"}, InvalidArgument),
    ("crm.contact.update", {"fields": {"NAME": "x"}}, InvalidArgument),
    ("crm.contact.add", {"fields": {"EMAIL": [{"VALUE": "not-an-email", "VALUE_TYPE": "WORK"}]}}, InvalidArgument),
    ("crm.contact.add", {"fields": {"EMAIL": "x@y.z"}}, InvalidArgument),
    ("crm.item.add", {"entityTypeId": 999, "fields": {"title": "x"}}, NotFound),
    ("crm.item.get", {"entityTypeId": 999, "id": 1}, NotFound),
    ("crm.item.list", {"entityTypeId": 999}, NotFound),
    ("crm.item.get", {"entityTypeId": SI, "id": 987654}, NotFound),
    ("crm.item.update", {"entityTypeId": SI, "id": 987654, "fields": {"title": "x"}}, NotFound),
    ("crm.item.delete", {"entityTypeId": SI, "id": 987654}, NotFound),
    ("crm.item.add", {"entityTypeId": 5, "fields": {"title": "x"}}, InvalidArgument),
    ("crm.item.list", {"entityTypeId": SI, "filter": {"FIELD": 1}}, InvalidArgument),
    ("crm.item.list", {"entityTypeId": SI, "order": {"nonsense": "ASC"}}, InvalidArgument),
    ("crm.item.list", {"entityTypeId": SI, "filter": "x"}, InvalidArgument),
    ("crm.item.add", {"entityTypeId": SI, "fields": "x"}, InvalidArgument),
    ("crm.item.add", {"entityTypeId": SI, "fields": {"categoryId": 4242}}, InvalidArgument),
    ("crm.item.add", {"entityTypeId": SI, "fields": {"stageId": "DT31_5:NOPE"}}, InvalidArgument),
    ("crm.item.productrow.set", {"ownerType": "D", "ownerId": 1, "productRows": []}, InvalidArgument),
    ("crm.item.productrow.set", {"ownerType": "SI", "ownerId": 987654, "productRows": []}, NotFound),
    ("crm.duplicate.findbycomm", {}, InvalidArgument),
    ("crm.duplicate.findbycomm", {"type": "EMAIL"}, InvalidArgument),
    ("crm.duplicate.findbycomm", {"type": "EMAIL", "values": "a@x.io"}, InvalidArgument),  # a string, not an array
    ("crm.invoice.add", {"fields": {"ORDER_TOPIC": "x"}}, RequiredFieldError),
    ("crm.invoice.get", {"id": "abc"}, InvalidArgument),
    ("crm.invoice.get", {"id": 987654}, NotFound),
    ("event.bind", {"event": "ONNOTHING", "handler": "http://127.0.0.1:9/h"}, NotFound),
    ("event.bind", {"event": "ONCRMCONTACTADD"}, InvalidArgument),
    ("event.bind", {"handler": "http://127.0.0.1:9/h"}, NotFound),  # no event name: no such event
    ("event.bind", {"event": "ONCRMCONTACTUPDATE", "handler": "http://127.0.0.1:9/bound"}, AlreadyBound),
    ("placement.bind", {"HANDLER": "http://127.0.0.1:9/p"}, InvalidArgument),
    ("app.option.set", {}, InvalidArgument),
    ("app.option.set", {"options": "x"}, InvalidArgument),
    ("batch", {}, InvalidArgument),
    ("batch", {"cmd": {}}, InvalidArgument),
]


@pytest.fixture(scope="module")
def sb() -> Iterator[Bitrix24Sandbox]:
    sandbox = Bitrix24Sandbox().start()
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="module")
def client(sb: Bitrix24Sandbox) -> Bitrix24Client:
    auth = new_portal(sb, plan="enterprise")  # a bucket of 250: all cases fit without a 503
    client, _ = client_for(auth, sleep=lambda s: pytest.fail("a malformed call was retried"))
    client.call("event.bind", {"event": "ONCRMCONTACTUPDATE", "handler": "http://127.0.0.1:9/bound"})
    return client


def test_there_are_at_least_fifty_cases() -> None:
    assert len(CASES) >= 50


@pytest.mark.parametrize("method,params,expected", CASES, ids=[f"{i}-{c[0]}" for i, c in enumerate(CASES)])
def test_malformed_call_raises_its_type(client: Bitrix24Client, method: str, params: dict,
                                        expected: type[Bitrix24Error]) -> None:
    with pytest.raises(Bitrix24Error) as caught:
        client.call(method, params)
    assert type(caught.value) is expected, caught.value
    assert caught.value.status is not None and 400 <= caught.value.status < 500


def test_required_user_field_when_the_portal_checks_them(sb: Bitrix24Sandbox) -> None:
    auth = new_portal(sb, req_uf_check=True)
    control(sb, f"/portals/{auth.member_id}/seed",
            {"userfields": [{"entity": "CRM_SMART_INVOICE", "FIELD_NAME": "UF_CRM_SMART_INVOICE_QB", "MANDATORY": "Y"}]})
    client, _ = client_for(auth)
    with pytest.raises(RequiredFieldError) as caught:
        client.call("crm.item.add", {"entityTypeId": SI, "fields": {"title": "x"}})
    assert caught.value.code == "CRM_FIELD_ERROR_REQUIRED"


def test_missing_token_is_no_auth_found_and_not_refreshed(sb: Bitrix24Sandbox) -> None:
    auth = new_portal(sb)
    client, tokens = client_for(replace(auth, access_token=""))
    with pytest.raises(NoAuthFound):
        client.call("profile")
    assert tokens.saves == 0


def test_garbage_token_is_refreshed_then_works(sb: Bitrix24Sandbox) -> None:
    auth = new_portal(sb)
    client, tokens = client_for(replace(auth, access_token="0" * 68))
    assert client.call("profile").result["ID"] == "1" and tokens.saves == 1


def test_scope_and_auth_type_errors(sb: Bitrix24Sandbox) -> None:
    sb.register_app("local.narrow.1", "narrow-secret", scope="user_brief")
    member_id = control(sb, "/portals", {})["member_id"]
    narrow, _ = client_for(install(sb, member_id, "local.narrow.1"))
    with pytest.raises(InsufficientScope):
        narrow.call("crm.contact.list")
    hook = control(sb, f"/portals/{member_id}/webhooks", {"scope": "crm"})["url"]
    # an incoming webhook path as the endpoint: the portal ignores `auth` and applies the hook's rights
    webhook, _ = client_for(PortalAuth(member_id, "", hook, "", "unused", "unused", narrow._current_auth().expires_at))
    with pytest.raises(WrongAuthType):
        webhook.call("placement.bind", {"PLACEMENT": "CRM_CONTACT_DETAIL_TAB", "HANDLER": "http://127.0.0.1:9/p"})
    with pytest.raises(AccessDenied):
        webhook.call("app.info")


def test_oversized_and_nested_batch_commands_fail_one_by_one(client: Bitrix24Client) -> None:
    cmd = {f"c{i}": "profile" for i in range(52)} | {"nested": "batch?cmd[a]=profile"}
    outcome = BatchResult.from_result(client.call("batch", {"cmd": cmd}).result)
    assert len(outcome.results) == 50
    assert {type(e) for e in outcome.errors.values()} == {BatchLengthExceeded}
    nested = BatchResult.from_result(client.call("batch", {"cmd": {"n": "batch?cmd[a]=profile", "s": 7}}).result)
    assert type(nested.errors["n"]) is BatchMethodNotAllowed and type(nested.errors["s"]) is InvalidArgument


@pytest.mark.parametrize("body,content_type", [(b"{not json", "application/json"), (b"[1, 2]", "application/json")])
def test_bodies_the_client_never_sends_map_too(sb: Bitrix24Sandbox, body: bytes, content_type: str) -> None:
    portal = sb.default_portal
    response = requests.post(f"{portal.url}/rest/profile.json", data=body, timeout=5,
                             headers={"Content-Type": content_type})
    assert type(error_from_body(response.json(), response.status_code)) is InvalidArgument
