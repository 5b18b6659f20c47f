"""Read-only company settings and lists: Preferences, CompanyInfo, TaxCode, TaxRate, CompanyCurrency.

They are built from the company's switches on every read (tax_catalog, preferences), never stored, so
queries and reads always agree with `POST /_sandbox/realms/<id>/switches`. Writes to them are not
simulated: POST answers 500 Unsupported Operation like any unknown resource (the app's 404/405 handler).
"""
from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, Response

from . import faults
from .context import sandbox
from .guards import after_api_request, before_api_request, json_response, teardown_api_request
from .preferences import company_currencies, company_info, preferences
from .realm import Realm
from .tax_catalog import tax_codes, tax_rates

catalog = Blueprint("qbo_catalog", __name__, url_prefix="/v3/company/<realm_id>")
catalog.before_request(before_api_request)
catalog.after_request(after_api_request)
catalog.teardown_request(teardown_api_request)

# Entity -> its records, for the query endpoint (reads.py) and the reads below.
CATALOG: dict[str, Callable[[Realm], list[dict[str, Any]]]] = {
    "CompanyInfo": lambda realm: [company_info(realm)],
    "Preferences": lambda realm: [preferences(realm)],
    "TaxCode": tax_codes,
    "TaxRate": tax_rates,
    "CompanyCurrency": company_currencies,
}


def _one(realm_id: str, entity: str, entity_id: str) -> Response:
    """{entity: record} for the record with this Id (610 when there is none)."""
    state = sandbox().state
    with state.lock:
        found = next((record for record in CATALOG[entity](state.realms[realm_id])
                      if record.get("Id") == entity_id.strip()), None)
        if found is None:
            raise faults.not_found()
        return json_response({entity: found})


@catalog.get("/preferences")
def get_preferences(realm_id: str) -> Response:
    """"The read request retrieves all preferences. There is no notion of preference objects or object IDs."
    (Preferences reference, Business Rules)."""
    return _one(realm_id, "Preferences", "1")


@catalog.get("/companyinfo/<company_id>")
def get_company_info(realm_id: str, company_id: str) -> Response:
    """CompanyInfo is addressed by the realm id itself."""
    if company_id != realm_id:
        raise faults.not_found()
    return _one(realm_id, "CompanyInfo", "1")


@catalog.get("/taxcode/<entity_id>")
def get_tax_code(realm_id: str, entity_id: str) -> Response:
    """GET /taxcode/<id> (TaxCode reference, "Read a TaxCode")."""
    return _one(realm_id, "TaxCode", entity_id)


@catalog.get("/taxrate/<entity_id>")
def get_tax_rate(realm_id: str, entity_id: str) -> Response:
    """GET /taxrate/<id> (TaxRate reference, "Read a TaxRate")."""
    return _one(realm_id, "TaxRate", entity_id)


@catalog.get("/companycurrency/<entity_id>")
def get_company_currency(realm_id: str, entity_id: str) -> Response:
    """GET /companycurrency/<id> (CompanyCurrency reference, "Read a companycurrency")."""
    return _one(realm_id, "CompanyCurrency", entity_id)
