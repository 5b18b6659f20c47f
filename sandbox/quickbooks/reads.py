"""Query and ChangeDataCapture endpoints under /v3/company/<realmId>."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, request

from . import faults
from .catalog import CATALOG
from .context import sandbox
from .guards import after_api_request, before_api_request, json_response, teardown_api_request
from .query import QueryError, parse, run
from .query_properties import check_properties
from .realm import Realm
from .timefmt import COMPANY_TZ, parse_timestamp

reads = Blueprint("qbo_reads", __name__, url_prefix="/v3/company/<realm_id>")
reads.before_request(before_api_request)
reads.after_request(after_api_request)
reads.teardown_request(teardown_api_request)

STORED = ("Customer", "Invoice", "Payment", "Item", "Term", "Account")
# Entities QuickBooks knows but this sandbox does not store: queries and CDC answer them empty, not 4001.
# (Preferences, TaxCode and TaxRate are built from the switches, see catalog.py; CDC answers them empty.)
OTHER_ENTITIES = ("Bill", "BillPayment", "Class", "CreditMemo", "Department", "Deposit",
                  "Employee", "Estimate", "JournalEntry", "PaymentMethod", "Purchase", "PurchaseOrder",
                  "RefundReceipt", "SalesReceipt", "TaxAgency", "TaxCode", "TaxRate", "TimeActivity",
                  "Transfer", "Vendor", "VendorCredit", "Preferences", "CustomerType")
QUERYABLE = STORED + tuple(CATALOG) + tuple(name for name in OTHER_ENTITIES if name not in CATALOG)
CDC_DAYS = 30  # "CDC operations can track changes within the last 30 days." (reference §2)


def _statement() -> str:
    """GET ?query= or the POST body (python-quickbooks POSTs with Content-Type application/text)."""
    if request.method == "POST":
        return request.get_data(as_text=True) or request.args.get("query", "")
    return request.args.get("query", "")


def _records(realm: Realm, entity: str) -> list[dict[str, Any]]:
    """What a query over `entity` runs on."""
    if entity in CATALOG:
        return CATALOG[entity](realm)
    return realm.all(entity) if entity in STORED else []


def answer_query(realm: Realm, statement: str) -> dict[str, Any]:
    """The QueryResponse body of one statement (4000/4001 raised as ApiFault); caller holds the lock.

    Shared by GET/POST /query and the Query items of POST /batch.
    """
    try:
        parsed = parse(statement, QUERYABLE, entity_case_sensitive=not realm.switches.query_entity_any_case)
        named = [condition.field for condition in parsed.conditions]
        named += [field for field, _ in parsed.order_by] + list(parsed.projected)
        check_properties(parsed.entity, named)
    except QueryError as error:
        raise faults.ApiFault(400, error.code, error.message, error.detail) from None
    result = run(parsed, _records(realm, parsed.entity), naive_timezone=COMPANY_TZ)
    if isinstance(result, int):
        return {"totalCount": result}
    if not result:
        return {}
    return {parsed.entity: result, "startPosition": parsed.start_position, "maxResults": len(result)}


@reads.route("/query", methods=["GET", "POST"])
def query(realm_id: str) -> Response:
    """SELECT … → QueryResponse page, COUNT(*) → totalCount; empty result → `"QueryResponse":{}`."""
    statement = _statement()
    state = sandbox().state
    with state.lock:
        return json_response({"QueryResponse": answer_query(state.realms[realm_id], statement)})


def _cdc_entities() -> list[str]:
    """The `entities` parameter, case-insensitive (Intuit's recorded call used `entities=estimate`)."""
    raw = request.args.get("entities", "")
    names = [name.strip() for name in raw.split(",") if name.strip()]
    if not names:
        raise faults.required("entities")
    canonical = {name.lower(): name for name in STORED + OTHER_ENTITIES}
    unknown = [name for name in names if name.lower() not in canonical]
    if unknown:
        raise faults.ApiFault(400, "2010", "Request has invalid or unsupported property",
                              f"Property Name:entities specified is unsupported or invalid: {unknown[0]}",
                              element="entities")
    return [canonical[name.lower()] for name in names]


def _changed_since() -> Any:
    """The `changedSince` parameter as a datetime (2020 missing, 2010 unreadable)."""
    raw = request.args.get("changedSince", "")
    if not raw:
        raise faults.required("changedSince")
    try:
        # MetaData times have whole seconds: compare at that precision so nothing written in the same second
        # as `changedSince` is missed.
        return parse_timestamp(raw).replace(microsecond=0)
    except ValueError:
        raise faults.ApiFault(400, "2010", "Request has invalid or unsupported property",
                              f"Property Name:changedSince specified is unsupported or invalid: {raw}",
                              element="changedSince") from None


@reads.get("/cdc")
def change_data_capture(realm_id: str) -> Response:
    """One QueryResponse per requested entity, with `status: Deleted` tombstones."""
    entities, since = _cdc_entities(), _changed_since()
    state = sandbox().state
    with state.lock:
        if since < state.now() - timedelta(days=CDC_DAYS):
            # Detail text as QuickBooks answers it (Wish-Org/QuickBooksSharp#19); the code is not captured
            # anywhere public; we answer Unsupported Operation like the other "Operation … not supported".
            raise faults.ApiFault(400, "500", "Unsupported Operation",
                                  f"Operation cdc with changedSince date {request.args['changedSince']} "
                                  "which is "
                                  "older than fixed days is not supported.")
        realm = state.realms[realm_id]
        found = {entity: realm.changed_since(entity,
                                             since) if entity in STORED else [] for entity in entities}
        limit = state.settings.cdc_max_objects
        if sum(len(records) for records in found.values()) > limit:
            # The real answer to an oversized CDC window is not captured anywhere public (reference §2 only
            # states the limit); we answer in the "Operation … is not supported" form of the 30-day limit.
            raise faults.ApiFault(400, "500", "Unsupported Operation",
                                  f"Operation cdc returns more than {limit} objects which is not "
                                  "supported. Use a more recent changedSince.")
        return json_response({"CDCResponse": [{"QueryResponse": _cdc_responses(found, realm)}]})


def _cdc_responses(found: dict[str, list[dict[str, Any]]], realm: Realm) -> list[dict[str, Any]]:
    """The QueryResponse list: an unchanged entity is `{}` in its place, or left out (switch).

    Nothing changed at all is `[{}]` under both readings (python-quickbooks tests/unit/test_cdc.py
    empty fixture, reference §2); whether other entities' `{}` stand beside changed ones is UNCERTAIN.
    """
    if not any(found.values()):
        return [{}]
    responses = [{entity: records, "startPosition": 1, "maxResults": len(records)} if records else {}
                 for entity, records in found.items()]
    if realm.switches.cdc_omit_unchanged:
        return [response for response in responses if response]
    return responses
