"""What the control API creates or changes in a portal: seeded records and directories, record updates
by a user or a robot, outgoing webhooks. Bad input is a 400 that changes nothing."""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from sandbox.bitrix24 import classic, invoices, smart_invoice, userfields
from sandbox.bitrix24.directory import add_category, add_smart_invoice_stage
from sandbox.bitrix24.errors import RestError
from sandbox.bitrix24.item_types import TYPES
from sandbox.bitrix24.methods_app import KNOWN_EVENTS
from sandbox.bitrix24.state import OutgoingWebhook, Portal, State, token_hex
from sandbox.bitrix24.values import real_number

if TYPE_CHECKING:
    from sandbox.bitrix24.sandbox import Bitrix24Sandbox

# Who made a CRM change: a user (an app call, an incoming webhook) or nobody (DOCS events/index.md:
# a robot, workflow or agent, whose events carry no tokens).
ORIGINS = ("user", "robot", "workflow", "agent")
CLASSIC = {"contacts": "contact", "companies": "company", "leads": "lead", "deals": "deal"}
_RECORDS = (*CLASSIC, "smart_invoices", "invoices")
_SEED_LISTS = ("userfields", "categories", "stages", *_RECORDS)
# Old invoices' user fields (crm.invoice.userfield.*) are not modelled as methods; tests seed them.
_UF_ENTITIES = (*userfields.CRM_ENTITIES, "CRM_INVOICE")
_PIPELINE_TYPES = (2, 31)  # the types crm.category.list serves here (directory.category_list)


def bad_input(message: str) -> RestError:
    """A control call the sandbox cannot carry out as asked."""
    return RestError(400, "INVALID_BODY", message)


def whole(value: Any) -> int | None:
    """An integer given as a JSON number or numeric text ("7", 7.0), else None."""
    number = real_number(value)
    if isinstance(number, float):
        return int(number) if number.is_integer() else None
    return number


def user_id_of(body: dict) -> int:
    """The `user_id` a control call acts as (1, the portal's creator, by default)."""
    value = whole(body.get("user_id", 1))
    if value is None:
        raise RestError(400, "INVALID_USER_ID", "user_id must be an integer")
    return value


def origin_of(body: dict) -> str:
    """Who a control change acts as: "user" (default) or a robot, workflow or agent (no user)."""
    origin = body.get("origin") or "user"
    if origin not in ORIGINS:
        raise RestError(400, "INVALID_ORIGIN", f"origin must be one of {', '.join(ORIGINS)}")
    return origin


def integer_of(entry: dict, key: str, default: int) -> int:
    """An optional integer of a control call or seed entry, or a 400."""
    value = whole(entry.get(key, default))
    if value is None:
        raise bad_input(f"{key} must be an integer")
    return value


def _check_entry(key: str, entry: Any) -> None:
    """One seed entry's shape: an object, with what its kind needs."""
    if not isinstance(entry, dict):
        raise bad_input(f"every {key} entry must be an object")
    if key == "userfields" and (entry.get("entity") not in _UF_ENTITIES
                                or not isinstance(entry.get("FIELD_NAME"), str) or not entry["FIELD_NAME"]):
        raise bad_input(f"a userfield needs FIELD_NAME and entity, one of {', '.join(_UF_ENTITIES)}")
    if key == "categories" and integer_of(entry, "entity_type_id", 0) not in _PIPELINE_TYPES:
        raise bad_input("a category's entity_type_id must be 2 (deals) or 31 (Smart Invoices)")
    if key == "stages" and (not isinstance(entry.get("code"), str) or not entry["code"]
                            or entry.get("semantics") not in (None, "S", "F")):
        raise bad_input("a stage needs a code; semantics is S, F or absent")
    for number in {"categories": ("sort",), "stages": ("sort", "category_id")}.get(key, ()):
        if entry.get(number) is not None:
            integer_of(entry, number, 0)


def check_seed(body: dict) -> None:
    """The whole seed body, before anything is created: known lists of well-formed entries."""
    unknown = sorted(set(body) - {*_SEED_LISTS, "origin", "user_id"})
    if unknown:
        raise bad_input(f"unknown seed keys {unknown}; known: {', '.join(_SEED_LISTS)}")
    user_id_of(body), origin_of(body)
    for key in _SEED_LISTS:
        entries = body.get(key, [])
        if not isinstance(entries, list):
            raise bad_input(f"{key} must be a list")
        for entry in entries:
            _check_entry(key, entry)


def _apply_seed(sb: "Bitrix24Sandbox", portal: Portal, body: dict) -> dict:
    """Create everything a checked seed body names, in dependency order."""
    user_id, origin = user_id_of(body), origin_of(body)
    for entry in body.get("userfields", []):
        userfields.add(portal, entry["entity"], entry)
    out: dict[str, list] = {"categories": [
        add_category(portal, int(c["entity_type_id"]), str(c.get("name", "Pipeline")), integer_of(c, "sort", 200))["id"]
        for c in body.get("categories", [])]}
    for stage in body.get("stages", []):
        category = integer_of(stage, "category_id", 0) or smart_invoice.default_category(portal)
        add_smart_invoice_stage(portal, category, stage["code"], str(stage.get("name", stage["code"])),
                                integer_of(stage, "sort", 100), stage.get("semantics"))
    for key, kind in CLASSIC.items():
        out[key] = [classic.create(sb.state, sb.sender, portal, kind, f, user_id, origin) for f in body.get(key, [])]
    names = TYPES[smart_invoice.ENTITY_TYPE_ID].names(portal)
    out["smart_invoices"] = [smart_invoice.create(sb.state, sb.sender, portal, names.fields(f), user_id, origin)["id"]
                             for f in body.get("smart_invoices", [])]
    out["invoices"] = [invoices.create(sb.state, sb.sender, portal, f, user_id, origin)
                       for f in body.get("invoices", [])]
    return out


def _trial_copy(portal: Portal) -> Portal:
    """A throw-away copy for a seed's dry run: records are shared (seeding only adds records, it never
    changes one), so a portal of 20,000 records is not deep-copied for every seed call."""
    records, index, keys = portal.entities, portal.comm_index, portal.comm_keys
    portal.entities, portal.comm_index, portal.comm_keys = {}, {}, {}
    try:
        trial = copy.deepcopy(portal)
    finally:
        portal.entities, portal.comm_index, portal.comm_keys = records, index, keys
    trial.entities = {kind: dict(rows) for kind, rows in records.items()}
    trial.installs, trial.outgoing_webhooks = {}, {}
    return trial


def seed(sb: "Bitrix24Sandbox", portal: Portal, body: dict) -> dict:
    """Create records/stages/user fields directly; all or nothing (events fire as for any change, and
    `origin` robot, workflow or agent makes them changes without a user)."""
    check_seed(body)
    # A dry run on a copy without installs or outgoing webhooks (so no event, no token) finds what only
    # creating finds (an invalid email, a stage that does not exist) before the portal is touched.
    trial = _trial_copy(portal)
    _apply_seed(sb, trial, body)
    return _apply_seed(sb, portal, body)


def update_record(sb: "Bitrix24Sandbox", portal: Portal, body: dict) -> dict:
    """Change a record as a user or a robot; its UPDATE event fires as for any change."""
    kind = body.get("kind")
    if kind not in _RECORDS:
        raise RestError(400, "INVALID_KIND", f"kind must be one of {', '.join(_RECORDS)}")
    record_id = whole(body.get("id"))
    if record_id is None or record_id <= 0:
        raise RestError(400, "INVALID_ID", "id must be a record id")
    fields = body.get("fields")
    if not isinstance(fields, dict):
        raise bad_input("fields must be an object")
    user_id, origin = user_id_of(body), origin_of(body)
    if kind in CLASSIC:
        classic.update(sb.state, sb.sender, portal, CLASSIC[kind], record_id, fields, user_id, origin)
    elif kind == "smart_invoices":
        names = TYPES[smart_invoice.ENTITY_TYPE_ID].names(portal)
        smart_invoice.update(sb.state, sb.sender, portal, record_id, names.fields(fields), user_id, origin)
    else:
        invoices.update(sb.state, sb.sender, portal, record_id, fields, user_id, origin)
    return {"id": record_id}


def add_outgoing_webhook(state: State, portal: Portal, body: dict) -> dict:
    """Register an outgoing webhook (handler + events); its application token is generated."""
    raw = body.get("events")
    if not isinstance(raw, list) or not raw or not all(isinstance(e, str) for e in raw):
        raise RestError(400, "INVALID_WEBHOOK", "events must be a non-empty list of event names")
    events = [e.upper() for e in raw]
    unknown = sorted(set(events) - KNOWN_EVENTS)
    if unknown or not isinstance(body.get("handler"), str) or not body["handler"]:
        raise RestError(400, "INVALID_WEBHOOK", f"handler and known events are required (unknown: {unknown})")
    hook = OutgoingWebhook(state.next_handler_id, events, body["handler"], token_hex(16))
    state.next_handler_id += 1
    portal.outgoing_webhooks[hook.id] = hook
    return dict(hook.__dict__)
