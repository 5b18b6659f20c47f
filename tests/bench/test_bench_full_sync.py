"""`bench.bench_full_sync --smoke`: the whole bench on a tiny company, its table and its JSON line."""
from __future__ import annotations

import json

import pytest

from bench import bench_full_sync


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["smart", "old"])
def test_smoke_run_prints_a_table_and_one_json_line(kind, capsys):
    assert bench_full_sync.main(["--smoke", "--invoice-kind", kind]) == 0
    out = capsys.readouterr().out.splitlines()
    figures = json.loads(out[-1])
    first, second, baseline = (figures["runs"][name] for name in ("first", "second", "baseline"))
    assert any(line.startswith("worker peak RSS MB") for line in out[:-1])
    assert figures["invoice_kind"] == kind
    assert first["status"] == second["status"] == "done"
    # old invoices cannot hold a foreign currency (CURRENCY is read-only): those fail alike in every run
    assert first["failures"] == second["failures"] == baseline["failures"]
    assert first["failures"] == 0 if kind == "smart" else first["failures"] > 0
    # the first run wrote the company; the unchanged second run wrote nothing
    assert first["b24_writes"] >= first["customers"] and second["b24_writes"] == 0
    # the baseline copied the same company with one request per write (and a few setup reads)
    assert baseline["records"] == first["records"]
    assert baseline["b24_requests"] - baseline["b24_other_requests"] == baseline["b24_writes"]
    assert baseline["qbo_requests"] >= baseline["records"]
    assert figures["request_ratio"] > 1 and first["peak_rss_mb"] > 0
