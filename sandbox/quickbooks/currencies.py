"""Currencies the sandbox knows: QuickBooks' names and a fixed exchange-rate table (pure data, no I/O).

QuickBooks downloads exchange rates nightly (QuickBooks community "How Multicurrency works"); the sandbox
uses one fixed, plausible rate per currency instead, so totals are reproducible. Rates are US dollars per
unit (mid-2024 levels); a rate to another home currency is the ratio of two entries.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

HOME_CURRENCY = "USD"
# code -> (name as QuickBooks spells it in CurrencyRef.name, US dollars per unit)
CURRENCIES: dict[str, tuple[str, float]] = {
    "USD": ("United States Dollar", 1.0),
    "EUR": ("Euro", 1.0825),
    "GBP": ("British Pound Sterling", 1.2675),
    "CAD": ("Canadian Dollar", 0.7388),
    "AUD": ("Australian Dollar", 0.6650),
    "NZD": ("New Zealand Dollar", 0.6100),
    "CHF": ("Swiss Franc", 1.1250),
    "JPY": ("Japanese Yen", 0.0067),
    "CNY": ("Chinese Yuan Renminbi", 0.1380),
    "INR": ("Indian Rupee", 0.0120),
    "MXN": ("Mexican Peso", 0.0560),
    "SEK": ("Swedish Krona", 0.0950),
}


def currency_ref(code: str) -> dict[str, str]:
    """A CurrencyRef as QuickBooks returns it ({"value": code, "name": ...})."""
    return {"value": code, "name": CURRENCIES[code][0]}


def exchange_rate(code: str, home: str = HOME_CURRENCY) -> float:
    """Home-currency units per unit of `code` (Invoice.ExchangeRate's meaning), six decimals."""
    ratio = Decimal(str(CURRENCIES[code][1])) / Decimal(str(CURRENCIES[home][1]))
    return float(ratio.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP))
