"""Which kind of CRM record a QuickBooks customer is (no native person/company flag exists)."""
from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum
from typing import Any

# QuickBooks renames an inactive name-list record "<name> (deleted)" (reference §11).
DELETED_SUFFIX = re.compile(r"\s*\(deleted\)\s*$", re.IGNORECASE)


class CustomerKind(str, Enum):
    COMPANY = "company"
    PERSON = "person"
    SUB_CUSTOMER = "sub_customer"


def customer_kind(customer: dict[str, Any]) -> CustomerKind:
    """Sub-customers (jobs, projects) first; else a company when CompanyName is set (reference §4)."""
    if customer.get("Job") or customer.get("ParentRef") or customer.get("IsProject"):
        return CustomerKind.SUB_CUSTOMER
    if str(customer.get("CompanyName") or "").strip():
        return CustomerKind.COMPANY
    return CustomerKind.PERSON


def parent_id(customer: dict[str, Any]) -> str | None:
    """The QuickBooks id of a sub-customer's parent, None for a top-level customer."""
    value = (customer.get("ParentRef") or {}).get("value")
    return str(value) if value not in (None, "") else None


def top_level_id(qbo_id: str, parent_of: Mapping[str, str | None]) -> str:
    """The top-level ancestor of a customer (itself when top-level), following the ParentRef chain.

    `parent_of` maps customer ids to parent ids; an id missing from it is treated as top-level. QuickBooks
    nests at most five levels, so a longer chain is a cycle in bad data and stops where it repeats.
    """
    seen = {qbo_id}
    current = qbo_id
    while (parent := parent_of.get(current)) and parent not in seen:
        seen.add(parent)
        current = parent
    return current


def job_name(customer: dict[str, Any]) -> str:
    """The name an invoice shows for a job: its FullyQualifiedName ("Parent:Job"), without " (deleted)"."""
    name = str(customer.get("FullyQualifiedName") or customer.get("DisplayName") or "")
    return ":".join(DELETED_SUFFIX.sub("", part).strip() for part in name.split(":"))
