"""A portal with "Check required custom fields" on and a mandatory contact field: the sync reports every
record Bitrix24 refuses, with its reason and the advice, and imports the rest (issue 9, done means)."""
from __future__ import annotations

from datetime import date

import pytest

from tests.workers.e2e_b24 import read_crm
from tests.workers.e2e_expect import is_company
from tests.workers.e2e_qbo import read_company
from tests.workers.e2e_support import OLD, SMART, run_sync, synced_world

ALL_CURRENCIES = [{"CURRENCY": c, "BASE": "Y" if c == "USD" else "N"} for c in ("USD", "EUR", "CAD", "GBP")]
ADVICE = "Check required custom fields"
MANDATORY_FIELD = {"FIELD_NAME": "QB24_REGION", "MANDATORY": "Y", "USER_TYPE_ID": "string",
                   "EDIT_FORM_LABEL": "Region"}


@pytest.mark.parametrize("target, kind", [(SMART, "sqlite"), (OLD, "postgresql+redis")])
def test_required_custom_field_fails_the_records_it_blocks_and_imports_the_rest(tmp_path, target, kind):
    with synced_world(kind, tmp_path, target) as world:
        world.control("currencies", {"currencies": ALL_CURRENCIES})
        world.reader.call("crm.contact.userfield.add", {"fields": MANDATORY_FIELD})
        world.control("settings", {"req_uf_check": True})
        customers, invoices = read_company(world.qbo)
        run = run_sync(world, today=date.today())
        crm = read_crm(world.reader, target)

    failures = {(f["qbo_type"], f["qbo_id"]): f for f in run.report["failures"]}
    top = [c for c in customers.values() if not c.get("ParentRef")]
    for customer in top:
        if is_company(customer):
            assert len(crm.by_origin("company", f"Customer:{customer['Id']}")) == 1, customer["DisplayName"]
            continue
        failure = failures[("Customer", customer["Id"])]
        reason = failure["reason"]
        assert ("UF_CRM_QB24_REGION" in reason or "Region" in reason) and ADVICE in reason, failure
        assert failure["name"] and not crm.by_origin("contact", f"Customer:{customer['Id']}")
    for invoice in invoices.values():
        landed = crm.invoices_by_xml_id(f"qb24:{world.realm_id}:Invoice:{invoice['Id']}")
        failure = failures.get(("Invoice", invoice["Id"]))
        assert (len(landed), failure is None) in ((1, True), (0, False)), invoice["Id"]
        assert failure is None or failure["reason"]
    person_customers = sum(1 for c in top if not is_company(c))
    report = run.report
    assert report["customers"]["failed"] >= person_customers
    assert report["invoices"]["imported"] == len(crm.invoices) > 0
    assert report["invoices"]["imported"] + report["invoices"]["failed"] == len(invoices)
