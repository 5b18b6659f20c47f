"""The control API under /_sandbox/ on the OAuth listener: set up, steer and inspect portals."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

from flask import Blueprint, Response, request

from sandbox.bitrix24 import classic, lifecycle, smart_invoice, userfields
from sandbox.bitrix24.currency import set_currencies
from sandbox.bitrix24.directory import add_category, add_smart_invoice_stage
from sandbox.bitrix24.errors import RestError
from sandbox.bitrix24.item_types import TYPES
from sandbox.bitrix24.rest import json_response
from sandbox.bitrix24.methods_app import KNOWN_EVENTS
from sandbox.bitrix24.state import PLANS, OutgoingWebhook, Portal, State, token_hex

if TYPE_CHECKING:
    from sandbox.bitrix24.sandbox import Bitrix24Sandbox

# Who made a CRM change: a user (an app call, an incoming webhook) or nobody (DOCS events/index.md:
# a robot, workflow or agent, whose events carry no tokens).
ORIGINS = ("user", "robot", "workflow", "agent")
_CLASSIC = {"contacts": "contact", "companies": "company", "leads": "lead", "deals": "deal"}
_LIMIT_KEYS = ("drain_rate", "bucket_size", "speedup", "operating_limit", "operating_window",
               "operating_cost", "error_rate", "latency")


def apply_settings(portal: Portal, body: dict) -> None:
    """Plan (sets the bucket), limits, speed-up, faults and the required-UF option."""
    if "plan" in body:
        portal.plan = str(body["plan"])
        portal.limits.drain_rate, portal.limits.bucket_size = PLANS.get(portal.plan, PLANS["basic"])
    for key in _LIMIT_KEYS:
        if key in body:
            setattr(portal.limits, key, None if body[key] is None else float(body[key]))
    portal.limits.bucket_size = int(portal.limits.bucket_size)
    if "req_uf_check" in body:
        portal.req_uf_check = bool(body["req_uf_check"])
    if body.get("reset_bucket"):
        portal.bucket_level, portal.operating = 0.0, {}


def seed(sb: "Bitrix24Sandbox", portal: Portal, body: dict) -> dict:
    """Create records/stages/user fields directly (events fire as for any change; `origin` robot,
    workflow or agent makes the contacts/companies/leads/deals a change without a user)."""
    out: dict[str, list] = {}
    user_id, origin = _user_id(body), _origin(body)  # checked before anything is created
    for entry in body.get("userfields", []):
        userfields.add(portal, entry["entity"], entry)
    out["categories"] = [add_category(portal, int(c["entity_type_id"]), c.get("name", "Pipeline"),
                                      int(c.get("sort", 200)))["id"] for c in body.get("categories", [])]
    for stage in body.get("stages", []):
        add_smart_invoice_stage(portal, int(stage.get("category_id") or smart_invoice.default_category(portal)),
                                stage["code"], stage.get("name", stage["code"]), int(stage.get("sort", 100)),
                                stage.get("semantics"))
    for key, kind in _CLASSIC.items():
        out[key] = [classic.create(sb.state, sb.sender, portal, kind, f, user_id, origin)
                    for f in body.get(key, [])]
    names = TYPES[smart_invoice.ENTITY_TYPE_ID].names(portal)
    out["smart_invoices"] = [smart_invoice.create(sb.state, sb.sender, portal, names.fields(f))["id"]
                             for f in body.get("smart_invoices", [])]
    return out


def _user_id(body: dict) -> int:
    """The `user_id` a control call acts as (1, the portal's creator, by default)."""
    try:
        return int(body.get("user_id", 1))
    except (TypeError, ValueError):
        raise RestError(400, "INVALID_USER_ID", "user_id must be an integer") from None


def _origin(body: dict) -> str:
    """Who a control change acts as: "user" (default) or a robot, workflow or agent (no user)."""
    origin = str(body.get("origin") or "user")
    if origin not in ORIGINS:
        raise RestError(400, "INVALID_ORIGIN", f"origin must be one of {', '.join(ORIGINS)}")
    return origin


def update_record(sb: "Bitrix24Sandbox", portal: Portal, body: dict) -> dict:
    """Change a contact/company/lead/deal as a user or a robot; its UPDATE event fires as for any change."""
    kind = _CLASSIC.get(str(body.get("kind") or ""), str(body.get("kind") or ""))
    if kind not in _CLASSIC.values():
        raise RestError(400, "INVALID_KIND", f"kind must be one of {', '.join(_CLASSIC)}")
    entity_id = str(body.get("id") or "")
    if not entity_id.isdigit():
        raise RestError(400, "INVALID_ID", "id must be a record id")
    fields = body.get("fields") if isinstance(body.get("fields"), dict) else {}
    classic.update(sb.state, sb.sender, portal, kind, int(entity_id), fields, _user_id(body), _origin(body))
    return {"id": int(entity_id)}


def add_outgoing_webhook(state: State, portal: Portal, body: dict) -> dict:
    """Register an outgoing webhook (handler + events); its application token is generated."""
    events = [str(e).upper() for e in body.get("events") or []]
    unknown = sorted(set(events) - KNOWN_EVENTS)
    if not events or unknown or not body.get("handler"):
        raise RestError(400, "INVALID_WEBHOOK", f"handler and known events are required (unknown: {unknown})")
    hook = OutgoingWebhook(state.next_handler_id, events, str(body["handler"]), token_hex(16))
    state.next_handler_id += 1
    portal.outgoing_webhooks[hook.id] = hook
    return dict(hook.__dict__)


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
            body = request.get_json(silent=True) or {}
            try:
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
        return sb.create_portal(body.get("plan", "basic"), body.get("member_id"),
                                int(body.get("invoice_category_id", 5))).__dict__

    @route("/apps")
    def register_app(body: dict) -> dict:
        app = sb.register_app(**body)
        return {"client_id": app.client_id, "scope": app.scope}

    @route("/apps/<client_id>/switches", methods=("GET", "POST"))
    def app_switches(body: dict, client_id: str) -> dict:
        return sb.set_app_switches(client_id, **(body if request.method == "POST" else {}))

    @route("/settings")
    def settings(body: dict) -> dict:
        if "token_lifetime" in body:
            sb.state.token_lifetime = int(body["token_lifetime"])
        return {"token_lifetime": sb.state.token_lifetime}

    @route("/portals/<member_id>/settings")
    def portal_settings(body: dict, portal: Portal) -> dict:
        apply_settings(portal, body)
        return {"plan": portal.plan, "req_uf_check": portal.req_uf_check, **portal.limits.__dict__}

    @route("/portals/<member_id>/install")
    def install(body: dict, portal: Portal) -> dict:
        # Any user, admin or not: tests forge what the portal's own pages would refuse a non-admin.
        fields = lifecycle.begin_install(sb.state, portal, body.get("client_id", ""), body.get("handler_url"),
                                         _user_id(body))
        if body.get("finish"):
            lifecycle.finish_install(sb.state, sb.sender, portal, body["client_id"])
        return fields

    @route("/portals/<member_id>/users")
    def add_user(body: dict, portal: Portal) -> dict:
        user = portal.add_user(bool(body.get("admin", False)), str(body.get("name") or "Sandbox"),
                               str(body.get("last_name") or ""))
        return user.as_dict()

    @route("/portals/<member_id>/users", methods=("GET",))
    def users(body: dict, portal: Portal) -> list:
        return [user.as_dict() for user in portal.users.values()]

    @route("/portals/<member_id>/install-finish")
    def install_finish(body: dict, portal: Portal) -> None:
        lifecycle.finish_install(sb.state, sb.sender, portal, body.get("client_id", ""))

    @route("/portals/<member_id>/uninstall")
    def uninstall(body: dict, portal: Portal) -> None:
        lifecycle.uninstall(sb.state, sb.sender, portal, body.get("client_id", ""), bool(body.get("clean")))

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
        return set_currencies(portal, list(body.get("currencies") or []))

    @route("/portals/<member_id>/currencies", methods=("GET",))
    def list_currencies(body: dict, portal: Portal) -> list:
        return [{k: v for k, v in row.items() if k != "LANG"} for row in portal.currencies]

    @route("/portals/<member_id>/move-domain")
    def move_domain(body: dict, portal: Portal) -> dict:
        return sb.move_domain(portal.member_id)

    @route("/portals/<member_id>/webhooks")
    def webhook(body: dict, portal: Portal) -> dict:
        user_id, code = int(body.get("user_id", 1)), token_hex(8)
        portal.webhooks[(user_id, code)] = body.get("scope", "crm,user_brief")
        return {"url": f"{portal.url}/rest/{user_id}/{code}/"}

    @route("/portals/<member_id>/authorize")
    def authorize(body: dict, portal: Portal) -> dict:
        code = sb.state.issue_code(portal.member_id, body.get("client_id", ""))
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
