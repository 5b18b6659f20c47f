"""The name lists every company has and the sample company's records point at: Terms and the chart of Accounts."""
from __future__ import annotations

from sandbox.quickbooks.company_records import metadata
from sandbox.quickbooks.currencies import HOME_CURRENCY, currency_ref

# The sample company's terms. Ids 2/3/4 are what the sandbox's invoices carry in SalesTermRef ("3" "Net 30"
# is on every real 2023 invoice in sandbox-2023-records); Id 1 "Due on receipt" is the TermRef of real
# vendors (recorded-bodies get__inactive_vendors) and the SalesTermRef name seen in public QBO responses.
TERMS: tuple[tuple[str, str, int], ...] = (
    ("1", "Due on receipt", 0), ("2", "Net 15", 15), ("3", "Net 30", 30), ("4", "Net 60", 60))

# (Id, Name, parent Id, Classification, AccountType, AccountSubType, Active). Ids and names of the real
# sample company's General Ledger report (recorded-bodies/reports__gl__0_get_200.json: 1 Services,
# 2 Retained Earnings, 4 Undeposited Funds, 17 Rent or Lease, 33 A/P, 34, 35, 36, 38, 41, 43, 44, 77, 81,
# 82 Design income, 84 A/R, 90); 5 is the real deactivated account of deactivate__account__0_get_200.json;
# 45, 48, 79, 86 are the refs the sandbox's items and discount lines already carried (80 beside them).
# Types and subtypes of the GL accounts are not in the report: the usual ones for each name (UNCERTAIN).
ACCOUNTS: tuple[tuple[str, str, str | None, str, str, str, bool], ...] = (
    ("1", "Services", None, "Revenue", "Income", "ServiceFeeIncome", True),
    ("2", "Retained Earnings", None, "Equity", "Equity", "RetainedEarnings", True),
    ("4", "Undeposited Funds", None, "Asset", "Other Current Asset", "UndepositedFunds", True),
    ("5", "Fees Billed (deleted)", None, "Revenue", "Income", "ServiceFeeIncome", False),
    ("17", "Rent or Lease", None, "Expense", "Expense", "RentOrLeaseOfBuildings", True),
    ("33", "Accounts Payable (A/P)", None, "Liability", "Accounts Payable", "AccountsPayable", True),
    ("34", "Opening Balance Equity", None, "Equity", "Equity", "OpeningBalanceEquity", True),
    ("35", "Checking", None, "Asset", "Bank", "Checking", True),
    ("36", "Savings", None, "Asset", "Bank", "Savings", True),
    ("38", "Truck", None, "Asset", "Fixed Asset", "Vehicles", True),
    ("41", "Mastercard", None, "Liability", "Credit Card", "CreditCard", True),
    ("43", "Loan Payable", None, "Liability", "Other Current Liability", "OtherCurrentLiabilities", True),
    ("44", "Notes Payable", None, "Liability", "Long Term Liability", "NotesPayable", True),
    ("45", "Landscaping Services", None, "Revenue", "Income", "ServiceFeeIncome", True),
    ("48", "Job Materials", "45", "Revenue", "Income", "SalesOfProductIncome", True),
    ("77", "Utilities", None, "Expense", "Expense", "Utilities", True),
    ("79", "Sales of Product Income", None, "Revenue", "Income", "SalesOfProductIncome", True),
    ("80", "Cost of Goods Sold", None, "Expense", "Cost of Goods Sold", "SuppliesMaterialsCogs", True),
    ("81", "Inventory Asset", None, "Asset", "Other Current Asset", "Inventory", True),
    ("82", "Design income", None, "Revenue", "Income", "ServiceFeeIncome", True),
    ("84", "Accounts Receivable (A/R)", None, "Asset", "Accounts Receivable", "AccountsReceivable", True),
    ("86", "Discounts given", None, "Revenue", "Income", "DiscountsRefundsGiven", True),
    ("90", "Board of Equalization Payable", None, "Liability", "Other Current Liability", "SalesTaxPayable",
     True),
)


def make_terms(created: str) -> list[dict]:
    """The Term list, shaped like the documented Term response (Name, Active, Type, DueDays, domain, sparse,
    Id, SyncToken, MetaData: Intuit's Term page as scraped in abossenbroek/qbo-mcp, entities/term.md).

    No real Term body was captured: `DiscountPercent`/`DiscountDays` 0 on a plain net term is UNCERTAIN.
    """
    return [{"Name": name, "Active": True, "Type": "STANDARD", "DiscountPercent": 0, "DueDays": days,
             "DiscountDays": 0, "domain": "QBO", "sparse": False, "Id": term_id, "SyncToken": "0",
             "MetaData": metadata(created)} for term_id, name, days in TERMS]


def make_accounts(created: str, updated: str | None = None) -> list[dict]:
    """The chart of accounts, each shaped like the real Account 5 body (deactivate__account__0_get_200.json).

    Balances are 0: the sandbox keeps no ledger. The inactive account is stamped `updated` (SyncToken 1).
    """
    names = {row[0]: row[1] for row in ACCOUNTS}
    accounts = []
    for account_id, name, parent_id, classification, kind, subtype, active in ACCOUNTS:
        account: dict = {"Name": name, "SubAccount": parent_id is not None}
        if parent_id is not None:
            account["ParentRef"] = {"value": parent_id}
        account.update({"FullyQualifiedName": f"{names[parent_id]}:{name}" if parent_id else name,
                        "Active": active, "Classification": classification, "AccountType": kind,
                        "AccountSubType": subtype, "CurrentBalance": 0, "CurrentBalanceWithSubAccounts": 0,
                        "CurrencyRef": currency_ref(HOME_CURRENCY), "domain": "QBO", "sparse": False,
                        "Id": account_id, "SyncToken": "0" if active else "1",
                        "MetaData": metadata(created, None if active else updated)})
        accounts.append(account)
    return accounts
