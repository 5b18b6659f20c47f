"""Paging QuickBooks while records disappear: invoices deleted in QuickBooks between two pages, and between a
crash and the resume, shift later positions down; nothing may be missed and nothing counted twice."""
from __future__ import annotations

from pathlib import Path

import pytest
import requests

from clients.bitrix24 import Bitrix24Client
from mappers.origin import invoice_xml_id
from store.models import SyncRun
from tests.workers.sync_support import Rig, b24_rows, connected_rig
from workers.full_sync import run_full_sync

PAGE_SIZE = 12  # the engine re-reads 3 (a quarter) of each page: up to 2 deletions before it are covered


def invoice_pages(statement: str) -> bool:
    return statement.startswith("SELECT * FROM Invoice")


def test_invoices_deleted_between_pages_and_after_a_crash_are_neither_missed_nor_counted_twice(
        tmp_path: Path) -> None:
    with connected_rig(tmp_path, "sqlite") as rig:
        qbo, b24 = rig.clients()
        deleter, _ = rig.clients()
        original = [i for _, page in qbo.query_pages("Invoice") for i in page]
        assert len(original) > 3 * PAGE_SIZE
        run_id, real_query, real_batch = rig.new_run(), qbo.query, b24.batch
        pages_read: list[list[dict]] = []
        adds: list[int] = []

        def query_then_delete(statement: str) -> list[dict]:
            page = real_query(statement)
            if invoice_pages(statement) and page:
                pages_read.append(page)
                if len(pages_read) in (1, 2):  # one record of the page just read leaves QuickBooks
                    deleter.delete_invoice(page[3])
            return page

        def batch_then_drop(commands, halt=False):
            answer = real_batch(commands, halt)  # Bitrix24 did the writes; the answer is lost
            if any(method in ("crm.item.add", "crm.invoice.add") for method, _ in dict(commands).values()):
                adds.append(1)
                if len(adds) == 3:
                    raise requests.ConnectionError("connection reset")
            return answer

        qbo.query, b24.batch = query_then_delete, batch_then_drop
        with pytest.raises(requests.ConnectionError):
            run_full_sync(rig.sessions, run_id, qbo=qbo, b24=b24, page_size=PAGE_SIZE)
        crashed = rig.run(run_id)
        assert crashed.cursor["phase"] == "invoices" and crashed.cursor["in_flight"] is not None
        # while the worker is down, two records of committed pages are deleted: the in-flight page's first
        # records slide into the range of the page before it
        for invoice in (pages_read[0][5], pages_read[1][6]):
            deleter.delete_invoice(invoice)

        _, healthy = rig.clients()
        assert run_full_sync(rig.sessions, run_id, qbo=qbo, b24=healthy, page_size=PAGE_SIZE) == "done"
        assert_each_invoice_once(rig, rig.run(run_id), original, healthy, qbo.realm_id)


def assert_each_invoice_once(rig: Rig, run: SyncRun, original: list[dict], b24: Bitrix24Client,
                             realm_id: str) -> None:
    """Every invoice present when the run began is in Bitrix24 once, linked, and counted once."""
    report, counters = run.report, run.counters
    failures = [f["qbo_id"] for f in report["failures"] if f["qbo_type"] == "Invoice"]
    failed = set(failures)
    assert len(failures) == len(failed)  # no record failed twice
    use_new = (rig.portal().settings or {}).get("use_new_invoice", True)
    kind = "smart_invoice" if use_new else "invoice"
    rows = b24_rows(b24, kind, ["id", "xmlId"] if use_new else ["ID", "XML_ID"])
    xml_ids = [r.get("xmlId") or r.get("XML_ID") for r in rows]
    assert sorted(x for x in set(xml_ids) if xml_ids.count(x) > 1) == []
    expected = {invoice_xml_id(realm_id, str(i["Id"])) for i in original if str(i["Id"]) not in failed}
    assert set(xml_ids) == expected
    links = {l.qbo_id for l in rig.links() if l.qbo_type == "Invoice"}
    assert links == {str(i["Id"]) for i in original} - failed
    invoices = report["invoices"]
    assert invoices["imported"] + invoices["updated"] + invoices["skipped"] + invoices["failed"] == len(original)
    assert invoices["updated"] == invoices["skipped"] == 0
    assert len(report["failures"]) + report["failures_truncated"] == report["customers"]["failed"] + len(failed)
    outcomes = ("imported", "updated", "skipped", "failed", "placed")  # "placed": sub-customers
    per_kind = sum(report[kind].get(outcome, 0) for kind in ("customers", "invoices") for outcome in outcomes)
    assert counters["done"] == per_kind
