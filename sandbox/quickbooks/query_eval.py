"""Run a parsed query over stored records: filter, order, page (or count)."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime, timezone, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.quickbooks.query import Condition, Query

# Name-list entities QuickBooks filters to Active=true unless the WHERE clause names Active.
# Reference §3 marks this UNCERTAIN (minimul/qbo_api#111, community); the recorded bodies agree
# for Vendor (COUNT(*) 26 without a filter vs 27 rows with `Active IN (true, false)`).
NAME_LIST_ENTITIES = frozenset({"Customer", "Vendor", "Employee", "Item", "Account", "Term"})
# Without ORDERBY, name lists come back in name order (reference §11): the 41-customer capture
# (customers_query_all_41__minimul_sandbox_2020-09-29.json) is in FullyQualifiedName order (Ids 1, 67, 2,
# 3, 4, 62, ...) and the recorded vendor pages put "PG&E" before "Pam Seitz": ordinal, case-sensitive.
# Transactions keep the order they are given in (no source states theirs).
NAME_ORDER = {"Customer": "FullyQualifiedName", "Item": "FullyQualifiedName", "Account": "FullyQualifiedName",
              "Term": "Name", "Vendor": "DisplayName", "Employee": "DisplayName"}
_MISSING = object()
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def run(
    query: Query,
    records: Iterable[dict[str, Any]],
    *,
    active_only_default: bool = True,
    naive_timezone: tzinfo = timezone.utc,
) -> list[dict[str, Any]] | int:
    """The page of matching records in order, or for COUNT(*) the number of matches.

    `active_only_default`: hide `Active: false` name-list records unless WHERE mentions Active
    (UNCERTAIN in the reference, so the app can switch it). Without ORDERBY, name lists are in
    name order (NAME_ORDER) and other records keep the order they were given in.
    `naive_timezone` places date-times written without an offset (e.g. '2015-07-24') on the time line.
    """
    hide_inactive = active_only_default and _hides_inactive(query)
    matches = [
        record for record in records
        if (not hide_inactive or _lookup(record, "Active") is not False)
        and all(_matches(record, condition, naive_timezone) for condition in query.conditions)
    ]
    if query.count:
        return len(matches)
    if not query.order_by and query.entity in NAME_ORDER:
        name = NAME_ORDER[query.entity]
        matches.sort(key=lambda record: str(record.get(name) or ""))
    for field, descending in reversed(query.order_by):
        # Successive stable sorts, last key first, give a stable multi-key order.
        matches.sort(key=_sort_key_of(field, naive_timezone), reverse=descending)
    first = query.start_position - 1
    return matches[first:first + query.max_results]


def _sort_key_of(field: str, naive_timezone: tzinfo) -> Callable[[dict[str, Any]], tuple]:
    """The ORDERBY key of a field; `Id` (what the sync pages by) straight from the record when it is digits."""
    def any_field(record: dict[str, Any]) -> tuple:
        return sort_key(_lookup(record, field), naive_timezone)

    def by_id(record: dict[str, Any]) -> tuple:
        value = record.get("Id")
        if isinstance(value, str) and value.isascii() and value.isdigit():
            return (2, int(value))  # what sort_key gives a digits-only text
        return any_field(record)

    return by_id if field.lower() == "id" else any_field


def _hides_inactive(query: Query) -> bool:
    """Whether the Active=true default applies: a name-list entity and no condition on Active."""
    if query.entity not in NAME_LIST_ENTITIES:
        return False
    return not any(condition.field.lower() == "active" for condition in query.conditions)


def _lookup(record: dict[str, Any], path: str) -> Any:
    """The value at a dotted path, keys matched case-insensitively (MetaData/Metadata); _MISSING if absent."""
    value: Any = record
    for segment in path.split("."):
        if not isinstance(value, dict):
            return _MISSING
        if segment in value:  # the usual spelling: no scan of every key (paging 15,000 invoices)
            value = value[segment]
            continue
        wanted = segment.lower()
        value = next((item for key, item in value.items() if key.lower() == wanted), _MISSING)
        if value is _MISSING:
            return _MISSING
    if isinstance(value, dict) and "value" in value:
        # Reference fields (CustomerRef, ParentRef) compare by their Id.
        return value["value"]
    if isinstance(value, dict) and "Address" in value:
        # EmailAddress fields (PrimaryEmailAddr, filterable per the Customer reference) by their address.
        return value["Address"]
    return _MISSING if value is None or isinstance(value, (dict, list)) else value


def sort_key(value: Any, naive_timezone: tzinfo = timezone.utc) -> tuple:
    """A total order: missing first, then booleans, numbers, date-times (as instants), text."""
    if value is _MISSING:
        return (0,)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, int):
        return (2, value)  # an int compares exactly with a Decimal: no conversion needed
    if isinstance(value, (float, Decimal)):
        return (2, Decimal(str(value)))
    text = str(value)
    if text.isascii() and text.isdigit():
        return (2, int(text))  # an Id: the common ORDERBY key, without a regex and a Decimal per record
    if _NUMBER.fullmatch(text):
        # Ids are strings ("10" after "9"); numeric text orders and compares as a number.
        return (2, Decimal(text))
    instant = _instant(text, naive_timezone)
    if instant is not None:
        return (3, instant)
    return (4, text)


def _instant(text: str, naive_timezone: tzinfo) -> datetime | None:
    """A date or date-time string as an aware datetime, else None."""
    if not _DATE_TIME.fullmatch(text):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=naive_timezone)


def _matches(record: dict[str, Any], condition: Condition, naive_timezone: tzinfo) -> bool:
    """Whether the record satisfies one condition; a missing field satisfies none."""
    actual = _lookup(record, condition.field)
    if actual is _MISSING:
        return False
    if condition.op == "LIKE":
        return isinstance(actual, str) and _like(actual, str(condition.value))
    if condition.op == "IN":
        return any(_equal(actual, wanted, naive_timezone) for wanted in condition.value)
    if condition.op == "=":
        return _equal(actual, condition.value, naive_timezone)
    left, right = sort_key(actual, naive_timezone), sort_key(condition.value, naive_timezone)
    if left[0] != right[0]:
        return False
    return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[condition.op]


def _equal(actual: Any, wanted: Any, naive_timezone: tzinfo) -> bool:
    """Equality: text against text exactly (unless both are date-times), else by sort key."""
    if isinstance(actual, str) and isinstance(wanted, str):
        left, right = _instant(actual, naive_timezone), _instant(wanted, naive_timezone)
        return left == right if left is not None and right is not None else actual == wanted
    return sort_key(actual, naive_timezone) == sort_key(wanted, naive_timezone)


def _like(text: str, pattern: str) -> bool:
    """LIKE with `%` as the only wildcard (reference §3); everything else is literal."""
    regex = ".*".join(re.escape(part) for part in pattern.split("%"))
    return re.fullmatch(regex, text, flags=re.DOTALL) is not None

