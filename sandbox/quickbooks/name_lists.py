"""Term and Account: read-only name lists (`GET /term/<id>`, `/account/<id>`, and their queryable properties)."""
from __future__ import annotations

from flask import Response

from .api import _read, api
from .query import Query
from .query_faults import invalid_query

# The properties a WHERE clause may name (reference §11: any other is 4001 "property 'X' is not
# queryable"). Lists: the columns CData's QuickBooks Online driver filters server-side ("Filterable" in
# cdn.cdata.com/help/RNK/.../pg_table-accounts.htm and docs.gravitydata.co/sources/quickbooks-online/tables/terms),
# which follow the "filterable" marks of Intuit's entity reference; Intuit's Account page queries
# `Metadata.CreateTime`. CurrentBalance(WithSubAccounts) is not in the list seen: allowed (UNCERTAIN)
# rather than refuse a filter QuickBooks may serve.
QUERYABLE_PROPERTIES: dict[str, frozenset[str]] = {
    "Term": frozenset({"id", "name", "active", "metadata.createtime", "metadata.lastupdatedtime"}),
    "Account": frozenset({"id", "name", "subaccount", "parentref", "description", "active", "classification",
                          "accounttype", "currentbalance", "currentbalancewithsubaccounts",
                          "metadata.createtime", "metadata.lastupdatedtime"}),
}


def check_queryable(query: Query) -> None:
    """4001 for a WHERE property a name list does not filter on (entities without a table pass)."""
    allowed = QUERYABLE_PROPERTIES.get(query.entity)
    if allowed is None:
        return
    for condition in query.conditions:
        if condition.field.lower() not in allowed:
            raise invalid_query(f"property '{condition.field}' is not queryable")


@api.get("/term/<entity_id>")
def get_term(realm_id: str, entity_id: str) -> Response:
    """Read a term (payment terms: SalesTermRef on invoices and customers)."""
    return _read(realm_id, "Term", entity_id)


@api.get("/account/<entity_id>")
def get_account(realm_id: str, entity_id: str) -> Response:
    """Read an account of the chart of accounts (IncomeAccountRef, DepositToAccountRef, ...)."""
    return _read(realm_id, "Account", entity_id)
