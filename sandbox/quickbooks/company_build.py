"""Builders for customers, invoices and payments, and the life-cycle steps (send, pay, void, delete)."""
from __future__ import annotations

from datetime import date, timedelta

from sandbox.quickbooks.company_records import CREW_FIELD, MEMO, SALES_TERMS, metadata, tax_detail
from sandbox.quickbooks.company_totals import as_number, home_amounts, invoice_totals, money
from sandbox.quickbooks.currencies import HOME_CURRENCY, currency_ref
from sandbox.quickbooks.currencies import exchange_rate as fixed_rate

UNDEPOSITED_FUNDS = {"value": "4"}


def make_customer(customer_id: int, created: str, display: str, *, given: str | None = None,
                  family: str | None = None, company: str | None = None, email: str | None = None,
                  phone: str | None = None, address: dict | None = None, currency: str = HOME_CURRENCY,
                  parent: dict | None = None, active: bool = True, taxable: bool = False,
                  notes: str | None = None) -> dict:
    """A Customer with the keys, order and types of the real sample-company records."""
    customer: dict = {"Taxable": taxable}
    if address:
        customer.update({"BillAddr": address, "ShipAddr": dict(address)})
    customer.update({"Job": parent is not None, "BillWithParent": False})
    if parent is not None:
        customer.update({"ParentRef": {"value": parent["Id"]}, "Level": parent.get("Level", 0) + 1})
    customer.update({"Balance": 0, "BalanceWithJobs": 0, "CurrencyRef": currency_ref(currency),
                     "PreferredDeliveryMethod": "Print" if email is None else "Email", "domain": "QBO",
                     "sparse": False, "Id": str(customer_id), "SyncToken": "0", "MetaData": metadata(created)})
    names = {"GivenName": given, "FamilyName": family}
    customer.update({key: value for key, value in names.items() if value})
    prefix = f"{parent['FullyQualifiedName']}:" if parent is not None else ""
    customer["FullyQualifiedName"] = prefix + display
    if company:
        customer["CompanyName"] = company
    customer.update({"DisplayName": display, "PrintOnCheckName": company or display, "Active": active})
    if phone:
        customer["PrimaryPhone"] = {"FreeFormNumber": phone}
    if email:
        customer["PrimaryEmailAddr"] = {"Address": email}
    if notes:
        customer["Notes"] = notes
    return customer


def invoice_address(address_id: int, customer: dict) -> dict:
    """The multi-line BillAddr QuickBooks prints on invoices (contact, company, street, city line)."""
    lines = [" ".join(filter(None, (customer.get("GivenName"), customer.get("FamilyName"))))]
    lines.append(customer.get("CompanyName") or "")
    street = customer.get("BillAddr") or {}
    lines.append(street.get("Line1", ""))
    city = f"{street.get('City', '')}, {street.get('CountrySubDivisionCode', '')}  {street.get('PostalCode', '')}"
    lines.append(city if street else "")
    kept = [line for line in lines if line.strip(" ,")] or [customer["DisplayName"]]
    address = {"Id": str(address_id)}
    address.update({f"Line{i}": line for i, line in enumerate(kept, start=1)})
    address.update({"Lat": "INVALID", "Long": "INVALID"})
    return address


def make_invoice(invoice_id: int, doc_number: str, customer: dict, txn_date: date, created: str,
                 lines: list[dict], *, terms_days: int = 30, with_tax: bool = False, address_id: int = 0,
                 exchange_rate: float | None = None, crew: str | None = None) -> dict:
    """An open, unsent invoice in the key order of the real 2023 sandbox invoices, totals computed."""
    currency = customer["CurrencyRef"]["value"]
    invoice: dict = {"AllowIPNPayment": False, "AllowOnlinePayment": False, "AllowOnlineCreditCardPayment": False,
                     "AllowOnlineACHPayment": False, "domain": "QBO", "sparse": False, "Id": str(invoice_id),
                     "SyncToken": "0", "MetaData": metadata(created),
                     "CustomField": [dict(CREW_FIELD, StringValue=crew) if crew else dict(CREW_FIELD)],
                     "DocNumber": doc_number, "TxnDate": txn_date.isoformat(), "CurrencyRef": currency_ref(currency)}
    if currency != HOME_CURRENCY:
        invoice["ExchangeRate"] = exchange_rate or fixed_rate(currency)
    invoice.update({"LinkedTxn": [], "Line": lines, "TxnTaxDetail": tax_detail(with_tax),
                    "CustomerRef": {"value": customer["Id"], "name": customer["DisplayName"]}, "CustomerMemo": MEMO,
                    "BillAddr": invoice_address(address_id, customer)})
    if "ShipAddr" in customer:
        invoice["ShipAddr"] = dict(customer["ShipAddr"])
    invoice.update({"SalesTermRef": SALES_TERMS[terms_days],
                    "DueDate": (txn_date + timedelta(days=terms_days)).isoformat(), "TotalAmt": 0,
                    "ApplyTaxAfterDiscount": False, "PrintStatus": "NeedToPrint", "EmailStatus": "NotSet"})
    if "PrimaryEmailAddr" in customer:
        invoice["BillEmail"] = {"Address": customer["PrimaryEmailAddr"]["Address"]}
    invoice["Balance"] = 0
    return invoice_totals(invoice, paid=0)


def touch(record: dict, when: str) -> None:
    """Count one more write: SyncToken + 1 and LastUpdatedTime moved forward."""
    record["SyncToken"] = str(int(record["SyncToken"]) + 1)
    record["MetaData"] = {**record["MetaData"], "LastUpdatedTime": max(record["MetaData"]["LastUpdatedTime"], when)}


def mark_needs_sending(invoice: dict) -> None:
    """Flag an invoice to be e-mailed later (EmailStatus NeedToSend requires a BillEmail)."""
    if "BillEmail" in invoice:
        invoice["EmailStatus"] = "NeedToSend"


def mark_sent(invoice: dict, when: str) -> None:
    """What /invoice/<id>/send does: EmailStatus EmailSent and DeliveryInfo filled."""
    invoice["EmailStatus"] = "EmailSent"
    invoice["DeliveryInfo"] = {"DeliveryType": "Email", "DeliveryTime": when}
    touch(invoice, when)


def make_payment(payment_id: int, created: str, txn_date: date, invoice: dict, amount: float) -> dict:
    """A Payment applied to one invoice, in the key order of the real 2023 payments; the invoice links back."""
    payment = {"CustomerRef": dict(invoice["CustomerRef"]), "DepositToAccountRef": dict(UNDEPOSITED_FUNDS),
               "TotalAmt": amount, "UnappliedAmt": 0, "ProcessPayment": False, "domain": "QBO", "sparse": False,
               "Id": str(payment_id), "SyncToken": "0", "MetaData": metadata(created),
               "TxnDate": txn_date.isoformat(), "CurrencyRef": dict(invoice["CurrencyRef"])}
    if "ExchangeRate" in invoice:
        payment["ExchangeRate"] = invoice["ExchangeRate"]
    payment["Line"] = [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}],
                        "LineEx": payment_line_ex(invoice)}]
    return payment


def payment_line_ex(invoice: dict, open_balance: float | None = None) -> dict:
    """A payment line's LineEx for the invoice it pays, taken before the line is applied.

    Real 2023 payments (sandbox-2023-records, e.g. payment 120 on invoice 12, DocNumber 1004) carry
    txnId, txnOpenBalance (the invoice's open balance before this payment, two decimals) and
    txnReferenceNumber (its DocNumber), in that order. `open_balance` defaults to the invoice's Balance.
    """
    open_balance = money(invoice["Balance"] if open_balance is None else open_balance)
    return {"any": [_name_value("txnId", invoice["Id"]), _name_value("txnOpenBalance", f"{open_balance:.2f}"),
                    _name_value("txnReferenceNumber", str(invoice.get("DocNumber", "")))]}


def _name_value(name: str, value: str) -> dict:
    """One LineEx NameValue element exactly as QuickBooks serialises it."""
    return {**_NAME_VALUE_HEAD, "value": {"Name": name, "Value": value}, **_NAME_VALUE_TAIL}


_NAME_VALUE_HEAD = {"name": "{http://schema.intuit.com/finance/v3}NameValue",
                    "declaredType": "com.intuit.schema.finance.v3.NameValue",
                    "scope": "javax.xml.bind.JAXBElement$GlobalScope"}
_NAME_VALUE_TAIL = {"nil": False, "globalScope": True, "typeSubstituted": False}


def apply_payment(invoice: dict, payment: dict) -> dict:
    """The invoice after the payment: LinkedTxn back to it, Balance reduced, one more SyncToken."""
    balance = max(money(invoice["Balance"]) - money(payment["TotalAmt"]), money(0))
    updated = home_amounts({**invoice, "Balance": as_number(balance)})
    updated["LinkedTxn"] = [*invoice["LinkedTxn"], {"TxnId": payment["Id"], "TxnType": "Payment"}]
    touch(updated, payment["MetaData"]["CreateTime"])
    return updated


def void_invoice(invoice: dict, when: str, note: str | None = None) -> dict:
    """What operation=void does (real void response): amounts and quantities zeroed, PrivateNote 'Voided'."""
    lines = []
    for line in invoice["Line"]:
        line = {**line, "Amount": 0}
        if "SalesItemLineDetail" in line and "Qty" in line["SalesItemLineDetail"]:
            line["SalesItemLineDetail"] = {**line["SalesItemLineDetail"], "Qty": 0}
        lines.append(line)
    voided: dict = {}
    for key, value in invoice.items():
        if key == "LinkedTxn":
            # UNCERTAIN: Intuit says 'Voided' is prepended to an existing note; the separator is a guess.
            voided["PrivateNote"] = f"Voided - {note}" if note else "Voided"
        voided[key] = value
    voided.update({"Line": lines, "TotalAmt": 0, "Balance": 0})
    voided = invoice_totals(voided, paid=0)
    touch(voided, when)
    return voided


def tombstone(invoice_id: str, when: str) -> dict:
    """What CDC keeps of a deleted invoice (the sandbox adds domain and status=Deleted when answering)."""
    return {"Id": invoice_id, "MetaData": {"LastUpdatedTime": when}}


def settle_customer_balances(customers: list[dict], invoices: list[dict]) -> None:
    """Customer Balance = open invoice balances; BalanceWithJobs adds every sub-customer below it."""
    own: dict[str, object] = {c["Id"]: money(0) for c in customers}
    last_change: dict[str, str] = {}
    for invoice in invoices:
        customer_id = invoice["CustomerRef"]["value"]
        own[customer_id] += money(invoice["Balance"])
        last_change[customer_id] = max(last_change.get(customer_id, ""), invoice["MetaData"]["LastUpdatedTime"])
    with_jobs = dict(own)
    by_id = {c["Id"]: c for c in customers}
    for customer in customers:
        parent_id = customer.get("ParentRef", {}).get("value")
        while parent_id:
            with_jobs[parent_id] += own[customer["Id"]]
            parent_id = by_id[parent_id].get("ParentRef", {}).get("value")
    for customer in customers:
        customer["Balance"] = as_number(own[customer["Id"]])
        customer["BalanceWithJobs"] = as_number(with_jobs[customer["Id"]])
        if customer["Id"] in last_change:
            # A balance change moves LastUpdatedTime but not SyncToken (real customer 1: token 0, updated later).
            meta = customer["MetaData"]
            meta["LastUpdatedTime"] = max(meta["LastUpdatedTime"], last_change[customer["Id"]])
