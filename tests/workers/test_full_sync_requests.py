"""QuickBooks requests of a full sync: the counts ride in the first page's batch, no page past the count is
read, and a resumed run reads on from its cursor without counting again."""
from __future__ import annotations

from pathlib import Path

import pytest

from clients.quickbooks import QuickBooksClient
from clients.quickbooks_errors import ServiceUnavailable
from tests.workers.sync_support import connected_rig
from workers.full_sync import QUERIES, run_full_sync


def counted(qbo: QuickBooksClient) -> list[tuple[str, str]]:
    """Every HTTP request the client sends from now on: (path, body)."""
    sent: list[tuple[str, str]] = []

    def record(response, *args, **kwargs) -> None:
        body = response.request.body or b""
        sent.append((response.request.path_url.split("?")[0], body.decode() if isinstance(body, bytes) else body))

    qbo.transport.http.hooks["response"].append(record)
    return sent


def windows(count: int, page_size: int) -> int:
    """Reads of a phase of `count` records: a first page, then pages re-reading a quarter (≤ 20) of the last."""
    step = page_size - min(20, page_size // 4)
    reads = 1
    while page_size + (reads - 1) * step < count:
        reads += 1
    return reads


def boundary_page_size(count: int) -> int:
    """A page size whose last full window ends exactly at `count` (the case that used to read one more page)."""
    return next(p for p in range(8, count) if (count - p) % (p - min(20, p // 4)) == 0 and count > p)


def assert_every_invoice_handled(rig, run_id: int, invoices: int) -> None:
    """Each invoice is linked or (the sample has some the portal cannot take) reported failed, once."""
    linked = {link.qbo_id for link in rig.links() if link.qbo_type == "Invoice"}
    failed = [f["qbo_id"] for f in rig.run(run_id).report["failures"] if f["qbo_type"] == "Invoice"]
    assert len(linked) + len(failed) == len(linked | set(failed)) == invoices


def phase_counts(qbo: QuickBooksClient) -> dict[str, int]:
    return {phase: qbo.count(entity, where) for phase, (entity, where) in QUERIES.items()}


def test_counts_ride_in_the_first_request_and_no_page_past_the_count_is_read(tmp_path: Path) -> None:
    with connected_rig(tmp_path, "sqlite") as rig:
        qbo, b24 = rig.clients()
        counts = phase_counts(qbo)
        page_size = boundary_page_size(counts["invoices"])
        sent = counted(qbo)
        run_id = rig.new_run()
        assert run_full_sync(rig.sessions, run_id, qbo=qbo, b24=b24, page_size=page_size) == "done"
        assert sent[0][0].endswith("/batch") and "COUNT(*)" in sent[0][1] and "FROM Customer" in sent[0][1]
        assert [path for path, _ in sent[1:] if not path.endswith("/query")] == []
        assert [body for _, body in sent[1:] if "COUNT" in body.upper()] == []
        expected = windows(counts["customers"], page_size) + windows(counts["invoices"], page_size)
        assert len(sent) == expected  # the batch carried the first customer page
        assert rig.run(run_id).counters["total"] == sum(counts.values())
        assert_every_invoice_handled(rig, run_id, counts["invoices"])


def test_a_resumed_run_reads_on_from_its_cursor_without_counting_again(tmp_path: Path) -> None:
    with connected_rig(tmp_path, "sqlite") as rig:
        qbo, b24 = rig.clients()
        counts, page_size = phase_counts(qbo), 10
        run_id, real_query, invoice_reads = rig.new_run(), qbo.query, []

        def query_then_fail(statement: str) -> list[dict]:
            if statement.startswith("SELECT * FROM Invoice"):
                invoice_reads.append(statement)
                if len(invoice_reads) == 2:
                    raise ServiceUnavailable("QuickBooks unavailable (HTTP 503)", status=503)
            return real_query(statement)

        qbo.query = query_then_fail
        with pytest.raises(ServiceUnavailable):
            run_full_sync(rig.sessions, run_id, qbo=qbo, b24=b24, page_size=page_size)
        cursor = rig.run(run_id).cursor
        assert cursor["phase"] == "invoices" and cursor["counts"] == counts

        resumed_qbo, resumed_b24 = rig.clients()
        sent = counted(resumed_qbo)
        assert run_full_sync(rig.sessions, run_id, qbo=resumed_qbo, b24=resumed_b24, page_size=page_size) == "done"
        assert [path for path, _ in sent if not path.endswith("/query")] == []
        assert [body for _, body in sent if "COUNT" in body.upper() or "FROM Customer" in body] == []
        assert len(sent) == windows(counts["invoices"], page_size) - 1  # the first invoice page was done
        assert rig.run(run_id).counters["total"] == sum(counts.values())
        assert_every_invoice_handled(rig, run_id, counts["invoices"])
