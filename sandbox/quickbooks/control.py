"""Control API under /_sandbox/ (JSON) — for tests and the demo only; real QuickBooks has nothing like it."""
from __future__ import annotations

from dataclasses import fields
from typing import Any

from flask import Blueprint, Response, jsonify, request

from .context import sandbox
from .grants import DEFAULT_CLIENT_ID, App
from .preferences import company_info
from .realm import ENTITIES, CompanySwitches, Realm
from .store import Settings

control = Blueprint("qbo_control", __name__, url_prefix="/_sandbox")


INJECTED_STATUSES = (429, 500, 503)


class ControlError(Exception):
    """A 400 answer of the control API."""


def json_body() -> dict[str, Any]:
    """The JSON object body (empty when absent)."""
    payload = request.get_json(silent=True, force=True)
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise ControlError("body must be a JSON object")
    return payload


def _posted_changes(kind: type, noun: str) -> dict[str, Any]:
    """A POST's {name: value} for the dataclass `kind` (a GET changes nothing); unknown names → 400."""
    body = json_body() if request.method == "POST" else {}
    unknown = set(body) - {field.name for field in fields(kind)}
    if unknown:
        raise ControlError(f"unknown {noun}: {', '.join(sorted(unknown))}")
    return body


@control.errorhandler(ControlError)
def _control_error(error: ControlError) -> Response:
    """{"error": message} with 400."""
    return jsonify({"error": str(error)}), 400


@control.get("/")
def index() -> Response:
    """What this control API offers."""
    state = sandbox().state
    with state.lock:
        realms = sorted(state.realms)
    return jsonify({"realms": realms, "default_client_id": DEFAULT_CLIENT_ID, "endpoints": [
        "POST reset", "POST seed", "POST realms", "POST apps", "POST settings", "GET settings",
        "POST webhooks",
        "GET webhooks/deliveries", "POST webhooks/flush", "POST tokens/expire", "POST clock", "GET stats",
        "GET grants",
        "GET realms/<id>/entities/<Entity>", "POST realms/<id>/names", "POST realms/<id>/customers/merge",
        "GET realms/<id>/switches", "POST realms/<id>/switches"]})


@control.post("/reset")
def reset() -> Response:
    """Fresh sample company ({"empty": true} for an empty one); tokens and counters are dropped."""
    state = sandbox().state
    empty = bool(json_body().get("empty", False))
    with state.lock:
        realm = state.reset(empty=empty)
    return jsonify({"realm_id": realm.realm_id})


def _build_args(body: dict[str, Any]) -> dict[str, Any]:
    """Realm-building arguments from a seed/realms body."""
    if body.get("empty"):
        return {"empty": True}
    if body.get("sample") or "customers" not in body:
        return {}
    try:
        return {"customers": int(body["customers"]), "invoices": int(body.get("invoices", 0)),
                "seed": int(body.get("seed", 0))}
    except (TypeError, ValueError):
        raise ControlError("customers, invoices and seed must be integers") from None


@control.post("/seed")
def seed() -> Response:
    """Replace a realm's data: {"customers":N,"invoices":M,"seed":S} (generator) or {"sample":true}."""
    body = json_body()
    state = sandbox().state
    with state.lock:
        realm_id = str(body.get("realm_id") or (sorted(state.realms)[0] if state.realms else ""))
        if realm_id not in state.realms:
            raise ControlError(f"unknown realm {realm_id}")
        realm = state.build_realm(realm_id, **_build_args(body))
        state.realms[realm_id] = realm
        counts = {entity: len(realm.records[entity]) for entity in ENTITIES}
    return jsonify({"realm_id": realm_id, "counts": counts})


@control.post("/realms")
def create_realm() -> Response:
    """Another company (sample data unless the body says empty/customers/...)."""
    args = _build_args(json_body())
    state = sandbox().state
    with state.lock:
        realm = state.add_realm(lambda realm_id: state.build_realm(realm_id, **args))
    return jsonify({"realm_id": realm.realm_id}), 201


@control.post("/apps")
def register_app() -> Response:
    """Register an OAuth app {client_id, client_secret, redirect_uris}."""
    body = json_body()
    client_id, secret = body.get("client_id"), body.get("client_secret")
    uris = body.get("redirect_uris") or []
    if not isinstance(client_id, str) or not client_id or not isinstance(secret, str) or not secret:
        raise ControlError("client_id and client_secret are required strings")
    if not isinstance(uris, list) or not all(isinstance(uri, str) for uri in uris):
        raise ControlError("redirect_uris must be a list of strings")
    with sandbox().state.lock:
        sandbox().state.grants.apps[client_id] = App(client_id, secret, list(uris))
    return jsonify({"client_id": client_id, "redirect_uris": uris}), 201


@control.route("/settings", methods=["GET", "POST"])
def settings() -> Response:
    """Read or change {auto_approve, auto_approve_realm_id, access_token_ttl, rate_per_minute, max_concurrent,
    latency_ms, error_rate, error_statuses, cdc_max_objects, throttle_body, batch_max_items, batch_rate_per_minute,
    requestid_wait_ms, foreign_realm_status}."""
    body = _posted_changes(Settings, "setting(s)")
    state = sandbox().state
    with state.lock:
        for name, value in body.items():
            setattr(state.settings, name, _coerce(name, value))
        return jsonify(state.settings.as_dict())


def _coerce(name: str, value: Any) -> Any:
    """Type-check one setting."""
    if name == "auto_approve":
        return bool(value)
    if name == "auto_approve_realm_id":
        return None if value in (None, "") else str(value)
    if name == "throttle_body":
        if value not in ("xml", "fault", "gateway"):
            raise ControlError("throttle_body must be xml, fault or gateway")
        return value
    if name == "error_statuses":
        if not isinstance(value, list) or not value or not all(
                not isinstance(status, bool) and status in INJECTED_STATUSES for status in value):
            raise ControlError("error_statuses must be a non-empty list of 429, 500 and 503")
        return list(value)
    if name == "foreign_realm_status":
        if value not in (401, 403):
            raise ControlError("foreign_realm_status must be 401 or 403")
        return value
    try:
        return float(value) if name == "error_rate" else int(value)
    except (TypeError, ValueError):
        raise ControlError(f"{name} must be a number") from None


@control.post("/tokens/expire")
def expire_tokens() -> Response:
    """Expire current access tokens now ({"realm_id": ...} for one realm)."""
    realm_id = json_body().get("realm_id")
    state = sandbox().state
    with state.lock:
        count = state.grants.expire_access(state.now(), str(realm_id) if realm_id else None)
    return jsonify({"expired": count})


@control.post("/clock")
def advance_clock() -> Response:
    """{"advance_seconds": n} moves sandbox time (token expiry, CDC windows, rate windows, timestamps)."""
    try:
        seconds = float(json_body().get("advance_seconds", 0))
    except (TypeError, ValueError):
        raise ControlError("advance_seconds must be a number") from None
    now = sandbox().state.clock.advance(seconds)
    return jsonify({"now": now.isoformat()})


@control.get("/stats")
def stats() -> Response:
    """Counters: requests, 429s, token grants by type, invalid_grant refusals, refreshes per realm."""
    state = sandbox().state
    with state.lock:
        return jsonify(state.stats.as_dict())


@control.get("/realms/<realm_id>/entities/<entity>")
def entities(realm_id: str, entity: str) -> Response:
    """Inspect a realm's records of one entity (plus tombstones) without going through OAuth."""
    state = sandbox().state
    with state.lock:
        realm = state.realms.get(realm_id)
        if realm is None or entity not in ENTITIES and entity != "CompanyInfo":
            return jsonify({"error": "unknown realm or entity"}), 404
        if entity == "CompanyInfo":
            return jsonify({"CompanyInfo": company_info(realm)})
        return jsonify({entity: realm.all(entity), "Deleted": list(realm.tombstones[entity].values())})


@control.post("/realms/<realm_id>/names")
def add_other_name(realm_id: str) -> Response:
    """{"entity": "Vendor"|"Employee", "DisplayName": ...}: a name a new customer may not take (6240)."""
    body = json_body()
    entity, name = body.get("entity"), body.get("DisplayName")
    if entity not in ("Vendor", "Employee") or not isinstance(name, str) or not name.strip():
        raise ControlError("entity must be Vendor or Employee and DisplayName a non-empty string")
    state = sandbox().state
    with state.lock:
        realm = state.realms.get(realm_id)
        if realm is None:
            raise ControlError(f"unknown realm {realm_id}")
        realm.other_names[name.strip().casefold()] = entity
    return jsonify({"realm_id": realm_id, "entity": entity, "DisplayName": name.strip()}), 201


def _fixed_home_currency(realm: Realm, name: str, value: Any) -> str | None:
    """Why the home currency cannot change now: the company already holds customers or transactions.

    QuickBooks sets the home currency once ("Once the Multi-currency feature is enabled, you'll no longer
    deactivate or change its home currency", QuickBooks community answer on multicurrency): switching it
    under existing records would leave their currencies, rates and the currency list wrong.
    """
    if name != "home_currency" or value == realm.switches.home_currency:
        return None
    if any(realm.records[entity] for entity in ("Customer", "Invoice", "Payment")):
        return ("home_currency can only be switched on a company without customers or transactions "
                "(reset with {\"empty\": true} first)")
    return None


@control.route("/realms/<realm_id>/switches", methods=["GET", "POST"])
def company_switches(realm_id: str) -> Response:
    """Read or change a company's behaviour switches (`realm.CompanySwitches`); unknown names are 400."""
    body = _posted_changes(CompanySwitches, "switch(es)")
    state = sandbox().state
    with state.lock:
        realm = state.realms.get(realm_id)
        if realm is None:
            raise ControlError(f"unknown realm {realm_id}")
        for name, value in body.items():
            current = getattr(realm.switches, name)
            if type(value) is not type(current):
                raise ControlError(f"{name} must be a {type(current).__name__}")
            problem = realm.switches.problem(name, value) or _fixed_home_currency(realm, name, value)
            if problem:
                raise ControlError(problem)
        for name, value in body.items():
            setattr(realm.switches, name, value)
        return jsonify(realm.switches.as_dict())
