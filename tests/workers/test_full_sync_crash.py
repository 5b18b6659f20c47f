"""THE crash test: a worker SIGKILLed between a page's batch write and its link commit, then resumed by a
new process, leaves Bitrix24 with every record exactly once (real PostgreSQL and Redis, both sandboxes)."""
from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from mappers.customer import is_sub_customer
from mappers.origin import invoice_xml_id, originator_id
from tests.workers.sync_support import Rig, b24_rows, connected_rig

ROOT = Path(__file__).resolve().parents[2]
PAGE_SIZE = 20  # several pages per phase, so the kill lands mid-run


def run_child(rig: Rig, tmp_path: Path, run_id: int, kill_at: int) -> subprocess.CompletedProcess:
    settings_file = tmp_path / "settings.pickle"
    settings_file.write_bytes(pickle.dumps(rig.stack.settings))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "tests.workers.sync_crash_child", str(settings_file), rig.member_id,
                           str(run_id), str(PAGE_SIZE), str(kill_at)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize(("use_new_invoice", "kill_at"), [(True, 2), (True, 5), (False, 5)],
                         ids=["smart-customer-page", "smart-invoice-page", "old-invoice-page"])
def test_killed_mid_page_resumes_with_no_duplicates_and_nothing_missing(tmp_path: Path, use_new_invoice: bool,
                                                                         kill_at: int) -> None:
    with connected_rig(tmp_path) as rig:
        rig.set_settings(use_new_invoice=use_new_invoice)
        run_id = rig.new_run()

        killed = run_child(rig, tmp_path, run_id, kill_at)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
        crashed = rig.run(run_id)
        assert crashed.status == "running" and crashed.cursor["in_flight"] is not None
        phase = crashed.cursor["phase"]
        assert phase == ("customers" if kill_at == 2 else "invoices")

        resumed = run_child(rig, tmp_path, run_id, 0)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert resumed.stdout.strip().endswith("done")
        assert_exactly_once(rig, rig.run(run_id).report, "smart_invoice" if use_new_invoice else "invoice")


def assert_exactly_once(rig: Rig, report: dict, invoice_kind: str) -> None:
    """Every customer and invoice once in Bitrix24 by its origin marker; none missing, none extra."""
    qbo, b24 = rig.clients()
    realm_id = qbo.realm_id
    customers = [c for _, page in qbo.query_pages("Customer", "Active IN (true, false)") for c in page]
    invoices = [i for _, page in qbo.query_pages("Invoice") for i in page]
    failed = {(f["qbo_type"], f["qbo_id"]) for f in report["failures"]}
    assert not [f for f in report["failures"] if f["qbo_type"] == "Customer"]

    people = b24_rows(b24, "contact", ["ID", "ORIGINATOR_ID", "ORIGIN_ID"])
    companies = b24_rows(b24, "company", ["ID", "ORIGINATOR_ID", "ORIGIN_ID"])
    markers = Counter(r["ORIGIN_ID"] for r in people + companies if r["ORIGINATOR_ID"] == originator_id(realm_id))
    assert [m for m, n in markers.items() if n > 1] == []
    top = {f"Customer:{c['Id']}" for c in customers if not is_sub_customer(c)}
    assert {m for m in markers if not m.endswith(":person")} == top

    rows = b24_rows(b24, invoice_kind, ["id", "xmlId"] if invoice_kind == "smart_invoice" else ["ID", "XML_ID"])
    xml_ids = Counter(r.get("xmlId") or r.get("XML_ID") for r in rows)
    assert [x for x, n in xml_ids.items() if n > 1] == []
    expected = {invoice_xml_id(realm_id, str(i["Id"])) for i in invoices if ("Invoice", str(i["Id"])) not in failed}
    assert set(xml_ids) == expected
    # every failure is a record the portal cannot hold (a currency it lacks), never a lost write
    assert all("currency" in f["reason"] for f in report["failures"])

    links = Counter((link.qbo_type, link.b24_type) for link in rig.links())
    assert links[("Invoice", invoice_kind)] == len(expected)
    assert sum(n for (qbo_type, _), n in links.items() if qbo_type == "Customer") == len(top)
