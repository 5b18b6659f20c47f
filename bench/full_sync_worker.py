"""One measured sync in its own process: the engine on a SyncRun, or the record-by-record baseline.

    echo '{...config...}' | python -m bench.full_sync_worker

The config (bench.full_sync_harness.Harness.worker_config plus "mode" and "run_id") comes on stdin;
the last stdout line is a JSON report with the process's CPU seconds and peak RSS, so the figures
are the worker's alone, not the sandboxes'. The clients are the service's, built as
webhooks/services.py builds them, with their limiters scaled by the bench's speed-up factor.
"""
from __future__ import annotations

import json
import logging
import resource
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from clients.bitrix24 import Bitrix24Client
from clients.bitrix24_auth import PLANS, AppCredentials
from clients.coordination import locks_for
from clients.quickbooks import QuickBooksClient
from clients.quickbooks_auth import QboApp, QboOAuth
from clients.quickbooks_limits import SAFE_BURST, SAFE_RATE_PER_S, QboGate
from clients.ratelimit import make_limiter
from store.crypto import TokenCipher
from store.db import make_engine, make_session_factory
from store.tokens import SqlPortalTokens, SqlRealmTokens


class RateLimitLog(logging.Handler):
    """Counts the limit answers the client met (and retried) on its way."""

    def __init__(self) -> None:
        super().__init__()
        self.retries = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "b24.retry":
            self.retries += 1


def build_clients(config: dict[str, Any],
                  sessions: sessionmaker[Session]) -> tuple[QuickBooksClient, Bitrix24Client]:
    """The service's two clients on the stored tokens, limiters at the plan's rate × speed-up."""
    speedup, cipher = float(config["speedup"]), TokenCipher(config["token_key"])
    q = config["qbo"]
    oauth = QboOAuth(QboApp(q["client_id"], q["client_secret"], q["redirect_uri"], q["environment"]))
    gate = QboGate(None, rate_per_s=SAFE_RATE_PER_S * speedup, burst=SAFE_BURST)
    qbo = QuickBooksClient(config["realm_id"], tokens=SqlRealmTokens(sessions, cipher), oauth=oauth,
                           locks=locks_for(None), api_base=q["api_base"], gate=gate)
    plan = PLANS["basic"].client_side()
    b24 = Bitrix24Client(config["member_id"], SqlPortalTokens(sessions, cipher),
                         AppCredentials(config["b24"]["client_id"], config["b24"]["client_secret"]),
                         locks_for(None), make_limiter(None, plan.rate * speedup, plan.burst),
                         timeout=(5, 60), limit_wait=30.0, retry_budget=60.0)
    return qbo, b24


def run_engine(config: dict[str, Any], sessions: sessionmaker[Session], qbo: QuickBooksClient,
               b24: Bitrix24Client) -> dict[str, Any]:
    """run_full_sync on the prepared run; its final status, counters and report."""
    from store.models import SyncRun
    from workers.full_sync import run_full_sync

    status = run_full_sync(sessions, int(config["run_id"]), qbo=qbo, b24=b24)
    with sessions() as session:
        run = session.get(SyncRun, int(config["run_id"]))
        return {"status": status, "counters": run.counters, "report": _short_report(run.report),
                "error": run.error}


def _short_report(report: dict[str, Any]) -> dict[str, Any]:
    """The report without the long failure list (its first few reasons stay, for the reader)."""
    failures = report.get("failures") or []
    # the report keeps the first 500 failures and counts the rest in failures_truncated
    return {**report, "failures": failures[:5], "failure_count": len(failures) + int(report.get("failures_truncated") or 0)}


def run_baseline_mode(config: dict[str, Any], sessions: sessionmaker[Session], qbo: QuickBooksClient,
                      b24: Bitrix24Client) -> dict[str, Any]:
    """The record-by-record copy into the baseline portal."""
    from bench.baseline_sync import run_baseline
    from bench.baseline_target import baseline_target

    outcome = run_baseline(qbo, b24, baseline_target(config, sessions, b24))
    return {"status": "done", "counts": dict(outcome.counts), "failures": outcome.failures[:5],
            "failure_count": len(outcome.failures)}


def measured(config: dict[str, Any]) -> dict[str, Any]:
    """Run the mode; add wall time, CPU time and peak RSS of this process."""
    engine = make_engine(config["database_url"])
    sessions = make_session_factory(engine)
    qbo, b24 = build_clients(config, sessions)
    limits = RateLimitLog()
    logging.getLogger("clients.bitrix24").addHandler(limits)
    logging.getLogger("clients.bitrix24").setLevel(logging.INFO)
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    mode = run_engine if config["mode"] == "engine" else run_baseline_mode
    result = mode(config, sessions, qbo, b24)
    elapsed, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
    engine.dispose()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {**result, "elapsed_s": round(elapsed, 3), "cpu_s": round(cpu, 3),
            "peak_rss_mb": peak_rss_mb(after), "b24_retries": limits.retries}


def peak_rss_mb(usage: resource.struct_rusage) -> float:
    """This process's peak resident set, imports included.

    VmHWM, not ru_maxrss: Linux carries ru_maxrss across execve, so a worker started by a big
    parent (the bench holds both sandboxes' data) would report the parent's peak as its own.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)  # kB
    except OSError:
        pass
    return round(usage.ru_maxrss / 1024, 1)  # elsewhere: KiB on Linux, bytes on macOS (then an overestimate)


def main() -> int:
    config = json.loads(sys.stdin.read())
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    print(json.dumps(measured(config)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
