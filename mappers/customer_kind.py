"""Which kind of CRM record a QuickBooks customer is (no native person/company flag exists)."""
from __future__ import annotations

from enum import Enum
from typing import Any


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
