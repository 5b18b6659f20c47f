"""Which properties a query may name (WHERE, ORDERBY, and after `SELECT *,`), per stored entity.

QuickBooks refuses any other property with 4001 "Invalid query", Detail
"QueryValidationError: property 'X' is not queryable" (raw answer quoted in ruckus/quickbooks-ruby#403
and intuit/QuickBooks-V3-DotNET-SDK#163; reference §11) — never with an empty page.

The sets are the properties Intuit's API reference marks "filterable" or "sortable"
(developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/<entity>, read through the
verbatim scrapes in abossenbroek/qbo-mcp qbo-api-docs/entities/customer.md and item.md, the "Traits:"
lines of a scrape of the Payment page, and for Invoice the filterable list QuickBooks MCP servers derive
from that page for their search_invoices tools), plus the MetaData times, which the reference marks
filterable and sortable on their child-attribute rows (Intuit's query page filters on
`Metadata.LastUpdatedTime`, so names match case-insensitively). A property marked only one of the two
is accepted in both clauses: QuickBooks' answer to sorting by a filter-only property is not on record.
The entities served from settings or answered empty have their tables in query_properties_lists.
"""
from __future__ import annotations

from collections.abc import Iterable

from sandbox.quickbooks.query_faults import QueryError, invalid_query
from sandbox.quickbooks.query_properties_lists import META, CATALOG_PROPERTIES, EMPTY_LIST_PROPERTIES

QUERYABLE_PROPERTIES: dict[str, frozenset[str]] = {
    "Customer": frozenset((
        "Id", "DisplayName", "GivenName", "MiddleName", "FamilyName", "CompanyName",
        "PrintOnCheckName", "FullyQualifiedName", "PrimaryEmailAddr", "Active", "Balance",
        "BalanceWithJobs", *META,
        # Unmarked in the reference, accepted so sub-customers can be selected (reference §4's
        # Job/ParentRef rule); whether QuickBooks accepts them is UNCERTAIN.
        "Job", "ParentRef",
    )),
    "Invoice": frozenset((
        "Id", "DocNumber", "TxnDate", "DueDate", "CustomerRef", "ClassRef", "DepartmentRef", "Balance",
        "TotalAmt", *META,
    )),
    "Payment": frozenset((
        "Id", "TxnDate", "CustomerRef", "ProjectRef", "PaymentRefNum", "TotalAmt", *META,
    )),
    "Item": frozenset((
        "Id", "Name", "Type", "Sku", "Taxable", "Active", "FullyQualifiedName", "SubItem", "UnitPrice",
        "PurchaseCost", *META,
    )),
    # Term: the columns CData's QuickBooks Online driver filters server-side ("Filterable" in its terms table
    # page), which follow the "filterable" marks of Intuit's entity reference.
    "Term": frozenset(("Id", "Name", "Active", *META)),
    # Account: every property Intuit's Account page marks filterable or sortable (accounting/most-commonly-
    # used/account). Intuit's own sample IntuitDeveloper/Sample-InvoiceWithReimbursedCharge-DotNet (QBOApp.cs)
    # sends `select * from account where AccountSubType='Checking'`.
    "Account": frozenset((
        "Id", "Name", "SubAccount", "ParentRef", "Description", "Active", "Classification", "AccountType",
        "AccountSubType", "FullyQualifiedName", "CurrentBalance", "CurrentBalanceWithSubAccounts", *META,
    )),
    **CATALOG_PROPERTIES,
    **EMPTY_LIST_PROPERTIES,
}
_FOLDED = {entity: {name.casefold() for name in names} for entity, names in QUERYABLE_PROPERTIES.items()}


def check_properties(entity: str, fields: Iterable[str]) -> None:
    """Refuse the first field the entity cannot be queried by (names match case-insensitively).

    Entities without a table (transactions the sandbox answers empty, see query_properties_lists) are not
    checked.
    """
    known = _FOLDED.get(entity)
    if known is None:
        return
    for field in fields:
        if field.casefold() not in known:
            raise not_queryable(field)


def not_queryable(field: str) -> QueryError:
    """4001 with QuickBooks' wording; `field` as the client wrote it."""
    return invalid_query(f"property '{field}' is not queryable")
