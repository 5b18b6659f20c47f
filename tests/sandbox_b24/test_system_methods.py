"""server.time, scope, methods and user.current.

Sources: DOCS api-reference/common/system/server-time.md, scope.md (`full=true` = every scope of
api-reference/scopes/permissions.md), methods.md (no parameters: the caller's methods; `scope=x`: that
scope's; `scope=` empty: the common ones; `full=true`: all), api-reference/user/user-current.md (scopes
user, user_brief, user_basic); fixtures api-reference__common__system__* and api-reference__user__*.
"""
from __future__ import annotations

import re

import requests

from sandbox.bitrix24.registry import METHODS
from sandbox_b24.conftest import Portal, fixture_json, ok, same_shape


def test_server_time(portal: Portal) -> None:
    """`YYYY-MM-DDThh:mm:ss±hh:mm`."""
    body = ok(portal.call("server.time"))
    assert same_shape(body, fixture_json("api-reference__common__system__server-time__01.json")) == []
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", body["result"])


def test_scope_lists_the_callers_scopes_or_all(portal: Portal) -> None:
    """The app token's scopes; a webhook's own; `full=true` the documented complete list."""
    body = ok(portal.call("scope"))
    assert same_shape(body, fixture_json("api-reference__common__system__scope__01.json")) == []
    assert body["result"] == ["crm", "placement", "user_brief"]
    hook = portal.control("webhooks", {"user_id": 1, "scope": "crm,task"}).json()["url"]
    assert ok(requests.post(f"{hook}scope.json", json={}, timeout=10))["result"] == ["crm", "task"]
    full = ok(portal.call("scope", {"full": True}))["result"]
    assert {"crm", "user", "userfieldconfig", "placement", "entity", "task"} <= set(full) and len(full) > 40


def test_methods_reflect_the_registry_and_the_callers_scope(portal: Portal) -> None:
    """Names of registered methods only; a webhook without app context does not see app-only ones."""
    body = ok(portal.call("methods"))
    assert same_shape(body, fixture_json("api-reference__common__system__methods__01.json")) == []
    mine = set(body["result"])
    assert {"crm.item.list", "crm.currency.list", "app.info", "event.bind", "server.time"} <= mine
    assert "userfieldconfig.add" not in mine and mine <= set(METHODS)
    assert set(ok(portal.call("methods", {"full": True}))["result"]) == set(METHODS)
    crm_only = set(ok(portal.call("methods", {"scope": "crm"}))["result"])
    assert "crm.item.add" in crm_only and "server.time" not in crm_only and "user.current" not in crm_only
    common = set(ok(portal.call("methods", {"scope": ""}))["result"])
    assert {"server.time", "scope", "methods", "batch"} <= common and "crm.item.add" not in common
    hook = portal.control("webhooks", {"user_id": 1, "scope": "crm"}).json()["url"]
    via_hook = set(ok(requests.post(f"{hook}methods.json", json={}, timeout=10))["result"])
    assert "crm.item.add" in via_hook and "app.info" not in via_hook and "event.bind" not in via_hook


def test_user_current(portal: Portal) -> None:
    """The calling user (the token's or the webhook's); needs user, user_brief or user_basic."""
    body = ok(portal.call("user.current"))
    assert same_shape(body, fixture_json("api-reference__user__user-current__01.json")) == []
    assert body["result"]["ID"] == "1" and body["result"]["ACTIVE"] is True
    clerk = portal.control("users", {"admin": False, "name": "Clara"}).json()
    hook = portal.control("webhooks", {"user_id": clerk["id"], "scope": "crm,user_basic"}).json()["url"]
    assert ok(requests.post(f"{hook}user.current.json", json={}, timeout=10))["result"]["NAME"] == "Clara"
    crm_only = portal.control("webhooks", {"user_id": 1, "scope": "crm"}).json()["url"]
    refused = requests.post(f"{crm_only}user.current.json", json={}, timeout=10)
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope"
