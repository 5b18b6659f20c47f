"""Customer writes: create, full update (omitted writable fields become NULL), sparse update."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from . import faults
from .realm import Realm
from .writes import Change, check_fields, check_sync_token, check_types, require_id, stamp, unchanged

NAME_PARTS = ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")
STRING_FIELDS = NAME_PARTS + ("DisplayName", "CompanyName", "PrintOnCheckName", "Notes",
                              "PreferredDeliveryMethod",
                              "ResaleNum", "PrimaryTaxIdentifier", "BusinessNumber", "OpenBalanceDate",
                              "TaxExemptionReasonId", "GSTIN", "GSTRegistrationType")
BOOL_FIELDS = ("Active", "Job", "BillWithParent", "Taxable", "IsProject")
OBJECT_FIELDS = ("PrimaryEmailAddr", "PrimaryPhone", "Mobile", "AlternatePhone", "Fax", "WebAddr", "BillAddr",
                 "ShipAddr", "ParentRef", "DefaultTaxCodeRef", "CustomerTypeRef", "SalesTermRef",
                 "PaymentMethodRef", "CurrencyRef", "ARAccountRef")
WRITABLE = STRING_FIELDS + BOOL_FIELDS + OBJECT_FIELDS
READ_ONLY = ("Id", "SyncToken", "MetaData", "domain", "sparse", "Balance", "BalanceWithJobs",
             "FullyQualifiedName",
             "Level", "V4IDPseudonym", "ClientEntityId", "status", "CustomField", "Source")
DEFAULTS = {"Taxable": True, "Job": False, "BillWithParent": False, "Active": True,
            "PreferredDeliveryMethod": "Print", "DefaultTaxCodeRef": {"value": "2"}}
MAX_NAME = 500


def _validate(body: dict[str, Any]) -> None:
    """Unknown properties and wrong types → 2010."""
    check_fields(body, "Customer", WRITABLE + READ_ONLY)
    check_types(body, "Customer", strings=STRING_FIELDS, bools=BOOL_FIELDS, objects=OBJECT_FIELDS)
    email = body.get("PrimaryEmailAddr")
    if isinstance(email, dict) and email.get("Address") not in (None, ""):
        address = str(email["Address"])
        if "@" not in address or "." not in address.split("@")[-1]:
            raise faults.ApiFault(400, "6000", "A business validation error has occurred while processing "
                                  "your request", f"Business Validation Error: Invalid Email Address format. "
                                  f"Supplied value: {address}", element="PrimaryEmailAddr.Address")


def _display_name(record: dict[str, Any]) -> str:
    """DisplayName, or the concatenated name parts QuickBooks generates when it is absent."""
    given = str(record.get("DisplayName") or "").strip()
    if given:
        return given
    parts = [str(record.get(part) or "").strip() for part in NAME_PARTS]
    return " ".join(part for part in parts if part)


def _full_name(realm: Realm, record: dict[str, Any]) -> str:
    """FullyQualifiedName: "Parent:Child" for a job with a known parent, else the DisplayName."""
    parent = realm.get("Customer", str((record.get("ParentRef") or {}).get("value", "")))
    if record.get("Job") and parent is not None:
        return f"{parent['FullyQualifiedName']}:{_display_name(record)}"
    return _display_name(record)


def _check_name(realm: Realm, record: dict[str, Any], own_id: str | None) -> None:
    """Required, length-limited, unique (case-insensitive) — 2020 / 2050 / 6240.

    CUSTREF says DisplayName is unique across Customer, Vendor and Employee, yet the real sandbox company
    holds top-level "Jack Doe" (60) beside sub-customer "Doe, Jack:Jack Doe" (64): among customers the key
    is the FullyQualifiedName; vendor and employee names (control API) clash with top-level customers.
    """
    name = _display_name(record)
    if not name:
        raise faults.required("DisplayName")
    if len(name) > MAX_NAME:
        raise faults.string_length("DisplayName", MAX_NAME, len(name))
    if ":" in name or "\t" in name or "\n" in name:
        raise faults.ApiFault(400, "2170", "Invalid Name", "Name cannot contain a colon (:), tab or newline.",
                              element="DisplayName")
    full = _full_name(realm, record).casefold()
    if full == name.casefold() and full in realm.other_names:
        raise faults.duplicate_name()
    for other in realm.records["Customer"].values():
        if other["Id"] != own_id and str(other.get("FullyQualifiedName", "")).casefold() == full:
            raise faults.duplicate_name()


def _finish(realm: Realm, record: dict[str, Any]) -> None:
    """Derived fields: DisplayName, FullyQualifiedName, PrintOnCheckName, Level, currency."""
    record["DisplayName"] = _display_name(record)
    record["FullyQualifiedName"] = _full_name(realm, record)
    parent = realm.get("Customer", str((record.get("ParentRef") or {}).get("value", "")))
    if record.get("Job") and parent is not None:
        record["Level"] = int(parent.get("Level", 0)) + 1
    else:
        record.pop("Level", None)
    if not record.get("PrintOnCheckName"):
        record["PrintOnCheckName"] = record["DisplayName"]
    record["CurrencyRef"] = {"value": "USD", "name": "United States Dollar"}
    for name in [key for key, value in record.items() if value is None or value == ""]:
        record.pop(name)


def create_customer(realm: Realm, body: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[Change]]:
    """POST /customer without an Id."""
    _validate(body)
    record: dict[str, Any] = {**DEFAULTS, **{k: v for k,
                                             v in body.items() if k in WRITABLE and v is not None}}
    _check_name(realm, record, None)
    record.update({"Balance": 0, "BalanceWithJobs": 0, "domain": "QBO", "sparse": False,
                   "Id": realm.next_id("Customer")})
    stamp(record, now, created=True)
    _finish(realm, record)
    realm.put("Customer", record)
    return record, [Change("Customer", record["Id"], "Create", record["MetaData"]["LastUpdatedTime"])]


def update_customer(realm: Realm, body: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[Change]]:
    """POST /customer with an Id: full update unless `sparse: true`."""
    _validate(body)
    customer_id = require_id(body["Id"])
    current = realm.get("Customer", customer_id)
    if current is None:
        raise faults.not_found()
    check_sync_token(body, current)
    given = {k: v for k, v in body.items() if k in WRITABLE}
    if body.get("sparse") is True:
        if "DisplayName" in given and not given["DisplayName"]:
            raise faults.required("DisplayName")  # CUSTREF: "Cannot be removed with sparse update."
        updated = {**current, **given}
    else:
        # CUSTREF: "Writable fields omitted from the request body are set to NULL."
        updated = {k: v for k, v in current.items() if k not in WRITABLE}
        updated.update({k: v for k, v in given.items()})
        for name in ("Active", "Taxable", "Job", "BillWithParent"):
            updated.setdefault(name, DEFAULTS.get(name, current.get(name)))
    _check_name(realm, updated, customer_id)
    if updated.get("DisplayName") != current.get("DisplayName") and "PrintOnCheckName" not in given:
        updated.pop("PrintOnCheckName", None)
    _finish(realm, updated)
    updated["sparse"] = False
    if unchanged(current, updated):
        # A no-op update keeps SyncToken and LastUpdatedTime and notifies nobody (reference §11).
        return current, []
    stamp(updated, now)
    realm.put("Customer", updated)
    # Reference §1.5: whether deactivation emits Update or Delete is UNCERTAIN; we send Update
    # (consumers re-read the record either way).
    return updated, [Change("Customer", customer_id, "Update", updated["MetaData"]["LastUpdatedTime"])]
