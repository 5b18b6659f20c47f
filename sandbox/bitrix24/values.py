"""Scalar values as Bitrix24 takes them: strict numbers (crm.item), PHP casts (classic methods)."""
from __future__ import annotations

import math
import re
from typing import Any

from sandbox.bitrix24.errors import RestError

_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
# PHP's numeric string (is_numeric: surrounding whitespace allowed); the leading part is what (int)/(float) read.
_NUMBER = r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?"
_NUMERIC, _LEADING = re.compile(_NUMBER + r"\s*"), re.compile(_NUMBER)


def real_number(value: Any) -> int | float | None:
    """A JSON number or a numeric string (int when integral text), None for anything else (nan/inf too)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    if isinstance(value, str) and not _NUMERIC.fullmatch(value):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def item_number(value: Any, field: str) -> int | float:
    """A crm.item number field's value, or CRM_FIELD_ERROR_VALUE_NOT_VALID (the field's own error)."""
    number = real_number(value)
    if number is None:
        raise RestError(400, "CRM_FIELD_ERROR_VALUE_NOT_VALID", f"Invalid value for field \"{field}\"")
    return int(number) if isinstance(number, float) and number.is_integer() else number


def item_int(value: Any, field: str) -> int:
    """A crm.item integer field's value (a fraction is cut, as the ORM's integer cast does)."""
    return int(item_number(value, field))


def php_float(value: Any) -> float:
    """PHP's (float)/floatval(): the leading number of a string, 0.0 when there is none."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else 0.0
    match = _LEADING.match(value) if isinstance(value, str) else None
    number = float(match.group()) if match else 0.0
    return number if math.isfinite(number) else 0.0


def php_int(value: Any) -> int:
    """PHP's (int)/intval(): "12.0" is 12, "12abc" 12, "abc" 0."""
    return int(php_float(value))


def number_text(number: float) -> str:
    """A number as a classic method's string: "1500", "1.5"."""
    return str(int(number)) if number.is_integer() else repr(number)
