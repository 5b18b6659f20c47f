"""Queryable properties of the entities the sandbox serves from settings or answers empty.

Same rule as query_properties: the properties Intuit's API reference marks "filterable" or "sortable" on
each entity page (developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/<entity>, read
through a verbatim markdown copy of each page that keeps its "Traits:" lines), plus the MetaData times.
Where a page's marks miss a property its own sample query uses, the property is accepted and marked
UNCERTAIN.

Entities without a table here are not checked (any property passes, the answer is empty): the
transactions the sandbox answers empty (Bill, BillPayment, CreditMemo, Deposit, Estimate, JournalEntry,
Purchase, PurchaseOrder, RefundReceipt, SalesReceipt, TimeActivity, Transfer, VendorCredit) and TaxAgency
and CustomerType, whose pages were not read.
"""
from __future__ import annotations

META = ("MetaData.CreateTime", "MetaData.LastUpdatedTime")

# Built from the company's switches (catalog.py) and answered with records.
CATALOG_PROPERTIES: dict[str, frozenset[str]] = {
    "TaxCode": frozenset(("Id", "Name", "Description", "Active", *META)),
    "TaxRate": frozenset(("Id", "Name", "Description", "Active", "AgencyRef", "TaxReturnLineRef", *META)),
    # Marked: Id, Active, MetaData. Code and Name are unmarked, yet clients look a currency up by its code
    # (`select * from CompanyCurrency where Code = 'EUR'`): accepted, UNCERTAIN.
    "CompanyCurrency": frozenset(("Id", "Active", "Code", "Name", *META)),
    # Only Id is marked; the page's sample query is a bare `select * from CompanyInfo`.
    "CompanyInfo": frozenset(("Id", *META)),
    # Business Rules: "Query is supported with sorting and filtering enabled for Metadata timestamp
    # attributes." Its Id is not marked.
    "Preferences": frozenset(META),
}

# Known to QuickBooks, answered empty by the sandbox (no records stored).
EMPTY_LIST_PROPERTIES: dict[str, frozenset[str]] = {
    "Vendor": frozenset((
        "Id", "DisplayName", "GivenName", "MiddleName", "FamilyName", "Suffix", "CompanyName",
        "PrintOnCheckName", "Balance", "Active", *META,
    )),
    "Employee": frozenset((
        "Id", "DisplayName", "GivenName", "MiddleName", "FamilyName", "Suffix", "PrintOnCheckName", "Active",
        *META,
    )),
    # Name is unmarked on the Class, Department and PaymentMethod pages, but the Class page's own sample is
    # `select * from Class where name like 'France'`: accepted on all three, UNCERTAIN.
    "Class": frozenset(("Id", "Name", "FullyQualifiedName", "Active", *META)),
    "Department": frozenset(("Id", "Name", "FullyQualifiedName", "Active", *META)),
    "PaymentMethod": frozenset(("Id", "Name", "Active", *META)),
}
