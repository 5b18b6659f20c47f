"""Status and kind rules on real QuickBooks records from the fixtures."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from mappers.customer_kind import CustomerKind, customer_kind
from mappers.invoice_status import InvoiceStatus, invoice_status

QBO = Path(__file__).parents[1] / "fixtures" / "qbo"


def load(name: str) -> dict:
    return json.loads((QBO / name).read_text())


def test_real_void_response_is_voided_not_paid():
    voided = load("invoice_void_response__minimul.json")["Invoice"]
    assert invoice_status(voided, date(2026, 1, 1)) is InvoiceStatus.VOIDED


def test_real_deleted_response_is_deleted():
    deleted = load("invoice_266_delete_response_status_Deleted__minimul.json")["Invoice"]
    assert invoice_status(deleted, date(2026, 1, 1)) is InvoiceStatus.DELETED


@pytest.mark.parametrize("fields,today,expected", [
    ({"TotalAmt": 150.0, "Balance": 150.0, "EmailStatus": "NotSet", "DueDate": "2015-08-23"}, date(2015, 8, 1),
     InvoiceStatus.UNSENT),
    ({"TotalAmt": 150.0, "Balance": 150.0, "EmailStatus": "EmailSent", "DueDate": "2015-08-23"}, date(2015, 8, 1),
     InvoiceStatus.SENT),
    ({"TotalAmt": 150.0, "Balance": 150.0, "EmailStatus": "EmailSent", "DueDate": "2015-08-23"}, date(2015, 8, 24),
     InvoiceStatus.OVERDUE),
    ({"TotalAmt": 150.0, "Balance": 50.0, "DueDate": "2015-08-23"}, date(2015, 9, 1), InvoiceStatus.PARTIALLY_PAID),
    ({"TotalAmt": 150.0, "Balance": 0, "DueDate": "2015-08-23"}, date(2015, 9, 1), InvoiceStatus.PAID),
    ({"TotalAmt": 0, "Balance": 0, "PrivateNote": "Voided - wrong customer"}, date(2015, 9, 1), InvoiceStatus.VOIDED),
])
def test_status_rules(fields, today, expected):
    assert invoice_status(fields, today) is expected


def test_real_sample_customers_split_by_kind():
    customers = {c["Id"]: c for c in load("customers_query_all_41__minimul_sandbox_2020-09-29.json")
                 ["QueryResponse"]["Customer"]}
    assert customer_kind(customers["1"]) is CustomerKind.COMPANY  # Amy's Bird Sanctuary
    assert customer_kind(customers["8"]) is CustomerKind.SUB_CUSTOMER  # a job under customer 7
    persons = [c for c in customers.values() if customer_kind(c) is CustomerKind.PERSON]
    assert persons and all(not c.get("CompanyName") for c in persons)
