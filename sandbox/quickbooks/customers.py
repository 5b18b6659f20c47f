"""Customer writes: create, full update (omitted writable fields become NULL), sparse update."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from . import faults
from .customer_tree import check_nesting, parent_of, refresh_balances, refresh_descendants
from .multicurrency import assign_customer_currency
from .realm import Realm
from .writes import (Change, check_fields, check_types, current_record, looks_like_email, stamp, unchanged,
                     without_empties)

NAME_PARTS = ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")
# CUSTREF business rules: "The DisplayName, Title, GivenName, MiddleName, FamilyName, Suffix, and
# PrintOnCheckName attributes must not contain colon (:), tab (\t), or newline (\n) characters."
NAME_FIELDS = ("DisplayName",) + NAME_PARTS + ("PrintOnCheckName",)
BANNED_IN_NAMES = (":", "\t", "\n")
DELETED_SUFFIX = " (deleted)"
STRING_FIELDS = NAME_PARTS + ("DisplayName", "CompanyName", "PrintOnCheckName", "Notes",
                              "PreferredDeliveryMethod",
                              "ResaleNum", "PrimaryTaxIdentifier", "BusinessNumber", "OpenBalanceDate",
                              "TaxExemptionReasonId", "GSTIN", "GSTRegistrationType")
BOOL_FIELDS = ("Active", "Job", "BillWithParent", "Taxable")
OBJECT_FIELDS = ("PrimaryEmailAddr", "PrimaryPhone", "Mobile", "AlternatePhone", "Fax", "WebAddr", "BillAddr",
                 "ShipAddr", "ParentRef", "DefaultTaxCodeRef", "CustomerTypeRef", "SalesTermRef",
                 "PaymentMethodRef", "CurrencyRef", "ARAccountRef")
WRITABLE = STRING_FIELDS + BOOL_FIELDS + OBJECT_FIELDS
# IsProject: "read-only, minorVersion 25" (CUSTREF, reference §4); python-quickbooks sends it as false.
READ_ONLY = ("Id", "SyncToken", "MetaData", "domain", "sparse", "Balance", "BalanceWithJobs",
             "FullyQualifiedName",
             "Level", "V4IDPseudonym", "ClientEntityId", "status", "CustomField", "Source", "IsProject")
DEFAULTS = {"Taxable": True, "Job": False, "BillWithParent": False, "Active": True,
            "PreferredDeliveryMethod": "Print", "DefaultTaxCodeRef": {"value": "2"}}
MAX_NAME = 500


def _validate(body: dict[str, Any]) -> dict[str, Any]:
    """Unknown properties and wrong types → 2010; the body without nested empties (writes.without_empties)."""
    check_fields(body, "Customer", WRITABLE + READ_ONLY)
    check_types(body, "Customer", strings=STRING_FIELDS, bools=BOOL_FIELDS + ("IsProject",),
                objects=OBJECT_FIELDS)
    email = body.get("PrimaryEmailAddr")
    if isinstance(email, dict) and email.get("Address") not in (None, ""):
        address = str(email["Address"])
        if not looks_like_email(address):
            raise faults.ApiFault(400, "6000", "A business validation error has occurred while processing "
                                  "your request", f"Business Validation Error: Invalid Email Address format. "
                                  f"Supplied value: {address}", element="PrimaryEmailAddr.Address")
    return without_empties(body)


def _display_name(record: dict[str, Any]) -> str:
    """DisplayName, or the concatenated name parts QuickBooks generates when it is absent."""
    given = str(record.get("DisplayName") or "").strip()
    if given:
        return given
    parts = [str(record.get(part) or "").strip() for part in NAME_PARTS]
    return " ".join(part for part in parts if part)


def _full_name(realm: Realm, record: dict[str, Any]) -> str:
    """FullyQualifiedName: "Parent:Child" for a job with a known parent, else the DisplayName."""
    parent = parent_of(realm, record)
    if parent is not None:
        return f"{parent['FullyQualifiedName']}:{_display_name(record)}"
    return _display_name(record)


def _check_name(realm: Realm, record: dict[str, Any], own_id: str | None) -> None:
    """Required, length-limited, no colon/tab/newline in a name field, unique: 2020 / 2050 / 2170 / 6240."""
    name = _display_name(record)
    if not name:
        raise faults.required("DisplayName")
    if len(name) > MAX_NAME:
        raise faults.string_length("DisplayName", MAX_NAME, len(name))
    for field in NAME_FIELDS:
        value = record.get(field)
        if isinstance(value, str) and any(banned in value for banned in BANNED_IN_NAMES):
            # Code and wording are the sandbox's first DisplayName rule (no captured answer found),
            # now applied to every field CUSTREF names, with that field as `element`.
            raise faults.ApiFault(400, "2170", "Invalid Name",
                                  "Name cannot contain a colon (:), tab or newline.", element=field)
    if _name_in_use(realm, record, own_id):
        raise faults.duplicate_name()


def _name_in_use(realm: Realm, record: dict[str, Any], own_id: str | None) -> bool:
    """Whether another customer, vendor or employee holds the name (case-insensitive), inactive ones included.

    CUSTREF says DisplayName is unique across Customer, Vendor and Employee, yet the real sandbox company
    holds top-level "Jack Doe" (60) beside sub-customer "Doe, Jack:Jack Doe" (64): among customers the key
    is the FullyQualifiedName; vendor and employee names (control API) clash with top-level customers.
    """
    full = _full_name(realm, record).casefold()
    if full == _display_name(record).casefold() and full in realm.other_names:
        return True
    return any(other["Id"] != own_id and str(other.get("FullyQualifiedName", "")).casefold() == full
               for other in realm.records["Customer"].values())


def _rename_on_deactivation(realm: Realm, current: dict[str, Any], updated: dict[str, Any]) -> None:
    """Deactivating renames the customer "<name> (deleted)", which frees the name (reference §11).

    Real bodies in fixtures/quickbooks/recorded-bodies: deactivate__employee__1_post_200.json turns
    DisplayName "Emily Platt" into "Emily Platt (deleted)" and keeps PrintOnCheckName "Emily Platt";
    get__inactive_vendors__0_get_200.json reads the same for Vendor "United States Treasury"; an Account's
    Name and FullyQualifiedName both carry it (deactivate__account__0_get_200.json). Customer by analogy:
    DisplayName changes, FullyQualifiedName follows (its own and its sub-customers'), PrintOnCheckName
    stays. `CompanySwitches.rename_on_deactivate` turns this off. Reactivating keeps the suffix: no
    source says it is taken off (UNCERTAIN; keeping it is the harder reading for a client).
    """
    if not realm.switches.rename_on_deactivate:
        return
    if current.get("Active", True) is False or updated.get("Active") is not False:
        return
    name = _display_name(updated)
    if name.endswith(DELETED_SUFFIX):
        return
    updated.setdefault("PrintOnCheckName", name)
    candidate, number = f"{name}{DELETED_SUFFIX}", 0
    while _name_in_use(realm, {**updated, "DisplayName": candidate}, current["Id"]):
        # UNCERTAIN: what QuickBooks calls a second inactive "<name>" is not captured; a numbered
        # suffix keeps the deactivation from failing on 6240.
        number += 1
        candidate = f"{name} (deleted-{number})"
    updated["DisplayName"] = candidate


def _finish(realm: Realm, record: dict[str, Any]) -> None:
    """Derived fields: DisplayName, FullyQualifiedName, PrintOnCheckName, Level, currency."""
    record["DisplayName"] = _display_name(record)
    record["FullyQualifiedName"] = _full_name(realm, record)
    parent = parent_of(realm, record)
    if parent is not None:
        record["Level"] = int(parent.get("Level", 0)) + 1
    else:
        record.pop("Level", None)
    if not record.get("PrintOnCheckName"):
        record["PrintOnCheckName"] = record["DisplayName"]
    for name in [key for key, value in record.items() if value is None or value == ""]:
        record.pop(name)


def create_customer(realm: Realm, body: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[Change]]:
    """POST /customer without an Id."""
    body = _validate(body)
    record: dict[str, Any] = {**DEFAULTS, **{k: v for k,
                                             v in body.items() if k in WRITABLE and v is not None}}
    _check_name(realm, record, None)
    check_nesting(realm, record, None)
    assign_customer_currency(realm, record, None)
    record.update({"Balance": 0, "BalanceWithJobs": 0, "domain": "QBO", "sparse": False,
                   "Id": realm.next_id("Customer")})
    stamp(record, now, created=True)
    _finish(realm, record)
    realm.put("Customer", record)
    return record, [Change("Customer", record["Id"], "Create", record["MetaData"]["LastUpdatedTime"])]


def update_customer(realm: Realm, body: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[Change]]:
    """POST /customer with an Id: full update unless `sparse: true`."""
    body = _validate(body)
    current = current_record(realm, "Customer", body)
    customer_id = current["Id"]
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
    check_nesting(realm, updated, customer_id)
    assign_customer_currency(realm, updated, current)
    if updated.get("DisplayName") != current.get("DisplayName") and "PrintOnCheckName" not in given:
        updated.pop("PrintOnCheckName", None)
    _rename_on_deactivation(realm, current, updated)
    _finish(realm, updated)
    updated["sparse"] = False
    if unchanged(current, updated):
        # A no-op update keeps SyncToken and LastUpdatedTime and notifies nobody (reference §11).
        return current, []
    stamp(updated, now)
    realm.put("Customer", updated)
    _follow_tree(realm, current, updated, now)
    # Reference §1.5: whether deactivation emits Update or Delete is UNCERTAIN; we send Update
    # (consumers re-read the record either way).
    return updated, [Change("Customer", customer_id, "Update", updated["MetaData"]["LastUpdatedTime"])]


def _follow_tree(realm: Realm, current: dict[str, Any], updated: dict[str, Any], now: datetime) -> None:
    """Sub-customers' full names follow a rename or move; a move re-sums both ancestor chains' balances."""
    if updated["FullyQualifiedName"] != current.get("FullyQualifiedName"):
        refresh_descendants(realm, updated, now)
    old_parent, new_parent = parent_of(realm, current), parent_of(realm, updated)
    if (old_parent or {}).get("Id") != (new_parent or {}).get("Id"):
        refresh_balances(realm, [updated["Id"]] + ([old_parent["Id"]] if old_parent else []), now)
