"""Shared rules for every write: body parsing, Id/SyncToken checks, type checks, stamping."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from . import faults
from .timefmt import meta_time


@dataclass(frozen=True)
class Change:
    """One entity change, fed to the webhook senders."""

    entity: str
    entity_id: str
    operation: str
    last_updated: str


def parse_body(raw: bytes, entity: str) -> dict[str, Any]:
    """Decode a JSON object body or raise the 2010 QuickBooks answers for unreadable JSON."""
    if not raw.strip():
        raise faults.required(entity)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        # Jackson's parse error surfaces as 2010 "Property Name:<parser message> specified is unsupported".
        raise faults.unsupported_property(entity, f"Unexpected token: {str(error)[:120]}") from None
    if not isinstance(body, dict):
        raise faults.unsupported_property(
            entity, f"Can not deserialize instance of com.intuit.schema.finance.v3.{entity} out of "
                    f"{type(body).__name__.upper()} token")
    return body


def check_fields(body: dict[str, Any], entity: str, known: Iterable[str]) -> None:
    """2010 for any property the entity does not have."""
    allowed = set(known)
    for name in body:
        if name not in allowed:
            raise faults.unrecognized_field(entity, name)


def check_types(body: dict[str, Any], entity: str, *, strings: Iterable[str] = (), bools: Iterable[str] = (),
                objects: Iterable[str] = (), lists: Iterable[str] = (), numbers: Iterable[str] = ()) -> None:
    """2010 when a property holds the wrong JSON type (null is always allowed)."""
    # Jackson coerces numbers into String fields, so numbers pass as strings; nothing else is coerced.
    expectations = [(strings, (str, int, float), "String"), (bools, (bool,), "boolean"),
                    (objects, (dict,), "object"), (lists, (list,), "array"),
                    (numbers, (int, float), "java.math.BigDecimal")]
    for names, kinds, label in expectations:
        for name in names:
            if not _matches(body.get(name), kinds):
                raise faults.unsupported_property(
                    entity, f"Can not deserialize value of type {label} for field \"{name}\" "
                            f"from {json.dumps(body.get(name))}")


def _matches(value: Any, kinds: tuple[type, ...]) -> bool:
    """Whether a JSON value fits the expected Python types (bools are not numbers here)."""
    if value is None:
        return True
    if isinstance(value, bool):
        return bool in kinds
    return isinstance(value, kinds)


def require_id(value: Any, element: str = "Id") -> str:
    """A positive integer Id (string or number) or 2030."""
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value,
                                                                                  bool) else repr(value)
    if not text.isdigit() or int(text) <= 0:
        raise faults.invalid_id(value, element)
    return str(int(text))


def check_sync_token(body: dict[str, Any], record: dict[str, Any]) -> None:
    """2020 without a SyncToken, 5010 when it is not the current one."""
    token = body.get("SyncToken")
    if token is None or token == "":
        raise faults.required("SyncToken")
    if isinstance(token, bool) or not isinstance(token, (str, int)) or not str(token).strip().isdigit():
        raise faults.unsupported_property("SyncToken", f"Invalid SyncToken value {json.dumps(token)}")
    if int(str(token)) != int(record["SyncToken"]):
        raise faults.stale_object()


def stamp(record: dict[str, Any], now: datetime, *, created: bool = False) -> str:
    """Set SyncToken/MetaData for a write and return the new LastUpdatedTime."""
    stamp_text = meta_time(now)
    if created:
        record["SyncToken"] = "0"
        record["MetaData"] = {"CreateTime": stamp_text, "LastUpdatedTime": stamp_text}
    else:
        record["SyncToken"] = str(int(record["SyncToken"]) + 1)
        record.setdefault("MetaData", {})["LastUpdatedTime"] = stamp_text
    return stamp_text


def unchanged(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether a write leaves the record as it was (version stamps and the `sparse` flag aside)."""
    stamps = ("SyncToken", "MetaData", "sparse")
    return ({k: v for k, v in before.items() if k not in stamps}
            == {k: v for k, v in after.items() if k not in stamps})


def money(value: Any, entity: str, name: str) -> float:
    """A numeric amount or 2010."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise faults.unsupported_property(entity, f"Can not deserialize java.math.BigDecimal for \"{name}\"")
    try:
        return round(float(value), 2)
    except ValueError:
        raise faults.unsupported_property(
            entity, f"Can not construct instance of java.math.BigDecimal from String value '{value}'"
        ) from None


def ref_id(body: dict[str, Any], name: str) -> str:
    """The `value` of a reference property (CustomerRef, ItemRef...), required."""
    ref = body.get(name)
    if ref is None or ref == {} or (isinstance(ref, dict) and ref.get("value") in (None, "")):
        raise faults.required(name)
    if not isinstance(ref, dict):
        raise faults.unsupported_property(name, f"Can not deserialize ReferenceType for \"{name}\"")
    return require_id(ref["value"], f"{name}.value")
