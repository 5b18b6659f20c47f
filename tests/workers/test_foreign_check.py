"""The check for CRM records of another origin (which decides whether customers are matched before they
are created) runs once a minute, not once a page: on an empty portal it is the customer phase's only
read besides the writes (docs/benchmarks.md, the 1/50 batch bound)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from clients.bitrix24 import Bitrix24Client
from tests.workers.sync_support import connected_rig
from workers import customer_match
from workers.full_sync import run_full_sync

PAGE_SIZE = 12  # the sample company's ~58 customers make five pages


def foreign_checks(b24: Bitrix24Client) -> list[int]:
    """One entry per request that asked whether records of another origin exist."""
    sent: list[int] = []

    def record(response, *args, **kwargs) -> None:
        body = json.loads(response.request.body or b"{}")
        if any(name.startswith("ours_") for name in (body.get("cmd") or {})):
            sent.append(1)

    b24.session.hooks["response"].append(record)
    return sent


@pytest.mark.parametrize("recheck_s, expected", [(60.0, "once"), (-1.0, "every page")])
def test_the_foreign_records_check_runs_once_a_minute(tmp_path: Path, monkeypatch, recheck_s, expected) -> None:
    monkeypatch.setattr(customer_match, "FOREIGN_RECHECK_S", recheck_s)
    with connected_rig(tmp_path, "sqlite") as rig:
        qbo, b24 = rig.clients()
        checks = foreign_checks(b24)
        run_id = rig.new_run()
        assert run_full_sync(rig.sessions, run_id, qbo=qbo, b24=b24, page_size=PAGE_SIZE) == "done"
        customer_pages = -(-rig.run(run_id).counters["done"] // PAGE_SIZE)  # an upper bound is enough below
        if expected == "once":
            assert len(checks) == 1
        else:
            assert 3 <= len(checks) <= customer_pages  # a page whose creates have no email or phone asks nothing
