"""Sub-customers in the engine: one ancestor walk and one job name, the mappers' (no twin in workers/)."""
from __future__ import annotations

from datetime import date
from typing import Any

import mappers.customer
import workers.portal_settings
from workers.sync_customers import _map_page
from workers.sync_invoices import top_customer
from workers.sync_state import SyncContext, empty_report

PARENT = {"Id": "1", "DisplayName": "Freeman Sporting Goods", "CompanyName": "Freeman Sporting Goods"}
# QuickBooks renames an inactive job "<name> (deleted)", in its FullyQualifiedName too (reference §11).
JOB = {"Id": "2", "DisplayName": "0969 Ocean View Road (deleted)", "Job": True, "Active": False,
       "ParentRef": {"value": "1"}, "FullyQualifiedName": "Freeman Sporting Goods:0969 Ocean View Road (deleted)"}
PHASE = {"Id": "3", "DisplayName": "Phase 2", "Job": True, "ParentRef": {"value": "2"},
         "FullyQualifiedName": "Freeman Sporting Goods:0969 Ocean View Road (deleted):Phase 2"}


def _ctx() -> SyncContext:
    cursor: dict[str, Any] = {"subs": {}, "failed_customers": {}, "report": empty_report(False)}
    return SyncContext(sessions=None, run_id=1, portal_id=1, member_id="m", realm_id="9130354",  # type: ignore[arg-type]
                       qbo=None, b24=None, dry_run=False, today=date(2026, 1, 15), page_size=1000,  # type: ignore[arg-type]
                       stored_settings={}, cursor=cursor, counters={})


def test_a_jobs_invoice_goes_to_the_top_level_customer_named_without_deleted():
    ctx = _ctx()
    records = _map_page(ctx, [PARENT, JOB, PHASE], links={})
    assert [r.qbo_id for r in records] == ["1"] and ctx.report["customers"]["placed"] == 2
    assert top_customer(ctx, "2") == ("1", "Freeman Sporting Goods:0969 Ocean View Road")
    assert top_customer(ctx, "3") == ("1", "Freeman Sporting Goods:0969 Ocean View Road:Phase 2")
    assert top_customer(ctx, "1") == ("1", None)


def test_a_parent_cycle_in_bad_data_stops():
    ctx = _ctx()
    ctx.cursor["subs"] = {"5": ["6", "A:B"], "6": ["5", "B:A"]}
    assert top_customer(ctx, "5")[1] == "A:B"


def test_the_customer_rules_have_one_source():
    assert workers.portal_settings.CUSTOMER_RULES is mappers.customer.CUSTOMER_RULES
