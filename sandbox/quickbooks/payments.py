"""Payment create: applies Line[].LinkedTxn amounts to the invoices' Balance and LinkedTxn."""
from __future__ import annotations

import copy
from datetime import datetime
from typing import Any, Iterator

from . import faults
from .company_totals import home_amounts
from .company_build import payment_line_ex
from .customer_tree import ancestors, refresh_balances
from .multicurrency import CURRENCY_MISMATCH, assign_transaction_currency, currency_of
from .realm import Realm
from .timefmt import company_local
from .writes import Change, check_fields, check_types, money, ref_id, require_id, stamp

WRITABLE = ("CustomerRef", "TotalAmt", "Line", "TxnDate", "PrivateNote", "PaymentRefNum", "PaymentMethodRef",
            "DepositToAccountRef", "ARAccountRef", "CurrencyRef", "ExchangeRate", "ProcessPayment",
            "TxnSource", "CreditCardPayment", "TransactionLocationType", "DepartmentRef")
OBJECT_FIELDS = ("CustomerRef", "DepositToAccountRef", "CurrencyRef", "PaymentMethodRef", "ARAccountRef",
                 "DepartmentRef", "CreditCardPayment")
READ_ONLY = ("Id", "SyncToken", "MetaData", "domain", "sparse", "UnappliedAmt", "LinkedTxn", "status",
             "TaxExemptionRef", "ProjectRef")


def _invoice_links(body: dict[str, Any]) -> Iterator[tuple[float, dict[str, Any]]]:
    """(line amount, LinkedTxn) for every link of a line to an Invoice; 2010 for lines or links that are not
    objects (Jackson's deserialisation refuses them, as check_types words it)."""
    for line in body.get("Line") or []:
        if not isinstance(line, dict):
            raise faults.unsupported_property("Payment",
                                              "Can not deserialize instance of Line out of non-object")
        check_types(line, "Line", lists=("LinkedTxn",))
        amount = money(line.get("Amount", 0), "Payment", "Line.Amount")
        for link in line.get("LinkedTxn") or []:
            if not isinstance(link, dict):
                raise faults.unsupported_property(
                    "Line", "Can not deserialize instance of LinkedTxn out of non-object")
            check_types(link, "LinkedTxn", strings=("TxnId", "TxnType"))
            if link.get("TxnType") == "Invoice":
                yield amount, link


def _applications(realm: Realm, body: dict[str, Any],
                  customer: dict[str, Any]) -> list[tuple[dict[str, Any], float]]:
    """(invoice, amount) for every line linked to an invoice; 6000 for unknown, foreign or overpaid ones."""
    result = []
    for amount, link in _invoice_links(body):
        invoice_id = require_id(link.get("TxnId"), "LinkedTxn.TxnId")
        invoice = realm.get("Invoice", invoice_id)
        if invoice is None:
            raise faults.business_validation(
                f"The entity Invoice {invoice_id} that you are trying to link does not exist. "
                f"Invoice {invoice_id}")
        _check_payer(realm, invoice, customer)
        if amount > float(invoice.get("Balance", 0)) + 0.004:
            raise faults.business_validation(
                f"The amount applied to Invoice {invoice_id} ({amount}) exceeds its open balance "
                f"({invoice.get('Balance', 0)}).")
        result.append((invoice, amount))
    return result


def _check_payer(realm: Realm, invoice: dict[str, Any], customer: dict[str, Any]) -> None:
    """A payment pays invoices in its own currency, of its customer or of that customer's sub-customers.

    Another currency: the words QuickBooks Online gives for a transaction in a currency other than its
    customer's (multicurrency.assign_transaction_currency). Sub-customers: Receive payment for a parent
    lists and pays its sub-customers' invoices (gentlefrog.com "Sub-Customers in QuickBooks Online", "Apply
    Payment to sub-customer invoice"); the API is taken to accept the same. Any other customer's invoice:
    UNCERTAIN words (no capture), 6000 like the other refusals here.
    """
    if currency_of(realm, invoice) != currency_of(realm, customer):
        raise faults.business_validation(CURRENCY_MISMATCH)
    owner = realm.get("Customer", str(invoice["CustomerRef"]["value"]))
    if owner is not None and (owner["Id"] == customer["Id"]
                              or customer["Id"] in {a["Id"] for a in ancestors(realm, owner)}):
        return
    raise faults.business_validation(
        f"Invoice {invoice['Id']} belongs to another customer ({invoice['CustomerRef'].get('name', '')}); "
        "a payment can only be applied to its own customer's or sub-customers' invoices.")


def create_payment(realm: Realm, body: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[Change]]:
    """POST /payment; the payment is Created and every touched invoice Updated (one change each)."""
    check_fields(body, "Payment", WRITABLE + READ_ONLY)
    check_types(body, "Payment", lists=("Line",), objects=OBJECT_FIELDS, numbers=("ExchangeRate",),
                strings=("TxnDate", "PrivateNote", "PaymentRefNum"), bools=("ProcessPayment",))
    customer_id = ref_id(body, "CustomerRef")
    customer = realm.get("Customer", customer_id)
    if customer is None:
        raise faults.invalid_reference("Names", customer_id)
    if body.get("TotalAmt") is None:
        raise faults.required("TotalAmt")
    total = money(body["TotalAmt"], "Payment", "TotalAmt")
    applications = _applications(realm, body, customer)
    applied = round(sum(amount for _, amount in applications), 2)
    if applied > total + 0.004:
        raise faults.business_validation("The payment amount must be greater than or equal to the sum of the "
                                         "amounts applied to transactions.")
    payment = {"CustomerRef": {"value": customer_id, "name": customer.get("DisplayName", "")},
               "DepositToAccountRef": {"value": "4"}, "TotalAmt": total,
               "UnappliedAmt": round(total - applied, 2),
               "ProcessPayment": False, "domain": "QBO", "sparse": False,
               "TxnDate": body.get("TxnDate") or company_local(now).date().isoformat(),
               "CurrencyRef": body.get("CurrencyRef"), "ExchangeRate": body.get("ExchangeRate"),
               "LinkedTxn": [],
               "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}],
                         "LineEx": payment_line_ex(inv)} for inv, amount in applications]}
    assign_transaction_currency(realm, payment, customer)
    payment.update({k: copy.deepcopy(v) for k, v in body.items()
                    if k in ("PrivateNote", "PaymentRefNum", "PaymentMethodRef",
                             "DepositToAccountRef") and v})
    payment["Id"] = realm.next_id("Payment")
    stamp(payment, now, created=True)
    realm.put("Payment", payment)
    changes = [Change("Payment", payment["Id"], "Create", payment["MetaData"]["LastUpdatedTime"])]
    for invoice, amount in applications:
        invoice["Balance"] = round(max(float(invoice.get("Balance", 0)) - amount, 0.0), 2)
        invoice.update(home_amounts(invoice))
        invoice.setdefault("LinkedTxn", []).append({"TxnId": payment["Id"], "TxnType": "Payment"})
        stamp(invoice, now)
        changes.append(Change("Invoice", invoice["Id"], "Update", invoice["MetaData"]["LastUpdatedTime"]))
    refresh_balances(realm, [customer_id, *(inv["CustomerRef"]["value"] for inv, _ in applications)], now)
    return payment, changes
