"""Default status -> stage mapping on the documented crm.status.list answers, by semantics only."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from mappers.invoice_status import InvoiceStatus
from mappers.stages import default_stage_map, ordered_stages, stage_semantics

B24 = Path(__file__).parents[1] / "fixtures" / "b24"
ALL_STATUSES = {s.value for s in InvoiceStatus}


def stages(name: str) -> list[dict]:
    return json.loads((B24 / name).read_text())["result"]


DEAL_STAGES = "api-reference__crm__status__crm-status-list__01.json"
LEAD_STATUSES = "tutorials__crm__how-to-get-lists__how-to-get-stages-with-semantics__01.json"
CUSTOM_PIPELINE = "tutorials__crm__how-to-get-lists__how-to-get-stages-with-semantics__02.json"


def test_documented_pipeline_with_five_open_stages():
    mapping = default_stage_map(stages(DEAL_STAGES))
    assert mapping == {
        "unsent": "NEW", "sent": "PREPARATION", "overdue": "PREPARATION",
        "partially_paid": "FINAL_INVOICE", "paid": "WON", "voided": "LOSE", "deleted": "LOSE",
    }


def test_apology_stage_is_a_failure_but_plain_failure_wins():
    rows = stages(DEAL_STAGES)
    assert stage_semantics(next(r for r in rows if r["STATUS_ID"] == "APOLOGY")) == "apology"
    without_lose = [r for r in rows if r["STATUS_ID"] != "LOSE"]
    assert default_stage_map(without_lose)["voided"] == "APOLOGY"


def test_one_open_stage_never_sends_sent_invoices_to_success():
    mapping = default_stage_map(stages(LEAD_STATUSES))
    assert mapping["unsent"] == mapping["sent"] == mapping["partially_paid"] == "NEW"
    assert mapping["paid"] == "CONVERTED" and mapping["deleted"] == "JUNK"


def test_custom_pipeline_without_extra_block_reads_semantics():
    rows = stages(CUSTOM_PIPELINE)
    assert all("EXTRA" not in r for r in rows)
    mapping = default_stage_map(rows)
    assert mapping["unsent"] == "DT177_7:NEW"
    assert mapping["paid"] == "DT177_7:SUCCESS" and mapping["voided"] == "DT177_7:FAIL"


def test_order_comes_from_sort_not_from_the_answer_order():
    rows = stages(DEAL_STAGES)
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    assert [r["STATUS_ID"] for r in ordered_stages(shuffled)] == [r["STATUS_ID"] for r in rows]
    assert default_stage_map(shuffled) == default_stage_map(rows)


def test_renamed_stages_map_the_same_way():
    renamed = [{**r, "STATUS_ID": f"UC_{i}", "NAME": f"Column {i}"} for i, r in enumerate(stages(DEAL_STAGES))]
    mapping = default_stage_map(renamed)
    assert mapping["sent"] == "UC_1" and mapping["paid"] == "UC_5" and mapping["voided"] == "UC_6"


@pytest.mark.parametrize("name", [DEAL_STAGES, LEAD_STATUSES, CUSTOM_PIPELINE])
def test_every_status_maps_to_a_real_stage(name):
    rows = stages(name)
    mapping = default_stage_map(rows)
    assert set(mapping) == ALL_STATUSES
    assert set(mapping.values()) <= {r["STATUS_ID"] for r in rows}


def test_no_stages_is_refused():
    with pytest.raises(ValueError, match="no stages"):
        default_stage_map([])
