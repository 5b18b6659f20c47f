"""Portal currencies: crm.currency.list / crm.currency.get and the control API's way to set them.

Shapes follow DOCS api-reference/crm/currency/crm-currency-list.md and crm-currency-get.md (every
value a string, `total` always 0, `LANG` only in get) and crm/data-types.md § crm_currency.
"""
from __future__ import annotations

from typing import Any

from sandbox.bitrix24.crm_store import dict_param, now_iso, ordered
from sandbox.bitrix24.errors import RestError, classic
from sandbox.bitrix24.registry import CallContext, method, ok
from sandbox.bitrix24.state import Portal
from sandbox.bitrix24.values import real_number

LANGUAGE = "en"
# A new sandbox portal knows only its base currency and the euro: few enough that a QuickBooks
# currency missing on the portal is the common case a sync must handle.
DEFAULT_CURRENCIES = [
    {"CURRENCY": "USD", "AMOUNT": 1, "BASE": "Y", "SORT": 100, "FULL_NAME": "US Dollar", "FORMAT_STRING": "$#"},
    {"CURRENCY": "EUR", "AMOUNT": 1.08, "SORT": 200, "FULL_NAME": "Euro", "FORMAT_STRING": "€#"},
]
_LOCALISED = ("FORMAT_STRING", "FULL_NAME", "DEC_POINT", "THOUSANDS_SEP", "DECIMALS")


def currency_row(raw: dict) -> dict:
    """One stored currency from partial settings, with the documented defaults (data-types.md)."""
    code = str(raw.get("CURRENCY") or "").upper()
    if len(code) != 3 or not code.isalpha():
        raise RestError(400, "INVALID_CURRENCY", "CURRENCY must be a three-letter ISO 4217 code")
    base = str(raw.get("BASE", "N")).upper() == "Y"
    localised = {"FORMAT_STRING": str(raw.get("FORMAT_STRING") or "#"), "FULL_NAME": str(raw.get("FULL_NAME") or code),
                 "DEC_POINT": str(raw.get("DEC_POINT") or "."), "THOUSANDS_SEP": raw.get("THOUSANDS_SEP", " "),
                 "DECIMALS": str(raw.get("DECIMALS", 2)), "THOUSANDS_VARIANT": str(raw.get("THOUSANDS_VARIANT", "S")),
                 "HIDE_ZERO": str(raw.get("HIDE_ZERO", "N"))}
    # The base currency's rate and nominal are always 1 (data-types.md § crm_currency).
    rate, nominal = _number(raw, "AMOUNT", 1), int(_number(raw, "AMOUNT_CNT", 1))  # checked even for the base
    amount = 1.0 if base else rate
    return {"CURRENCY": code, "AMOUNT_CNT": "1" if base else str(nominal),
            "AMOUNT": f"{amount:.4f}", "SORT": str(int(_number(raw, "SORT", 100))), "BASE": "Y" if base else "N",
            "DATE_UPDATE": now_iso(), "LANG": {LANGUAGE: localised}}


def _number(raw: dict, key: str, default: float) -> float:
    """A currency's rate, nominal or sort as a number, or the control API's 400."""
    if raw.get(key) in (None, ""):
        return default
    number = real_number(raw[key])
    if number is None:
        raise RestError(400, "INVALID_CURRENCY", f"{key} must be a number")
    return float(number)


def set_currencies(portal: Portal, rows: Any) -> list[dict]:
    """Replace a portal's currencies; exactly one is the base (the first, when none says so)."""
    if not rows:
        raise RestError(400, "INVALID_CURRENCY", "A portal needs at least its base currency")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise RestError(400, "INVALID_CURRENCY", "currencies must be a list of objects")
    if not any(str(r.get("BASE", "N")).upper() == "Y" for r in rows):
        rows = [{**rows[0], "BASE": "Y"}, *rows[1:]]
    stored = [currency_row(r) for r in rows]
    if sum(r["BASE"] == "Y" for r in stored) != 1 or len({r["CURRENCY"] for r in stored}) != len(stored):
        raise RestError(400, "INVALID_CURRENCY", "Exactly one base currency and no duplicates are allowed")
    portal.currencies = stored
    return [_listed(r) for r in stored]


def _listed(row: dict) -> dict:
    """A currency as crm.currency.list shows it: the portal language's settings, no LANG."""
    localised = row["LANG"][LANGUAGE]
    return {**{k: v for k, v in row.items() if k not in ("LANG", "DATE_UPDATE")}, "LID": LANGUAGE,
            **{k: localised[k] for k in _LOCALISED}, "DATE_UPDATE": row["DATE_UPDATE"]}


@method("crm.currency.list")
def currency_list(ctx: CallContext, params: dict) -> dict:
    """Every currency of the portal, by `order` (SORT by default); `total` is documented as always 0."""
    order = {str(k).upper(): v for k, v in dict_param(params, "order", True).items()} or {"SORT": "ASC"}
    rows = ordered([_listed(r) for r in ctx.portal.currencies], order, lambda r, f: r.get(f), "SORT")
    return ok(rows, total=0)


@method("crm.currency.get")
def currency_get(ctx: CallContext, params: dict) -> dict:
    """One currency with all its localisations in LANG; an unknown code is the classic "Not found"."""
    code: Any = params.get("id", params.get("ID"))
    if not code or not isinstance(code, str):
        raise classic("ID is not defined or invalid.")
    row = next((r for r in ctx.portal.currencies if r["CURRENCY"] == code), None)
    if row is None:
        raise classic("Not found")
    return ok({**_listed(row), "LANG": row["LANG"]})
