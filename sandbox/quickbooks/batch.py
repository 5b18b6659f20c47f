"""POST /v3/company/<realmId>/batch: up to 30 writes and queries, each answered (or faulted) on its own.

Every item runs through the same writers and query code as the single endpoints (dispatch.writer_for,
reads.answer_query), so 6240, 5010, webhooks and CDC behave alike. Shapes: fixtures/quickbooks/faults/
batch_request_body.json and batch_response_with_610_object_not_found_and_5010_stale_object.json.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, request

from . import faults
from .context import sandbox
from .dispatch import UnsupportedOperation, writer_for
from .guards import (after_api_request, bearer_token, before_api_request, json_response, rolling_window,
                     teardown_api_request, throttle_response)
from .reads import answer_query
from .realm import Realm
from .writes import Change, check_fields, check_types, parse_body

log = logging.getLogger("qb24.sandbox.quickbooks")
batch = Blueprint("qbo_batch", __name__, url_prefix="/v3/company/<realm_id>")
ITEM_KEYS = ("bId", "operation", "optionsData", "Query")
REQUEST_ID_MAX = 50  # request_id column width (6000 text of intuit/QuickBooks-V3-Java-SDK#180)
BATCH_REQUEST_ID_MAX = 36  # "For batch operations, the RequestID supports a maximum of 36 characters" (§6)


def _batch_throttle() -> Response | None:
    """Batch requests per minute per realm+app (reference §6: 40), answered like any other throttle."""
    state = sandbox().state
    realm_id = (request.view_args or {}).get("realm_id", "")
    key = (realm_id, state.grants.client_of(bearer_token() or "") or "")
    with state.lock:
        window = rolling_window(state.batch_windows, key)
        if len(window) >= state.settings.batch_rate_per_minute:
            return throttle_response()
        window.append(state.now().timestamp())
    return None


# Auth, general limits and requestid replay first (a replayed batch is not counted again), then batch's own.
batch.before_request(before_api_request)
batch.before_request(_batch_throttle)
batch.after_request(after_api_request)
batch.teardown_request(teardown_api_request)


def _items(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The BatchItemRequest list: present, objects with a bId, at most `batch_max_items` long."""
    check_fields(body, "IntuitBatchRequest", ("BatchItemRequest",))
    items = body.get("BatchItemRequest")
    if not items:
        raise faults.required("BatchItemRequest")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise faults.unsupported_property(
            "IntuitBatchRequest", "Can not deserialize instance of BatchItemRequest out of non-object")
    limit = sandbox().state.settings.batch_max_items
    if len(items) > limit:
        # UNCERTAIN: the limit is documented (30; batch reference, Intuit blog 2023-07-19) and an over-limit
        # call fails (QuickBooks-V3-DotNET-SDK#358, tried in the API Explorer), but no public capture shows
        # the body; we refuse the whole request with a 2010 naming BatchItemRequest (python-quickbooks
        # raises ValidationException for it).
        raise _invalid_batch_property("BatchItemRequest", f"{len(items)} items; the maximum number of "
                                                          f"payloads in a batch is {limit}")
    seen: set[str] = set()
    for item in items:
        # The item's own properties are typed like any other (Jackson reads the whole request first).
        check_types(item, "BatchItemRequest", strings=ITEM_KEYS)
        if item.get("bId") in (None, ""):
            raise faults.required("bId")
        bid = str(item["bId"])
        if bid in seen:
            # UNCERTAIN: no capture of a batch with a repeated bId; the batch reference calls bId the
            # item's unique identifier, and answers are matched by it, so the whole request is refused
            # before anything runs, in the 2010 words of the over-limit refusal above.
            raise _invalid_batch_property("bId", f"bId {bid} is used by more than one item")
        seen.add(bid)
    return items


def _invalid_batch_property(name: str, reason: str) -> faults.ApiFault:
    """2010 naming a property of the batch request, with the reason after the usual words."""
    return faults.ApiFault(400, "2010", "Request has invalid or unsupported property",
                           f"Property Name:{name} specified is unsupported or invalid: {reason}",
                           element=name)


def _request_id_fault(request_id: str | None, bid: str) -> faults.ApiFault | None:
    """6000 per item when the batch requestid and the bId together pass the request_id limit.

    Real item Fault (intuit/QuickBooks-V3-Java-SDK#180): a 32-character requestid with 36-character bIds gave
    "You cannot enter more than 50 characters in the request_id field. You tried entering 8182e07bba...,
    which is 68 characters."; Intuit's requestid post (2015-04-06) caps a batch requestid at 36.
    """
    if not request_id:
        return None
    combined = request_id + bid
    if len(request_id) <= BATCH_REQUEST_ID_MAX and len(combined) <= REQUEST_ID_MAX:
        return None
    return faults.business_validation(
        f"You cannot enter more than {REQUEST_ID_MAX} characters in the request_id field. "
        f"You tried entering {combined[:10]}..., which is {len(combined)} characters.")


def _entity_of(item: dict[str, Any]) -> str:
    """The one entity key of a write item (Customer, Invoice, ...)."""
    names = [name for name in item if name not in ITEM_KEYS]
    if not names:
        raise faults.required("BatchItemRequest")
    if len(names) > 1:
        raise faults.unrecognized_field("BatchItemRequest", names[1])
    return names[0]


def _check_operation(entity: str, operation: str, body: dict[str, Any]) -> None:
    """An item's operation must fit its body: an update names the record, a create does not.

    The single endpoints tell create from update by the Id alone; a batch item says which it means
    (batch reference: operation create, update, delete), so a mismatch is refused rather than guessed.
    update without Id: 2020 Required param missing "Id". create with an Id: UNCERTAIN (no capture); 2010.
    """
    operation = operation.strip().lower()
    has_id = body.get("Id") not in (None, "")
    if operation == "update" and not has_id:
        raise faults.required("Id")
    if operation == "create" and has_id:
        raise _invalid_batch_property("Id", f"a create operation cannot name the {entity} Id {body['Id']}")


def _write_item(realm_id: str, realm: Realm, item: dict[str, Any],
                now: datetime) -> tuple[str, Any, list[Change]]:
    """(entity, record, changes) of a create/update/delete item; optionsData "void" voids by update."""
    entity = _entity_of(item)
    body, operation = item[entity], item.get("operation")
    if not isinstance(body, dict):
        raise faults.unsupported_property(entity,
                                          f"Can not deserialize instance of {entity} out of non-object")
    if not operation:
        raise faults.required("operation")
    _check_operation(entity, str(operation), body)
    try:
        options = item.get("optionsData")
        writer = writer_for(entity, str(operation), body, None if options is None else str(options))
    except UnsupportedOperation:
        relative = f"/v3/company/{realm_id}/{entity.lower()}?operation={operation}"
        raise faults.unsupported_operation(relative, request.host_url.rstrip("/") + relative) from None
    record, changes = writer(realm, body, now)
    return entity, record, changes


def _answer(realm_id: str, realm: Realm, item: dict[str, Any],
            now: datetime) -> tuple[dict[str, Any], list[Change]]:
    """One BatchItemResponse entry (result key first, then bId, as the fixture) and the changes it made."""
    bid = str(item["bId"])
    try:
        refusal = _request_id_fault(request.args.get("requestid"), bid)
        if refusal is not None:
            raise refusal
        if "Query" in item:
            return {"QueryResponse": answer_query(realm, str(item["Query"] or "")), "bId": bid}, []
        entity, record, changes = _write_item(realm_id, realm, item, now)
        return {entity: record, "bId": bid}, changes
    except faults.ApiFault as fault:
        # A failed item never fails the batch: its Fault (no `time`) sits in its own entry.
        return {"Fault": fault.body(now)["Fault"], "bId": bid}, []
    except Exception:  # noqa: BLE001 — a defect in one item must not answer 500 after others were saved
        log.exception("qbo.sandbox.batch_item_error", extra={"bId": bid})
        return {"Fault": faults.batch_item_failure().body(now)["Fault"], "bId": bid}, []


@batch.post("/batch")
def post_batch(realm_id: str) -> Response:
    """Run every item in request order under one lock, then publish all changes to the webhook senders.

    Each item's changes go out with that item's own instant, as a single write's do (hooks.publish `at`).
    """
    items = _items(parse_body(request.get_data(), "IntuitBatchRequest"))
    box = sandbox()
    answers: list[dict[str, Any]] = []
    written: list[tuple[list[Change], datetime]] = []
    with box.state.lock:
        realm = box.state.realms[realm_id]
        for item in items:
            now = box.state.now()
            answer, made = _answer(realm_id, realm, item, now)
            answers.append(answer)
            written.append((made, now))
    for made, now in written:
        box.hooks.publish(realm_id, made, at=now)
    return json_response({"BatchItemResponse": answers})
