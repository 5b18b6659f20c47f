"""Every customer and invoice of the sandbox's sample company (and a generated one) maps, totals intact."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from mappers.customer import is_sub_customer, map_customer
from mappers.invoice import PortalFacts
from sandbox.quickbooks.company_generator import generate_company
from sandbox.quickbooks.company_sample import sample_company
from tests.mappers.invoice_support import STAGES, old, old_total, smart, smart_total

TODAY = date(2026, 1, 15)
FACTS = PortalFacts(frozenset({"USD", "EUR", "GBP", "CAD"}), "USD", 3, {"company": "2", "contact": "1"}, "4")
COMPANIES = {"sample": lambda: sample_company(TODAY),
             "generated": lambda: generate_company(200, 600, seed=11, today=TODAY)}


@pytest.mark.parametrize("name", COMPANIES)
def test_every_invoice_maps_to_both_kinds_with_quickbooks_totals(name):
    company = COMPANIES[name]()
    assert company.invoices
    for invoice in company.invoices:
        new, legacy = smart(invoice, today=TODAY, facts=FACTS), old(invoice, today=TODAY, facts=FACTS)
        assert new.fields["opportunity"] == round(invoice["TotalAmt"], 2), invoice["Id"]
        assert smart_total(new) == old_total(legacy) == round(invoice["TotalAmt"], 2), invoice["Id"]
        assert new.fields["stageId"] == STAGES[new.status] == legacy.fields["STATUS_ID"]
        assert new.fields["currencyId"] == invoice["CurrencyRef"]["value"]


@pytest.mark.parametrize("name", COMPANIES)
def test_every_customer_maps_under_every_rule(name):
    company = COMPANIES[name]()
    top = [c for c in company.customers if not is_sub_customer(c)]
    assert len(top) < len(company.customers)  # the company has jobs, which are not records
    for rule in ("by_company_name", "always_contacts", "always_companies"):
        records = [map_customer(c, realm_id="1", rule=rule) for c in top]
        assert len({r.fields["ORIGIN_ID"] for r in records}) == len(top)
    statuses = {smart(i, today=TODAY, facts=FACTS).status for i in company.invoices}
    if name == "sample":
        assert statuses >= {"unsent", "sent", "paid", "partially_paid", "overdue", "voided"}


_HASHES = """
import json, sys
from datetime import date
from mappers.customer import map_customer
from tests.mappers.invoice_support import smart
from tests.mappers.qbo_records import customers_41, invoices_2023
print(json.dumps([map_customer(customers_41()["1"], realm_id="1", rule="by_company_name").content_hash,
                  smart(invoices_2023()["119"]).content_hash]))
"""


def test_content_hashes_are_the_same_in_every_process():
    root = Path(__file__).parents[2]
    runs = [subprocess.run([sys.executable, "-c", _HASHES], capture_output=True, text=True, check=True, cwd=root,
                           env={**os.environ, "PYTHONPATH": str(root), "PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2")]
    assert json.loads(runs[0]) == json.loads(runs[1])
    assert len(json.loads(runs[0])[0]) == 64
