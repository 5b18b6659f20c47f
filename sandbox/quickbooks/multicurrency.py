"""Currency rules of writes: a customer's currency is set once; a transaction is in its customer's currency.

Customer reference (CUSTREF, `CurrencyRef`): "Once set, it cannot be changed. If specified currency is not
currently in the company's currency list, it is added. If not specified, currency for this customer is
the home currency of the company, as defined by Preferences.CurrencyPrefs.HomeCurrency." Foreign-currency
transactions carry ExchangeRate ("the number of home currency units it takes to equal one unit of
currency specified by CurrencyRef", Invoice reference), HomeTotalAmt and HomeBalance (reference §11).
"""
from __future__ import annotations

from typing import Any

from . import faults
from .currencies import CURRENCIES, currency_ref, exchange_rate
from .customer_tree import parent_of
from .realm import Realm

CURRENCY_MISMATCH = "The transaction needs to be in the same currency as the A/R and A/P accounts you use."


def _code_of(record: dict[str, Any]) -> str | None:
    """CurrencyRef.value as written, or None when the record names no currency."""
    ref = record.get("CurrencyRef")
    if not isinstance(ref, dict) or ref.get("value") in (None, ""):
        return None
    return str(ref["value"]).strip()


def currency_of(realm: Realm, record: dict[str, Any]) -> str:
    """The record's currency code; the company's home currency when it names none."""
    return _code_of(record) or realm.switches.home_currency


def _known(code: str) -> str:
    """The code if the sandbox knows the currency.

    UNCERTAIN: the real answer to an unknown ISO code is not captured; 2500 Invalid Reference Id is what
    QuickBooks answers for other references to things that do not exist.
    """
    if code not in CURRENCIES:
        raise faults.invalid_reference("Currency", code)
    return code


def _allowed(realm: Realm, code: str) -> None:
    """A foreign currency needs multicurrency on (Preferences.CurrencyPrefs.MultiCurrencyEnabled).

    UNCERTAIN: the real refusal is not captured; a 6000 business validation naming the cause.
    """
    if code != realm.switches.home_currency and not realm.switches.multi_currency:
        raise faults.business_validation(
            f"Multicurrency is not enabled for this company: {code} is not its home currency "
            f"({realm.switches.home_currency}). (CurrencyRef)")


def assign_customer_currency(realm: Realm, record: dict[str, Any], current: dict[str, Any] | None) -> None:
    """Set the customer's CurrencyRef: as given on create (a job defaults to its parent's), kept on update."""
    given = _code_of(record)
    if current is not None:
        kept = currency_of(realm, current)
        if given is not None and given != kept:
            # UNCERTAIN: the reference says it "cannot be changed"; no real refusal was captured (ours: 6000).
            raise faults.business_validation(
                f"The currency of a customer cannot be changed once it is set: {kept} (CurrencyRef)")
        _same_as_parent(realm, record, kept)
        record["CurrencyRef"] = currency_ref(kept)
        return
    code = _known(given) if given is not None else _parent_code(realm, record)
    _same_as_parent(realm, record, code)
    _allowed(realm, code)
    if code != realm.switches.home_currency and code not in realm.currencies:
        realm.currencies.append(code)
    record["CurrencyRef"] = currency_ref(code)


def _same_as_parent(realm: Realm, record: dict[str, Any], code: str) -> None:
    """A sub-customer bills in its parent's currency, so BalanceWithJobs never adds up two currencies.

    QuickBooks' customer form offers a sub-customer no currency of its own (it takes the parent's);
    UNCERTAIN how the API refuses a different one (no capture): 6000 naming both currencies.
    """
    parent = parent_of(realm, record)
    if parent is not None and currency_of(realm, parent) != code:
        raise faults.business_validation(
            f"A sub-customer must use its parent customer's currency: {parent.get('DisplayName', '')} "
            f"bills in {currency_of(realm, parent)}, this customer in {code}. (CurrencyRef)")


def _parent_code(realm: Realm, record: dict[str, Any]) -> str:
    """A sub-customer bills in its parent's currency (QuickBooks UI default); anyone else in the home one."""
    parent = parent_of(realm, record)
    return currency_of(realm, parent) if parent is not None else realm.switches.home_currency


def assign_transaction_currency(realm: Realm, record: dict[str, Any], customer: dict[str, Any]) -> None:
    """A transaction takes its customer's currency; a foreign one also an ExchangeRate (given or the table's).

    A CurrencyRef other than the customer's is refused with the message QuickBooks Online gives for it
    ("The transaction needs to be in the same currency as the A/R and A/P accounts you use.", quoted by
    the Connex and Expensify QuickBooks Online error guides); the 6000 code is UNCERTAIN.
    """
    code = currency_of(realm, customer)
    given = _code_of(record)
    if given is not None and given != code:
        raise faults.business_validation(CURRENCY_MISMATCH)
    record["CurrencyRef"] = currency_ref(code)
    if code == realm.switches.home_currency:
        # Home-currency transactions carry no ExchangeRate (every real 2023 sandbox invoice and payment);
        # python-quickbooks always sends ExchangeRate 1, which changes nothing here.
        record.pop("ExchangeRate", None)
        return
    rate = record.get("ExchangeRate")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0:
        rate = exchange_rate(code, realm.switches.home_currency)
    record["ExchangeRate"] = rate
