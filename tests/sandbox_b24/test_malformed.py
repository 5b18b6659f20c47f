"""Malformed REST calls get the documented status and error code."""
from __future__ import annotations

import json

import pytest
import requests

from sandbox_b24.conftest import Portal

BATCH_51 = {str(i): "profile" for i in range(51)}
# (method, payload, status, error code); payload None = raw body in RAW below.
CASES = [
    ("crm.contact.add", {"fields": "x"}, 400, ""),
    ("crm.contact.add", {"fields": [1, 2]}, 400, ""),
    ("crm.contact.add", {}, 400, ""),
    ("crm.contact.add", {"fields": {"EMAIL": [{"VALUE": "not-an-email"}]}}, 400, "ERROR_CORE"),
    ("crm.contact.get", {}, 400, ""),
    ("crm.contact.get", {"id": "abc"}, 400, ""),
    ("crm.contact.get", {"id": -5}, 400, ""),
    ("crm.contact.get", {"id": 0}, 400, ""),
    ("crm.contact.get", {"id": 987654}, 400, ""),
    ("crm.contact.update", {"id": 987654, "fields": {"NAME": "x"}}, 400, ""),
    ("crm.contact.update", {"id": "x", "fields": {}}, 400, ""),
    ("crm.contact.update", {"id": 1, "fields": "x"}, 400, ""),
    ("crm.contact.delete", {"id": 987654}, 400, ""),
    ("crm.contact.delete", {"id": "zz"}, 400, ""),
    ("crm.contact.list", {"filter": "x"}, 400, ""),
    ("crm.contact.list", {"order": 5}, 400, ""),
    ("crm.company.add", {"fields": "x"}, 400, ""),
    ("crm.company.get", {"id": 987654}, 400, ""),
    ("crm.company.update", {"id": 987654, "fields": {}}, 400, ""),
    ("crm.company.delete", {}, 400, ""),
    ("crm.lead.get", {"id": 987654}, 400, ""),
    ("crm.deal.get", {"id": "x"}, 400, ""),
    ("crm.item.get", {"entityTypeId": 999, "id": 1}, 400, "NOT_FOUND"),
    ("crm.item.get", {"entityTypeId": "abc", "id": 1}, 400, "NOT_FOUND"),
    ("crm.item.get", {"id": 1}, 400, "NOT_FOUND"),
    ("crm.item.get", {"entityTypeId": 5, "id": 1}, 400, "ENTITY_TYPE_NOT_SUPPORTED"),
    ("crm.item.add", {"entityTypeId": 5, "fields": {}}, 400, "ENTITY_TYPE_NOT_SUPPORTED"),
    ("crm.item.get", {"entityTypeId": 31, "id": 987654}, 400, "NOT_FOUND"),
    ("crm.item.get", {"entityTypeId": 31, "id": "x"}, 400, "INVALID_ARG_VALUE"),
    ("crm.item.add", {"entityTypeId": 31}, 400, "INVALID_ARG_VALUE"),
    ("crm.item.add", {"entityTypeId": 31, "fields": {"stageId": "DT31_5:NOPE"}}, 400, "CRM_FIELD_ERROR_VALUE_NOT_VALID"),
    ("crm.item.add", {"entityTypeId": 31, "fields": {"opportunity": "lots"}}, 400, "CRM_FIELD_ERROR_VALUE_NOT_VALID"),
    ("crm.item.add", {"entityTypeId": 31, "fields": {"categoryId": 777}}, 400, "CRM_FIELD_ERROR_VALUE_NOT_VALID"),
    ("crm.item.update", {"entityTypeId": 31, "id": 987654, "fields": {}}, 400, "NOT_FOUND"),
    ("crm.item.delete", {"entityTypeId": 31, "id": 987654}, 400, "NOT_FOUND"),
    ("crm.item.list", {"entityTypeId": 31, "filter": {"FIELD": 1}}, 400, "INVALID_ARG_VALUE"),
    ("crm.item.list", {"entityTypeId": 31, "order": {"nope": "ASC"}}, 400, "INVALID_ARG_VALUE"),
    ("crm.item.list", {"entityTypeId": 31, "filter": "x"}, 400, "INVALID_ARG_VALUE"),
    ("crm.item.list", {"entityTypeId": 31, "select": 5}, 400, "INVALID_ARG_VALUE"),  # engine `array $select`
    ("crm.item.list", {"entityTypeId": 3, "select": True}, 400, "INVALID_ARG_VALUE"),
    ("crm.contact.list", {"select": 5}, 400, ""),
    ("crm.item.list", {"entityTypeId": 31, "filter": {"\n0": None}}, 400, "INVALID_ARG_VALUE"),  # found by hypothesis
    ("crm.item.add", {"entityTypeId": 31, "fields": {"categoryId": "inf"}}, 400, "CRM_FIELD_ERROR_VALUE_NOT_VALID"),
    ("crm.item.productrow.set", {"ownerType": "D", "ownerId": 1, "productRows": []}, 400, "INVALID_ARG_VALUE"),
    ("crm.item.productrow.set", {"ownerType": "SI", "ownerId": 987654, "productRows": []}, 400, "NOT_FOUND"),
    ("crm.invoice.add", {"fields": {"ORDER_TOPIC": "x"}}, 400, ""),
    ("crm.invoice.add", {"fields": {"ORDER_TOPIC": "x", "PERSON_TYPE_ID": "99", "PAY_SYSTEM_ID": "1"}}, 400, ""),
    ("crm.invoice.get", {"id": 987654}, 400, ""),
    ("crm.invoice.get", {"id": "x"}, 400, ""),
    ("crm.invoice.delete", {}, 400, ""),
    ("crm.invoice.add", {"fields": "x"}, 400, ""),
    ("crm.category.list", {"entityTypeId": 999}, 400, "NOT_FOUND"),
    ("crm.duplicate.findbycomm", {"type": "FAX", "values": ["1"]}, 400, ""),
    ("crm.duplicate.findbycomm", {"type": "EMAIL"}, 400, ""),
    ("crm.duplicate.findbycomm", {"type": "EMAIL", "values": "a@x.io"}, 400, ""),  # a string, not an array
    ("crm.duplicate.findbycomm", {"type": "EMAIL", "values": ["a@x.io"], "entity_type": "DEAL"}, 400, ""),
    ("crm.contact.userfield.add", {"fields": {"FIELD_NAME": "X"}}, 400, ""),
    ("crm.contact.userfield.add", {"fields": {"USER_TYPE_ID": "string", "FIELD_NAME": "bad name!"}}, 400, ""),
    ("crm.nonexistent.method", {}, 404, "ERROR_METHOD_NOT_FOUND"),
    ("crm.contact.explode", {}, 404, "ERROR_METHOD_NOT_FOUND"),
    ("event.bind", {"event": "ONNOTHING", "handler": "http://x"}, 400, "ERROR_EVENT_NOT_FOUND"),
    ("event.bind", {"event": "ONCRMCONTACTADD"}, 400, "ERROR_ARGUMENT"),
    ("event.unbind", {}, 400, "ERROR_ARGUMENT"),
    ("placement.bind", {"PLACEMENT": "CRM_CONTACT_DETAIL_TOOLBAR"}, 400, "ERROR_ARGUMENT"),
    ("placement.unbind", {}, 400, "ERROR_ARGUMENT"),
    ("app.option.set", {"options": "x"}, 400, "ERROR_ARGUMENT"),
    ("batch", {}, 400, "ERROR_ARGUMENT"),
    ("batch", {"cmd": "profile"}, 400, "ERROR_ARGUMENT"),
]
RAW = [
    ("bad json", b"{not json", "application/json", 400, "INVALID_REQUEST"),
    ("json array", b"[1,2]", "application/json", 400, "INVALID_REQUEST"),
]


@pytest.mark.parametrize(("method", "payload", "status", "code"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_malformed_call(portal: Portal, method: str, payload: dict, status: int, code: str) -> None:
    response = portal.call(method, payload)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code and isinstance(body["error_description"], str) and "result" not in body


@pytest.mark.parametrize(("label", "raw", "ctype", "status", "code"), RAW, ids=[r[0] for r in RAW])
def test_unparsable_bodies(portal: Portal, label: str, raw: bytes, ctype: str, status: int, code: str) -> None:
    response = requests.post(f"{portal.url}/rest/profile.json?auth={portal.auth}", data=raw, headers={"Content-Type": ctype})
    assert (response.status_code, response.json()["error"]) == (status, code)


@pytest.mark.parametrize(("auth", "status", "code"), [
    (None, 401, "NO_AUTH_FOUND"), ("", 401, "NO_AUTH_FOUND"), ("deadbeef", 401, "invalid_token")])
def test_bad_auth(portal: Portal, auth: str | None, status: int, code: str) -> None:
    body = {} if auth is None else {"auth": auth}
    response = requests.post(f"{portal.url}/rest/crm.contact.list.json", json=body)
    assert (response.status_code, response.json()["error"]) == (status, code)


def test_token_of_another_portal_is_refused(sb, portal: Portal) -> None:
    other = requests.post(f"{sb.control_url}/portals", json={}).json()
    response = requests.post(f"{other['url']}/rest/profile.json", json={"auth": portal.auth})
    assert (response.status_code, response.json()["error"]) == (401, "invalid_token")


def test_unknown_webhook_and_missing_scope(portal: Portal) -> None:
    response = requests.post(f"{portal.url}/rest/1/nosuchcode/profile.json", json={})
    assert (response.status_code, response.json()["error"]) == (401, "NO_AUTH_FOUND")
    hook = portal.control("webhooks", {"user_id": 1, "scope": "user_brief"}).json()["url"]
    response = requests.post(f"{hook}crm.contact.list.json", json={})
    assert (response.status_code, response.json()["error"]) == (403, "insufficient_scope")
    response = requests.post(f"{hook}app.info.json", json={})
    assert (response.status_code, response.json()["error"]) == (400, "ACCESS_DENIED")


def test_oversized_batch_fails_per_command(portal: Portal) -> None:
    body = portal.call("batch", {"cmd": BATCH_51}).json()["result"]
    assert len(body["result"]) == 50
    assert body["result_error"] == {"50": {"error": "ERROR_BATCH_LENGTH_EXCEEDED", "error_description": "Max batch length exceeded"}}


def test_nested_batch_and_unknown_method_in_batch(portal: Portal) -> None:
    body = portal.call("batch", {"cmd": {"a": "batch?cmd[x]=profile", "b": "no.such.method"}}).json()["result"]
    assert body["result_error"]["a"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"
    assert body["result_error"]["b"]["error"] == "ERROR_METHOD_NOT_FOUND"
    assert body["result"] == []


def test_injected_faults(portal: Portal) -> None:
    portal.control("settings", {"error_rate": 1.0, "error_statuses": [500]})
    response = portal.call("profile")
    assert (response.status_code, response.json()["error"]) == (500, "INTERNAL_SERVER_ERROR")
    portal.control("settings", {"error_rate": 0.0})
    assert portal.call("profile").status_code == 200
    assert json.loads(portal.call("profile").text)["result"]["ID"] == "1"


def test_injected_faults_mix_server_errors_and_the_query_limit(portal: Portal) -> None:
    """Reference §8 error table: an injected error is 500 INTERNAL_SERVER_ERROR or 503 QUERY_LIMIT_EXCEEDED
    (the leaky bucket's words) by default; the mix is a per-portal setting, checked before it is taken."""
    assert portal.control("settings", {"error_rate": 1.0}).json()["error_statuses"] == [500, 503]
    answers = {(r.status_code, r.json()["error"], r.json()["error_description"])
               for r in (portal.call("profile") for _ in range(30))}
    assert answers == {(500, "INTERNAL_SERVER_ERROR", "Internal server error"),
                       (503, "QUERY_LIMIT_EXCEEDED", "Too many requests")}
    for bad in ([], [429], ["503"], [True], 503):
        refused = portal.control("settings", {"error_statuses": bad, "error_rate": 0.0})
        assert refused.status_code == 400 and "error_statuses" in refused.json()["error_description"]
    assert portal.control("settings", {"error_statuses": [503]}).json()["error_rate"] == 1.0  # nothing taken
    assert portal.call("profile").status_code == 503
