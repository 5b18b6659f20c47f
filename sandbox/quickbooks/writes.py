"""Shared rules for every write: body parsing, Id/SyncToken checks, type checks, stamping."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from . import faults
from .realm import Realm
from .timefmt import meta_time


@dataclass(frozen=True)
class Change:
    """One entity change, fed to the webhook senders."""

    entity: str
    entity_id: str
    operation: str
    last_updated: str
    deleted_id: str | None = None  # Merge: the record merged away (legacy deletedId, CloudEvents deletedid)


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


def looks_like_email(address: str) -> bool:
    """QuickBooks' email rule (reference §4 "must contain @ and ."): an "@" and a "." in the part after it.

    Shared by Customer PrimaryEmailAddr, invoice /send's sendTo and the web screens' email field."""
    return "@" in address and "." in address.split("@")[-1]


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


def current_record(realm: Realm, entity: str, body: dict[str, Any]) -> dict[str, Any]:
    """The stored record named by body.Id, if body.SyncToken is its current one (2030/610/2020/5010)."""
    record = realm.get(entity, require_id(body.get("Id")))
    if record is None:
        raise faults.not_found()
    check_sync_token(body, record)
    return record


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


_DROPPED = object()


def without_empties(body: dict[str, Any]) -> dict[str, Any]:
    """The body without "" and null inside its objects and lists, nor the objects and lists that leaves empty.

    python-quickbooks initialises every attribute ("" strings, Ref name/type "", CustomField []: its
    objects/base.py and detailline.py) and its to_json drops only None, so an object read and saved again
    sends Country "", Line2..Line5 "", ServiceDate "", `type: ""` back. Real bodies never hold an empty string
    or a nested empty list (every QuickBooks body in fixtures/quickbooks; only a transaction's top-level
    `LinkedTxn: []`), so QuickBooks does not store them. Top-level members keep the entity's own rules (a full
    update NULLs what is ""); an object sent empty (`SubTotalLineDetail: {}`) stays.
    """
    out: dict[str, Any] = {}
    for name, value in body.items():
        if isinstance(value, list):
            out[name] = [item for item in map(_clean, value) if item is not _DROPPED]
            continue
        cleaned = _clean(value) if isinstance(value, dict) else value
        if cleaned is not _DROPPED:
            out[name] = cleaned
    return out


def _clean(value: Any) -> Any:
    """A nested JSON value without empties, or _DROPPED when nothing of it is left."""
    if isinstance(value, dict):
        cleaned = ((name, _clean(item)) for name, item in value.items())
        kept = {name: item for name, item in cleaned if item is not _DROPPED}
        return _DROPPED if value and not kept else kept
    if isinstance(value, list):
        return [item for item in map(_clean, value) if item is not _DROPPED] or _DROPPED
    return _DROPPED if value is None or value == "" else value


def settle_defaults(record: dict[str, Any], stored: dict[str, Any] | None, defaults: dict[str, Any]) -> None:
    """Leave out each library default (`Deposit: 0`, `TaxInclusiveAmt: 0`...) the stored record leaves out.

    python-quickbooks sends such values for attributes it never read (Invoice, SalesItemLineDetail
    constructors); QuickBooks' answers omit them, so they mean "not set". A stored record that holds the same
    value keeps it (Intuit's sample invoice 239 reads `Deposit: 0`), and one that holds another value sees
    the change (Deposit 50 → 0 is a real update).
    """
    for name, default in defaults.items():
        if name in record and _same(record[name], default) and name not in (stored or {}):
            del record[name]


def _same(value: Any, default: Any) -> bool:
    """Equal JSON values, `false` never equal to `0`."""
    return isinstance(value, bool) == isinstance(default, bool) and value == default


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
