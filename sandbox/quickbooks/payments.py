"""Payment create and the rules every payment write shares: validation, payer, applications, record."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator

from . import faults
from .company_build import UNDEPOSITED_FUNDS, payment_line_ex
from .customer_tree import ancestors
from .multicurrency import CURRENCY_MISMATCH, assign_transaction_currency, currency_of
from .payment_ledger import applied_amounts, shift_invoices
from .realm import Realm
from .timefmt import company_local
from .writes import Change, check_fields, check_types, money, ref_id, require_id, stamp, without_empties

WRITABLE = ("CustomerRef", "TotalAmt", "Line", "TxnDate", "PrivateNote", "PaymentRefNum", "PaymentMethodRef",
            "DepositToAccountRef", "ARAccountRef", "CurrencyRef", "ExchangeRate", "ProcessPayment",
            "TxnSource", "CreditCardPayment", "TransactionLocationType", "DepartmentRef")
OBJECT_FIELDS = ("CustomerRef", "DepositToAccountRef", "CurrencyRef", "PaymentMethodRef", "ARAccountRef",
                 "DepartmentRef", "CreditCardPayment")
READ_ONLY = ("Id", "SyncToken", "MetaData", "domain", "sparse", "UnappliedAmt", "LinkedTxn", "status",
             "TaxExemptionRef", "ProjectRef")
# Writable fields the sandbox stores as given; the others are accepted and not kept (ProcessPayment is
# always false: the sandbox processes no card).
STORED_OPTIONAL = ("PrivateNote", "PaymentRefNum", "PaymentMethodRef", "DepositToAccountRef")


def invoice_links(body: dict[str, Any]) -> Iterator[tuple[float, dict[str, Any]]]:
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


@dataclass(frozen=True)
class Application:
    """One payment line on one invoice: the amount and the invoice's open balance just before it."""

    invoice: dict[str, Any]
    amount: float
    open_before: float


def applications(realm: Realm, body: dict[str, Any], customer: dict[str, Any],
                 credit: dict[str, float] | None = None) -> list[Application]:
    """Every line linked to an invoice; 6000 for unknown, foreign or over-applied invoices.

    Lines on the same invoice are summed: each sees the open balance the lines before it left, and all of
    them together may not pass the invoice's open balance (plus `credit`, what an updated payment applied
    to it before). Applied beyond the balance, the surplus would vanish instead of staying UnappliedAmt
    ("Amount not yet applied to invoices", abossenbroek/qbo-mcp qbo-api-docs/entities/payment.md).
    UNCERTAIN: the real refusal is not captured; a 6000 (that page's only business error) naming the
    invoice and both amounts.
    """
    opening: dict[str, float] = {}
    left: dict[str, float] = {}
    result = []
    for amount, link in invoice_links(body):
        invoice = _linked_invoice(realm, link)
        _check_payer(realm, invoice, customer)
        invoice_id = invoice["Id"]
        reopened = float(invoice.get("Balance", 0)) + (credit or {}).get(invoice_id, 0.0)
        opening.setdefault(invoice_id, round(reopened, 2))
        before = left.get(invoice_id, opening[invoice_id])
        if amount > before + 0.004:
            raise faults.business_validation(
                f"The amounts applied to Invoice {invoice_id} ({opening[invoice_id] - before + amount:.2f}) "
                f"exceed its open balance ({opening[invoice_id]:.2f}).")
        left[invoice_id] = round(before - amount, 2)
        result.append(Application(invoice, amount, before))
    return result


def _linked_invoice(realm: Realm, link: dict[str, Any]) -> dict[str, Any]:
    """The invoice a LinkedTxn names (2030 for a bad Id, 6000 when there is none)."""
    invoice_id = require_id(link.get("TxnId"), "LinkedTxn.TxnId")
    invoice = realm.get("Invoice", invoice_id)
    if invoice is None:
        raise faults.business_validation(
            f"The entity Invoice {invoice_id} that you are trying to link does not exist. "
            f"Invoice {invoice_id}")
    return invoice


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


def validate_payment(body: dict[str, Any]) -> None:
    """2010 for unknown properties or wrongly typed ones."""
    check_fields(body, "Payment", WRITABLE + READ_ONLY)
    check_types(body, "Payment", lists=("Line",), objects=OBJECT_FIELDS, numbers=("ExchangeRate",),
                strings=("TxnDate", "PrivateNote", "PaymentRefNum"), bools=("ProcessPayment",))


def payer(realm: Realm, body: dict[str, Any]) -> dict[str, Any]:
    """The customer CustomerRef names (2020 missing, 2030 malformed, 2500 unknown)."""
    customer_id = ref_id(body, "CustomerRef")
    customer = realm.get("Customer", customer_id)
    if customer is None:
        raise faults.invalid_reference("Names", customer_id)
    return customer


def payment_lines(applied: list[Application]) -> list[dict[str, Any]]:
    """Stored lines: amount, the invoice link, LineEx from the open balance before the line."""
    return [{"Amount": item.amount, "LinkedTxn": [{"TxnId": item.invoice["Id"], "TxnType": "Invoice"}],
             "LineEx": payment_line_ex(item.invoice, item.open_before)} for item in applied]


def payment_record(realm: Realm, source: dict[str, Any], customer: dict[str, Any],
                   lines: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The stored Payment (no Id/stamps yet) for `source`'s fields, in the real payments' key order.

    No top-level LinkedTxn: real payments carry one only when something links to them (a Deposit, in
    sandbox2023_payments_and_credit_memos.jsonl payments 98/101/116; none on 120 and 128).
    """
    if source.get("TotalAmt") is None:
        raise faults.required("TotalAmt")
    total = money(source["TotalAmt"], "Payment", "TotalAmt")
    applied = round(sum(applied_amounts({"Line": lines}).values()), 2)
    if applied > total + 0.004:
        raise faults.business_validation("The payment amount must be greater than or equal to the sum of the "
                                         "amounts applied to transactions.")
    payment = {"CustomerRef": {"value": customer["Id"], "name": customer.get("DisplayName", "")},
               "DepositToAccountRef": dict(UNDEPOSITED_FUNDS), "TotalAmt": total,
               "UnappliedAmt": round(total - applied, 2), "ProcessPayment": False, "domain": "QBO",
               "sparse": False, "TxnDate": source.get("TxnDate") or company_local(now).date().isoformat(),
               "CurrencyRef": source.get("CurrencyRef"), "ExchangeRate": source.get("ExchangeRate"),
               "Line": lines}
    assign_transaction_currency(realm, payment, customer)
    payment.update({k: copy.deepcopy(v) for k, v in source.items() if k in STORED_OPTIONAL and v})
    return payment


def create_payment(realm: Realm, body: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[Change]]:
    """POST /payment; the payment is Created and every touched invoice Updated (one change each)."""
    validate_payment(body)
    body = without_empties(body)  # python-quickbooks' Ref `name: ""`, `type: ""` are not stored
    customer = payer(realm, body)
    payment = payment_record(realm, body, customer, payment_lines(applications(realm, body, customer)), now)
    payment["Id"] = realm.next_id("Payment")
    stamp(payment, now, created=True)
    realm.put("Payment", payment)
    changes = [Change("Payment", payment["Id"], "Create", payment["MetaData"]["LastUpdatedTime"])]
    return payment, changes + shift_invoices(realm, payment, {}, applied_amounts(payment), now)
