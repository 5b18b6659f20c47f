"""Company-wide read-only views that follow the company's switches: Preferences, CompanyInfo, CompanyCurrency.

Preferences copies the JSON example of Intuit's Preferences API reference (Craig's Design and
Landscaping Services, the sample company; developer.intuit.com/app/developer/qbo/docs/api/accounting/
all-entities/preferences), with CurrencyPrefs and TaxPrefs taken from the switches. "PartnerTaxEnabled"
is the automated-sales-tax flag the Customer reference names (Preferences.TaxPrefs.PartnerTaxEnabled).
"""
from __future__ import annotations

import copy
from typing import Any

from .currencies import currency_ref
from .realm import Realm
from .tax_catalog import default_tax_code_id

_MESSAGES = {"InvoiceMessage": ("Your invoice is attached.  Please remit payment at your earliest "
                                "convenience.\nThank you for your business - we appreciate it very much.",
                                "Invoice"),
             "EstimateMessage": ("Please review the estimate below.  Feel free to contact us if you have any "
                                 "questions.\nWe look forward to working with you.", "Estimate"),
             "SalesReceiptMessage": ("Your sales receipt is attached.\nThank you for your business - we "
                                     "appreciate it very much.", "Sales Receipt"),
             "StatementMessage": ("Your statement is attached.  Please remit payment at your earliest "
                                  "convenience.\nThank you for your business - we appreciate it very much.",
                                  "Statement")}
_CUSTOM = [{"CustomField": [{"BooleanValue": n == 1, "Type": "BooleanType",
                             "Name": f"SalesFormsPrefs.UseSalesCustom{n}"} for n in (3, 2, 1)]},
           {"CustomField": [{"StringValue": "Crew #", "Type": "StringType",
                             "Name": "SalesFormsPrefs.SalesCustomName1"}]}]
_SALES_FORMS = {"ETransactionPaymentEnabled": False, "CustomTxnNumbers": False, "AllowShipping": False,
                "AllowServiceDate": False, "ETransactionEnabledStatus": "NotApplicable",
                "DefaultCustomerMessage": "Thank you for your business and have a great day!",
                "EmailCopyToCompany": False, "AllowEstimates": True, "DefaultTerms": {"value": "3"},
                "AllowDiscount": True, "DefaultDiscountAccount": "86", "AllowDeposit": True,
                "AutoApplyPayments": True, "IPNSupportEnabled": False, "AutoApplyCredit": True,
                "CustomField": _CUSTOM, "UsingPriceLevels": False, "ETransactionAttachPDF": False}
_OTHER = (("SalesFormsPrefs.DefaultCustomerMessage", "Thank you for your business and have a great day!"),
          ("SalesFormsPrefs.DefaultItem", "1"), ("DTXCopyMemo", "false"),
          ("UncategorizedAssetAccountId", "32"),
          ("UncategorizedIncomeAccountId", "30"), ("UncategorizedExpenseAccountId", "31"),
          ("SFCEnabled", "true"), ("DataPartner", "false"), ("Vendor1099Enabled", "true"),
          ("TimeTrackingFeatureEnabled", "true"), ("FDPEnabled", "false"), ("ProjectsEnabled", "false"),
          ("DateFormat", "Month Date Year separated by a slash"),
          ("DateFormatMnemonic", "MMDDYYYY_SEP_SLASH"),
          ("NumberFormat", "US Number Format"), ("NumberFormatMnemonic", "US_NB"),
          ("WarnDuplicateCheckNumber", "true"), ("WarnDuplicateBillNumber", "false"),
          ("SignoutInactiveMinutes", "60"), ("AccountingInfoPrefs.ShowAccountNumbers", "false"))
_ACCOUNTING = {"FirstMonthOfFiscalYear": "January", "UseAccountNumbers": True, "TaxYearMonth": "January",
               "ClassTrackingPerTxn": False, "TrackDepartments": True, "TaxForm": "6",
               "CustomerTerminology": "Customers", "DepartmentTerminology": "Location",
               "ClassTrackingPerTxnLine": True}
_PURCHASE_FIELDS = [{"CustomField": [{"BooleanValue": n != 3, "Type": "BooleanType",
                                      "Name": f"PurchasePrefs.UsePurchaseCustom{n}"} for n in (3, 2, 1)]},
                    {"CustomField": [{"StringValue": "Sales Rep", "Type": "StringType",
                                      "Name": "PurchasePrefs.PurchaseCustomName2"},
                                     {"StringValue": "Crew #", "Type": "StringType",
                                      "Name": "PurchasePrefs.PurchaseCustomName1"}]}]


def _email_messages(company: str) -> dict[str, Any]:
    """EmailMessagesPrefs signed with the company's name."""
    return {kind: {"Message": f"{text}\n\nSincerely,\n{company}", "Subject": f"{label} from {company}"}
            for kind, (text, label) in _MESSAGES.items()}


def _tax_prefs(realm: Realm) -> dict[str, Any]:
    """TaxPrefs: sales tax on, automated (PartnerTaxEnabled) only for US companies."""
    return {"TaxGroupCodeRef": {"value": default_tax_code_id(realm)}, "UsingSalesTax": True,
            "PartnerTaxEnabled": realm.switches.country == "US"}


def preferences(realm: Realm) -> dict[str, Any]:
    """The Preferences object, in the key order of Intuit's example."""
    meta = realm.company_info.get("MetaData") or {}
    return {"EmailMessagesPrefs": _email_messages(str(realm.company_info.get("CompanyName", ""))),
            "ProductAndServicesPrefs": {"QuantityWithPriceAndRate": True, "ForPurchase": True,
                                        "QuantityOnHand": True, "ForSales": True},
            "domain": "QBO", "SyncToken": "6",
            "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
            "AccountingInfoPrefs": dict(_ACCOUNTING), "SalesFormsPrefs": copy.deepcopy(_SALES_FORMS),
            "VendorAndPurchasesPrefs": {"BillableExpenseTracking": True, "TrackingByCustomer": True,
                                        "POCustomField": copy.deepcopy(_PURCHASE_FIELDS)},
            "TaxPrefs": _tax_prefs(realm),
            "OtherPrefs": {"NameValue": [{"Name": name, "Value": value} for name, value in _OTHER]},
            "sparse": False,
            "TimeTrackingPrefs": {"WorkWeekStartDate": "Monday", "MarkTimeEntriesBillable": True,
                                  "ShowBillRateToAll": False, "UseServices": True, "BillCustomers": True},
            "CurrencyPrefs": {"HomeCurrency": {"value": realm.switches.home_currency},
                              "MultiCurrencyEnabled": realm.switches.multi_currency},
            "Id": "1", "MetaData": dict(meta)}


def company_info(realm: Realm) -> dict[str, Any]:
    """CompanyInfo whose Country and HomeCurrency/MultiCurrencyEnabled NameValues follow the switches."""
    info = copy.deepcopy(realm.company_info)
    info["Country"] = realm.switches.country
    switched = {"HomeCurrency": realm.switches.home_currency,
                "MultiCurrencyEnabled": "true" if realm.switches.multi_currency else "false"}
    pairs = [pair for pair in info.get("NameValue") or [] if pair.get("Name") not in switched]
    info["NameValue"] = pairs + [{"Name": name, "Value": value} for name, value in switched.items()]
    return info


def company_currencies(realm: Realm) -> list[dict[str, Any]]:
    """CompanyCurrency: the foreign currencies in the company's list (none while multicurrency is off)."""
    if not realm.switches.multi_currency:
        return []
    meta = realm.company_info.get("MetaData") or {}
    return [{"Code": code, "Name": currency_ref(code)["name"], "Active": True, "domain": "QBO",
             "sparse": False, "Id": str(number), "SyncToken": "0", "MetaData": dict(meta)}
            for number, code in enumerate(realm.currencies, start=1)]
