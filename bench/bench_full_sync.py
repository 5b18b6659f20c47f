"""The first full sync of a large company, measured: requests, speed against the rate limit, CPU, memory.

    python -m bench.bench_full_sync [--customers 5000] [--invoices 15000] [--invoice-kind smart|old]
                                    [--speedup 5] [--baseline-share 0.1] [--smoke]

Starts both sandboxes and the app, seeds a generated company, installs and connects the app on a
portal of the standard plan (2 requests/s, bucket 50) sped up by --speedup, then runs the engine
twice in a worker process of its own (the first sync, then an unchanged second run) and the
record-by-record baseline into a second portal on the first `--baseline-share` of the customers (by
Id) and all their invoices. Prints a table and one JSON line; docs/benchmarks.md explains the figures.
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path


from bench.full_sync_figures import Measured, all_figures, json_line, table
from bench.full_sync_harness import Harness, portal_ids, run_worker, start_harness
from store.db import make_engine, make_session_factory
from store.models import SyncRun

SMOKE = {"customers": 30, "invoices": 90, "baseline_share": 1.0, "speedup": 20.0}


def create_run(harness: Harness, member_id: str) -> int:
    """A pending full run for the portal, as Start sync records it."""
    portal_id, _ = portal_ids(harness, member_id)
    engine = make_engine(harness.stack.settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            run = SyncRun(portal_id=portal_id, kind="full", status="pending")
            session.add(run)
            session.commit()
            return run.id
    finally:
        engine.dispose()


def measure(harness: Harness, member_id: str, config: dict, customers: int, invoices: int,
            timeout: float) -> Measured:
    """Run a worker and take what both sandboxes received meanwhile."""
    b24_before, qbo_before = harness.b24_traffic[member_id].snapshot(), harness.qbo_traffic.snapshot()
    worker = run_worker({**harness.worker_config(member_id), **config}, timeout)
    b24 = harness.b24_traffic[member_id].snapshot().minus(b24_before)
    qbo = harness.qbo_traffic.snapshot().minus(qbo_before)
    if worker.get("counts"):  # the baseline says how many records it copied
        counts = worker["counts"]
        customers, invoices = counts.get("customers_seen", 0), counts.get("invoices_seen", 0)
    return Measured(worker, b24, qbo, customers, invoices)


def run_bench(args: argparse.Namespace, database_url: str) -> dict:
    """Set up, run the engine twice and the baseline once, and compute the figures."""
    harness = start_harness(database_url, customers=args.customers, invoices=args.invoices, seed=args.seed,
                            speedup=args.speedup, invoice_kind=args.invoice_kind)
    try:
        member_id = harness.stack.b24.default_member_id
        runs = []
        for _ in range(2):
            config = {"mode": "engine", "run_id": create_run(harness, member_id)}
            runs.append(measure(harness, member_id, config, harness.customers, harness.invoices, args.timeout))
        config = {"mode": "baseline", "max_customer_id": max(1, round(args.customers * args.baseline_share)),
                  "invoice_kind": args.invoice_kind}
        baseline = measure(harness, harness.baseline_member_id, config, 0, 0, args.timeout)
    finally:
        harness.stop()
    return all_figures(runs[0], runs[1], baseline, args.invoice_kind, args.speedup)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--invoices", type=int, default=15000)
    parser.add_argument("--seed", type=int, default=7, help="the sandbox company generator's seed")
    parser.add_argument("--invoice-kind", choices=("smart", "old"), default="smart")
    parser.add_argument("--speedup", type=float, default=5.0,
                        help="both services' rate limits (and our limiters) run this many times faster")
    parser.add_argument("--baseline-share", type=float, default=0.1,
                        help="the share of the customers (by Id, with all their invoices) the baseline copies")
    parser.add_argument("--database-url", help="default: a fresh SQLite file, as `make demo` uses")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per worker run")
    parser.add_argument("--smoke", action="store_true",
                        help="a tiny company: checks the bench runs, in seconds")
    args = parser.parse_args(argv)
    if args.smoke:
        for name, value in SMOKE.items():
            setattr(args, name, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the sandboxes' request lines
    with tempfile.TemporaryDirectory(prefix="qb24-bench-") as tmp:
        database_url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        figures = run_bench(args, database_url)
    print(table(figures))
    print(json_line(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
