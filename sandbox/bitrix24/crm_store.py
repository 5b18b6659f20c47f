"""Listing helpers shared by classic and crm.item methods: filter prefixes, order, 50-row pages."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Callable

from sandbox.bitrix24.errors import RestError, classic
from sandbox.bitrix24.state import Portal

PAGE_SIZE = 50
OPERATOR_PREFIX = re.compile(r"^(>=|<=|!=|!@|=%|%=|>|<|@|%|=|!)?(.*)$", re.DOTALL)  # a key may hold a newline


def now_iso() -> str:
    """Current time as Bitrix24 writes dates (ISO-8601 with offset)."""
    return datetime.now(timezone.utc).astimezone().replace(microsecond=0).isoformat()


def check_required_userfields(portal: Portal, entity: str, record: dict) -> None:
    """With the portal's "check required custom fields" option on (reference §6, rest_enable_req_uf_check,
    default off), a mandatory UF must have a value. The body follows DOCS crm-item-batch-import.md:
    `CRM_FIELD_ERROR_REQUIRED`, `The "Name" field is required` (the field's title: its edit-form label)."""
    if not portal.req_uf_check:
        return
    from sandbox.bitrix24.userfields import label  # userfields -> item_keys -> crm_store: import here
    for uf in portal.userfields.get(entity, []):
        if uf["MANDATORY"] == "Y" and record.get(uf["FIELD_NAME"]) in (None, "", [], {}):
            title = label(uf, "EDIT_FORM_LABEL") or uf["FIELD_NAME"]
            raise RestError(400, "CRM_FIELD_ERROR_REQUIRED", f"The \"{title}\" field is required")


def _num(value: Any) -> float | None:
    """A value as a number when it is one."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _compare(op: str, have: Any, want: Any) -> bool:
    """One filter comparison with Bitrix24's operator prefixes."""
    if op in ("@", "!@"):
        wanted = want if isinstance(want, list) else [want]
        hit = any(_compare("=", have, w) for w in wanted)
        return hit if op == "@" else not hit
    if isinstance(have, list):
        hit = any(_compare(op if op not in ("!", "!=") else "=", h, want) for h in have)
        return not hit if op in ("!", "!=") else hit
    if op in ("%", "=%", "%="):
        text, needle = str(have or "").lower(), str(want).lower()
        return {"%": needle in text, "=%": text.startswith(needle.rstrip("%")),
                "%=": text.endswith(needle.lstrip("%"))}[op]
    a, b = _num(have), _num(want)
    if a is None or b is None:
        a, b = ("" if have is None else str(have)), ("" if want is None else str(want))
    if op in ("", "="):
        return a == b
    if op in ("!", "!="):
        return a != b
    return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]


def _key(value: Any) -> tuple:
    """A value as `_compare`'s "=" sees it (numbers by value, the rest as text), for set lookups."""
    if isinstance(value, str) and value[:1].isalpha() and value[:1] not in "iInN":
        return ("s", value)  # cannot be a float (only inf/nan spellings start with a letter): skip the raise
    number = _num(value)
    return ("n", number) if number is not None else ("s", "" if value is None else str(value))


def _condition(op: str, field: str, want: Any, value_of: Callable[[dict, str], Any]) -> Callable[[dict], bool]:
    """One filter condition as a predicate; "=" and "@" use a precomputed key (a 20,000-row portal
    answers an `@ORIGIN_ID` of 50 values in milliseconds, not 50 comparisons a row)."""
    scalar = lambda v: not isinstance(v, (list, dict))  # noqa: E731
    if op in ("", "=", "@", "!@") and (scalar(want) or (op in ("@", "!@") and isinstance(want, list)
                                                         and all(map(scalar, want)))):
        keys = {_key(w) for w in (want if isinstance(want, list) else [want])}
        hit = lambda have: (any(_key(h) in keys for h in have) if isinstance(have, list)  # noqa: E731
                            else _key(have) in keys)
        if op == "!@":
            return lambda row: not hit(value_of(row, field))
        return lambda row: hit(value_of(row, field))
    return lambda row: _compare(op, value_of(row, field), want)


def compile_filter(filter_: dict, value_of: Callable[[dict, str], Any]) -> Callable[[dict], bool]:
    """A filter as one predicate (`logic: OR` for crm.item; numbered keys are nested filters)."""
    parts: list[Callable[[dict], bool]] = []
    for key, want in filter_.items():
        if key == "logic":
            continue
        if isinstance(want, dict) and key.isdigit():
            parts.append(compile_filter(want, value_of))
            continue
        op, field = OPERATOR_PREFIX.match(key).groups()
        parts.append(_condition(op or "", field, want, value_of))
    if str(filter_.get("logic", "AND")).upper() == "OR":
        return lambda row: any(p(row) for p in parts) if parts else True
    return lambda row: all(p(row) for p in parts)


def matches(row: dict, filter_: dict, value_of: Callable[[dict, str], Any]) -> bool:
    """Whether a row passes every filter condition (`logic: OR` for crm.item)."""
    return compile_filter(filter_, value_of)(row)


def id_candidates(rows: dict[int, dict], filter_: dict, id_field: str) -> list[dict]:
    """The rows an `ID` / `=ID` / `@ID` condition allows (by key, no scan); every row otherwise."""
    if str(filter_.get("logic", "AND")).upper() != "OR":
        for key, want in filter_.items():
            op, field = OPERATOR_PREFIX.match(str(key)).groups()
            if field.upper() != id_field.upper() or (op or "") not in ("", "=", "@"):
                continue
            wanted = want if isinstance(want, list) else [want]
            if any(isinstance(w, (list, dict)) for w in wanted):
                break
            ids = {int(n) for n in map(_num, wanted) if n is not None and float(n).is_integer()}
            return [rows[i] for i in sorted(ids) if i in rows]
    return list(rows.values())


def select_rows(rows: dict[int, dict], filter_: dict, value_of: Callable[[dict, str], Any],
                id_field: str) -> list[dict]:
    """The stored rows passing a list method's filter."""
    keep = compile_filter(filter_, value_of)
    return [r for r in id_candidates(rows, filter_, id_field) if keep(r)]


def ordered(rows: list[dict], order: dict, value_of: Callable[[dict, str], Any], id_key: str) -> list[dict]:
    """Sort rows by an `order` map ({FIELD: ASC|DESC}); ID ascending by default."""
    rows = sorted(rows, key=lambda r: _num(value_of(r, id_key)) or 0)
    for field, direction in reversed(list((order or {}).items())):
        def key(r: dict, f: str = field) -> tuple:
            value = value_of(r, f)
            n = _num(value)
            # Numbers before text, so a column mixing "12" and "abc" still sorts (no int/str comparison).
            return (value is None, n is None, n or 0, str(value or ""))
        rows.sort(key=key, reverse=str(direction).upper() == "DESC")
    return rows


def start_of(params: dict) -> int:
    """The `start` offset; -1 turns off counting (DOCS huge-data.md)."""
    raw = params.get("start", 0)
    try:
        return int(raw or 0)
    except (TypeError, ValueError):
        return 0


def page(rows: list, start: int) -> tuple[list, int, int | None]:
    """Cut one 50-row page: (rows, total, next); start=-1 gives total 0 and no next."""
    if start < 0:
        return rows[:PAGE_SIZE], 0, None
    chunk = rows[start:start + PAGE_SIZE]
    following = start + PAGE_SIZE if start + PAGE_SIZE < len(rows) else None
    return chunk, len(rows), following


def dict_param(params: dict, name: str, classic_errors: bool) -> dict:
    """A parameter that must be an object; empty values become {}."""
    value = params.get(name) or {}
    if isinstance(value, list) and not value:
        return {}
    if not isinstance(value, dict):
        if classic_errors:
            raise classic(f"Parameter '{name}' must be array.")
        raise RestError(400, "INVALID_ARG_VALUE", f"Parameter '{name}' must be an object")
    return value


def list_param(params: dict, name: str, classic_errors: bool) -> list:
    """A parameter that is a list (an object's values; a single string is a one-item list; empty is [])."""
    value = params.get(name)
    if value in (None, "", {}, []):
        return []
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, (str, list)):
        return [value] if isinstance(value, str) else value
    if classic_errors:
        raise classic(f"Parameter '{name}' must be array.")
    # The engine controller's `array $select` refuses a scalar (the message item_id's INVALID_ARG_VALUE uses).
    raise RestError(400, "INVALID_ARG_VALUE",
                    f"Invalid value {value} to match with parameter {{{name}}}. Should be value of type array.")


def classic_id(params: dict) -> int:
    """The positive integer `id` (or `ID`) of a classic method, or the classic 400."""
    try:
        value = int(str(params.get("id", params.get("ID"))))
    except ValueError:
        raise classic("ID is not defined or invalid.") from None
    if value <= 0:
        raise classic("ID is not defined or invalid.")
    return value


def classic_fields(params: dict) -> dict:
    """The `fields` object of a classic method, or the classic 400."""
    fields = params.get("fields")
    if not isinstance(fields, dict):
        raise classic("Parameter 'fields' must be array.")
    return fields
