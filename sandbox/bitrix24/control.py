"""The control API under /_sandbox/ on the OAuth listener: set up, steer and inspect portals."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

from flask import Blueprint, Response, request

from sandbox.bitrix24 import lifecycle, permissions, staff
from sandbox.bitrix24.control_records import (add_outgoing_webhook, bad_input, integer_of, seed, update_record,
                                              user_id_of)
from sandbox.bitrix24.currency import set_currencies
from sandbox.bitrix24.errors import RestError
from sandbox.bitrix24.rest import INJECTED_ERRORS, json_response
from sandbox.bitrix24.state import PLANS, Portal, User, token_hex
from sandbox.bitrix24.values import real_number
from sandbox.bitrix24.write_log import writes_since

if TYPE_CHECKING:
    from sandbox.bitrix24.sandbox import Bitrix24Sandbox

_LIMIT_KEYS = ("drain_rate", "bucket_size", "speedup", "operating_limit", "operating_window",
               "operating_cost", "error_rate", "latency")


_APP_KEYS = ("client_id", "client_secret", "scope", "code", "version", "handler_url", "install_event_url",
             "redirect_uri")


def _number(body: dict, key: str) -> float | None:
    """A numeric control setting (null only where the setting may be off), or a 400."""
    value = real_number(body[key])
    if value is None and not (key == "operating_cost" and body[key] is None):
        raise bad_input(f"{key} must be a number")
    return None if value is None else float(value)


def text(body: dict, key: str, default: str | None = "") -> str | None:
    """A string setting of a control call, or a 400 (a list or object where a name belongs)."""
    value = body.get(key, default)
    if value is not None and not isinstance(value, str):
        raise bad_input(f"{key} must be a string")
    return value


def _error_statuses(body: dict) -> list[int] | None:
    """The injected-error mix (rest.INJECTED_ERRORS statuses), or a 400."""
    if "error_statuses" not in body:
        return None
    value = body["error_statuses"]
    if not isinstance(value, list) or not value or not all(
            not isinstance(status, bool) and status in INJECTED_ERRORS for status in value):
        raise bad_input(f"error_statuses must be a non-empty list of {', '.join(map(str, INJECTED_ERRORS))}")
    return list(value)


def apply_settings(portal: Portal, body: dict) -> None:
    """Plan (sets the bucket), limits, speed-up, faults and the required-UF option."""
    limits = {k: _number(body, k) for k in _LIMIT_KEYS if k in body}
    statuses = _error_statuses(body)
    if statuses is not None:
        limits["error_statuses"] = statuses
    if "plan" in body:
        if text(body, "plan") not in PLANS:
            raise bad_input(f"plan must be one of {', '.join(PLANS)}")
        portal.plan = text(body, "plan")
        portal.limits.drain_rate, portal.limits.bucket_size = PLANS.get(portal.plan, PLANS["basic"])
    for key, value in limits.items():
        setattr(portal.limits, key, value)
    portal.limits.bucket_size = int(portal.limits.bucket_size)
    if "req_uf_check" in body:
        portal.req_uf_check = bool(body["req_uf_check"])
    if body.get("reset_bucket"):
        portal.bucket_level, portal.operating = 0.0, {}


def install_view(portal: Portal) -> dict:
    """The installs of a portal, for inspection."""
    return {cid: {"installed": i.installed, "handler_url": i.handler_url,
                  "application_token": i.application_token, "options": i.options,
                  "events": [b.__dict__ for b in i.events],
                  "placements": [{"placement": p.placement, "handler": p.handler, "title": p.title}
                                 for p in i.placements]} for cid, i in portal.installs.items()}


def control_blueprint(sb: "Bitrix24Sandbox") -> Blueprint:
    """Routes of the control API."""
    bp = Blueprint("control", __name__, url_prefix="/_sandbox")

    def guarded(func: Callable[..., Any]) -> Callable[..., Response]:
        def view(**kwargs: Any) -> Response:
            body = request.get_json(silent=True)
            body = {} if body is None else body
            try:
                if not isinstance(body, dict):
                    raise bad_input("the body must be a JSON object")
                with sb.state.lock:
                    portal = sb.portal(kwargs.pop("member_id")) if "member_id" in kwargs else None
                    result = func(body, portal, **kwargs) if portal else func(body, **kwargs)
            except RestError as err:
                return json_response(err.body(), err.status)
            return json_response(result if result is not None else {"ok": True})
        view.__name__ = func.__name__
        return view

    def route(rule: str, methods: tuple[str, ...] = ("POST",)) -> Callable:
        return lambda func: bp.add_url_rule(rule, view_func=guarded(func), methods=list(methods))

    @route("/reset")
    def reset(body: dict) -> dict:
        sb.reset()
        return sb.describe()

    @route("/", methods=("GET",))
    def describe(body: dict) -> dict:
        return sb.describe()

    @route("/portals")
    def create_portal(body: dict) -> dict:
        if text(body, "plan", "basic") not in PLANS:
            raise bad_input(f"plan must be one of {', '.join(PLANS)}")
        return sb.create_portal(text(body, "plan", "basic"), text(body, "member_id", None),
                                integer_of(body, "invoice_category_id", 5)).__dict__

    @route("/apps")
    def register_app(body: dict) -> dict:
        unknown = sorted(set(body) - set(_APP_KEYS))
        if unknown or not text(body, "client_id") or not text(body, "client_secret"):
            raise bad_input(f"client_id and client_secret are required; known keys: {', '.join(_APP_KEYS)}")
        app = sb.register_app(**{k: text(body, k) for k in _APP_KEYS if k != "version" and body.get(k) is not None},
                              version=integer_of(body, "version", 1))
        return {"client_id": app.client_id, "scope": app.scope}

    @route("/apps/<client_id>/switches", methods=("GET", "POST"))
    def app_switches(body: dict, client_id: str) -> dict:
        return sb.set_app_switches(client_id, **(body if request.method == "POST" else {}))

    @route("/settings")
    def settings(body: dict) -> dict:
        if "token_lifetime" in body:
            sb.state.token_lifetime = integer_of(body, "token_lifetime", 3600)
        return {"token_lifetime": sb.state.token_lifetime}

    @route("/portals/<member_id>/settings")
    def portal_settings(body: dict, portal: Portal) -> dict:
        apply_settings(portal, body)
        return {"plan": portal.plan, "req_uf_check": portal.req_uf_check, **portal.limits.__dict__}

    @route("/portals/<member_id>/requests", methods=("GET",))
    def request_counts(body: dict, portal: Portal) -> dict:
        # So a test can count Bitrix24 writes: "requests" are HTTP requests by method (a batch is one),
        # "commands" every method run, batch commands included; "refused_503" the leaky bucket's refusals.
        return {"requests": dict(portal.requests), "commands": dict(portal.commands),
                "refused_503": portal.refused_503}

    @route("/portals/<member_id>/records/<kind>", methods=("GET",))
    def records(body: dict, portal: Portal, kind: str) -> list:
        # Stored records of one kind (contact, company, smart_invoice, invoice) whose fields equal the query's
        # values: a watcher that spends none of the portal's request budget (the demo's latency figures).
        wanted = request.args.to_dict()
        return [dict(record) for record in portal.entities.get(kind, {}).values()
                if all(str(record.get(name)) == value for name, value in wanted.items())]

    @route("/portals/<member_id>/requests/reset")
    def reset_request_counts(body: dict, portal: Portal) -> dict:
        portal.requests, portal.commands, portal.refused_503 = {}, {}, 0
        return {"requests": {}, "commands": {}, "refused_503": 0}

    @route("/portals/<member_id>/writes", methods=("GET",))
    def write_times(body: dict, portal: Portal) -> list:
        # Latency measurements: each CRM write (batch commands too) with its time.time() (write_log.py).
        return writes_since(portal, integer_of(dict(request.args), "since", 0))

    @route("/portals/<member_id>/install")
    def install(body: dict, portal: Portal) -> dict:
        # Any user, admin or not: tests forge what the portal's own pages would refuse a non-admin.
        client_id = text(body, "client_id")
        fields = lifecycle.begin_install(sb.state, portal, client_id, text(body, "handler_url", None), user_id_of(body))
        if body.get("finish"):
            lifecycle.finish_install(sb.state, sb.sender, portal, client_id)
        return fields

    @route("/portals/<member_id>/users")
    def add_user(body: dict, portal: Portal) -> dict:
        crm_read = User(0, False)
        if "crm_read" in body:
            permissions.set_read(crm_read, body["crm_read"])  # checked before the user exists
        language = body.get("language", "en")
        if not staff.is_language(language):
            raise RestError(400, "INVALID_BODY", "language must be a Bitrix24 language id such as en, de, ru or ua")
        user = portal.add_user(bool(body.get("admin", False)), text(body, "name") or "Sandbox",
                               text(body, "last_name") or None)
        user.crm_read, user.language = crm_read.crm_read, language
        return user.as_dict()

    @route("/portals/<member_id>/users/<int:user_id>")
    def change_user(body: dict, portal: Portal, user_id: int) -> dict:
        # An administrator demoted or promoted ({"admin": bool}), an employee terminated
        # ({"active": false, "integrations": "disable" | "preserve"}); staff.py cites the docs.
        return staff.update_user(sb.state, portal, user_id, body)

    @route("/portals/<member_id>/users", methods=("GET",))
    def users(body: dict, portal: Portal) -> list:
        return [user.as_dict() for user in portal.users.values()]

    @route("/portals/<member_id>/install-finish")
    def install_finish(body: dict, portal: Portal) -> None:
        lifecycle.finish_install(sb.state, sb.sender, portal, text(body, "client_id"))

    @route("/portals/<member_id>/uninstall")
    def uninstall(body: dict, portal: Portal) -> None:
        lifecycle.uninstall(sb.state, sb.sender, portal, text(body, "client_id"), bool(body.get("clean")))

    @route("/portals/<member_id>/installs", methods=("GET",))
    def installs(body: dict, portal: Portal) -> dict:
        return install_view(portal)

    @route("/portals/<member_id>/seed")
    def seed_portal(body: dict, portal: Portal) -> dict:
        return seed(sb, portal, body)

    @route("/portals/<member_id>/update")
    def update(body: dict, portal: Portal) -> dict:
        return update_record(sb, portal, body)

    @route("/portals/<member_id>/outgoing-webhooks")
    def outgoing_webhook(body: dict, portal: Portal) -> dict:
        return add_outgoing_webhook(sb.state, portal, body)

    @route("/portals/<member_id>/currencies")
    def currencies(body: dict, portal: Portal) -> list:
        # A currency missing on the portal must make a record fail in the sync, so tests set the list.
        return set_currencies(portal, body.get("currencies"))

    @route("/portals/<member_id>/currencies", methods=("GET",))
    def list_currencies(body: dict, portal: Portal) -> list:
        return [{k: v for k, v in row.items() if k != "LANG"} for row in portal.currencies]

    @route("/portals/<member_id>/move-domain")
    def move_domain(body: dict, portal: Portal) -> dict:
        return sb.move_domain(portal.member_id)

    @route("/portals/<member_id>/webhooks")
    def webhook(body: dict, portal: Portal) -> dict:
        user_id, code = user_id_of(body), token_hex(8)
        portal.webhooks[(user_id, code)] = text(body, "scope", "crm,user_brief")
        return {"url": f"{portal.url}/rest/{user_id}/{code}/"}

    @route("/portals/<member_id>/authorize")
    def authorize(body: dict, portal: Portal) -> dict:
        code = sb.state.issue_code(portal.member_id, text(body, "client_id"))
        return {"code": code, "domain": portal.domain, "member_id": portal.member_id}

    @route("/expire-tokens")
    def expire_tokens(body: dict) -> dict:
        hit = [t for t in sb.state.tokens.values()
               if body.get("member_id") in (None, t.member_id) and body.get("client_id") in (None, t.client_id)]
        for token in hit:
            token.expires = time.time() - 1
        return {"expired": len(hit)}

    @route("/events", methods=("GET",))
    def sent_events(body: dict) -> list:
        wanted = request.args
        return [e.as_dict() for e in sb.state.sent_events
                if all(wanted.get(k) in (None, getattr(e, k)) for k in ("member_id", "event", "client_id"))]

    @route("/events/clear")
    def clear_events(body: dict) -> None:
        sb.state.sent_events.clear()

    return bp
