"""`bench.bench_realtime --smoke`: the real-time bench on PostgreSQL, Redis and worker processes for a
few seconds of each scenario, its table and its JSON line."""
from __future__ import annotations

import json

import pytest

from bench import bench_realtime
from tests.services import POSTGRES_URL, postgres_schema, redis_client


@pytest.mark.timeout(300)
def test_smoke_run_prints_a_table_and_one_json_line(capsys):
    redis_client().close()  # skips (or fails, in CI) without the services the bench runs on
    with postgres_schema():  # skips (or fails, in CI) without PostgreSQL; the bench makes a schema of its own
        pass
    assert bench_realtime.main(["--smoke", "--postgres-url", POSTGRES_URL]) == 0
    out = capsys.readouterr().out.splitlines()
    figures = json.loads(out[-1])
    assert any(line.startswith("latency p95") for line in out[:-1])
    steady, burst, fair = figures["steady"], figures["burst"], figures["fair"]
    assert steady["changes"] >= 5 and steady["missing"] == burst["missing"] == fair["missing"] == 0
    assert 0 < steady["p50_s"] <= steady["p95_s"] <= steady["max_s"] < 10
    assert burst["qbo_calls_per_change"] < 1  # a burst's changes share pulls
    assert fair["changes"] >= 1 and fair["p95_s"] is not None
    assert "measured" in figures["webhook"]
