"""Term and Account: read-only name lists (`GET /term/<id>`, `/account/<id>`; queryable properties in query_properties.py)."""
from __future__ import annotations

from flask import Response

from .api import _read, api


@api.get("/term/<entity_id>")
def get_term(realm_id: str, entity_id: str) -> Response:
    """Read a term (payment terms: SalesTermRef on invoices and customers)."""
    return _read(realm_id, "Term", entity_id)


@api.get("/account/<entity_id>")
def get_account(realm_id: str, entity_id: str) -> Response:
    """Read an account of the chart of accounts (IncomeAccountRef, DepositToAccountRef, ...)."""
    return _read(realm_id, "Account", entity_id)
