"""The real-time sync, measured as deployed: PostgreSQL, Redis and `celery worker` processes (one on
the realtime+celery queues, one on bulk, as docker-compose runs them), both sandboxes, Bitrix24 at the
standard plan's rate, QuickBooks webhooks one event per delivery (aggregation off).

    python -m bench.bench_realtime [--rate 5] [--seconds 60] [--burst 50] [--customers 2000]
                                   [--invoices 6000] [--postgres-url URL] [--smoke]

Figures: end-to-end latency (the QuickBooks write sent -> the Bitrix24 write of its twin, from the
Bitrix24 sandbox's millisecond write log) p50 / p95 for a steady stream; QuickBooks calls per change
(the sandbox's request count for the realm, minus the edits themselves) steady and in a burst; the
same p95 for portal B while portal A runs a full sync of a generated company; the webhook endpoint
under gunicorn (bench/webhook_load.py). Prints a table and one JSON line; docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from typing import Any

from bench.realtime_procs import scratch_schema
from bench.realtime_scenarios import burst, during_full_sync, steady, stream_for
from bench.realtime_world import RealtimeWorld, start_world

POSTGRES_URL = os.environ.get("QB24_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SMOKE = {"rate": 2.0, "seconds": 3.0, "burst": 5, "customers": 40, "invoices": 120, "webhook_seconds": 1.0,
         "webhook_rate": 50.0, "speedup": 10.0}
TARGETS = {"p50_s": 1.0, "p95_s": 3.0, "burst_calls_per_change": 0.2, "fair_p95_s": 3.0,
           "webhook_p99_ms": 50.0, "webhook_errors": 0}


def run_bench(args: argparse.Namespace, database_url: str) -> dict[str, Any]:
    world = start_world(database_url)
    try:
        return measure(world, args)
    finally:
        world.stop()


def measure(world: RealtimeWorld, args: argparse.Namespace) -> dict[str, Any]:
    # reference §8: the standard plan drains 2 requests/s from a bucket of 50 (--speedup only for --smoke)
    standard = {"plan": "standard", "speedup": args.speedup}
    realm_b = world.stack.qbo.control("", method="GET")["realms"][0]
    tenant_b = world.add_tenant(realm_b, standard, world.stack.b24.default_member_id)
    company_a = {"customers": args.customers, "invoices": args.invoices, "seed": 7}
    tenant_a = world.add_tenant(world.add_realm(**company_a), standard)
    world.start_worker("realtime,celery")
    world.start_worker("bulk")
    first = world.wait_run(world.start_full_sync(tenant_b), timeout=600)
    if first.status != "done":
        raise RuntimeError(f"portal B's first sync ended {first.status}: {first.error}")
    world.wait_quiet(120)
    # first, while nothing else loads the machine: the endpoint's own figures, not the load of the rest
    webhook = webhook_figures(world, args)
    world.webhooks(aggregation_seconds=0)
    stream = stream_for(world, tenant_b)
    return {"steady": steady(world, tenant_b, stream, args.rate, args.seconds),
            "burst": burst(world, tenant_b, stream, args.burst),
            "fair": during_full_sync(world, tenant_a, tenant_b, stream, args.rate, args.seconds),
            "webhook": webhook, "company_a": company_a, "speedup": args.speedup}


def webhook_figures(world: RealtimeWorld, args: argparse.Namespace) -> dict[str, Any]:
    """bench/webhook_load.py (H1): the app under gunicorn with 2 workers, signed CloudEvents deliveries at
    --webhook-rate for --webhook-seconds, on a schema and a Redis database of their own."""
    if not args.webhook_seconds:
        return {"measured": False, "why": "skipped (--webhook-seconds 0)"}
    try:
        from bench.webhook_load import run as load_run
    except ImportError as error:
        return {"measured": False, "why": f"bench/webhook_load.py unavailable: {error}"}
    with scratch_schema(args.postgres_url) as database_url:
        load = load_run(database_url, world.redis.url.rsplit("/", 1)[0] + "/1", args.webhook_seconds,
                        args.webhook_rate, 2)
    return {"measured": True, **asdict(load)}


def table(f: dict[str, Any]) -> str:
    steady_, burst_, fair, hook = f["steady"], f["burst"], f["fair"], f["webhook"]
    rows = [("figure", "measured", "target"),
            (f"latency p50, {steady_['rate']:g}/s for {steady_['seconds']:g} s", _s(steady_["p50_s"]), "<= 1 s"),
            ("latency p95", _s(steady_["p95_s"]), "<= 3 s"),
            ("latency max", _s(steady_["max_s"]), ""),
            ("changes landed / missing", f"{steady_['landed']} / {steady_['missing']}", "all / 0"),
            ("QuickBooks calls per change, steady", f"{steady_['qbo_calls_per_change']:.3f}", ""),
            ("Bitrix24 requests per change, steady (503s)",
             f"{steady_['b24_requests_per_change']:.3f} ({steady_['b24_refused_503']})", ""),
            (f"QuickBooks calls per change, burst of {burst_['changes']}", f"{burst_['qbo_calls_per_change']:.3f}",
             "<= 0.2"),
            ("portal B p95 while A full-syncs", _s(fair["p95_s"]), "<= 3 s"),
            ("  (B changes during A's sync, A still running)", f"{fair['changes']}, {fair['full_sync_still_running']}",
             "")]
    if hook.get("measured"):
        rows += [(f"webhook p99 at {hook['rate']:.0f} req/s (gunicorn, 2 workers)", f"{hook['p99_ms']:.1f} ms",
                  "<= 50 ms"), (f"webhook errors of {hook['requests']}", str(hook["errors"]), "0")]
    else:
        rows.append(("webhook endpoint load", "not measured", hook.get("why", "")))
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join(cell.ljust(width[i]) for i, cell in enumerate(row)) for row in rows)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5.0, help="QuickBooks changes a second")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the stream runs")
    parser.add_argument("--burst", type=int, default=50, help="changes made back to back")
    parser.add_argument("--customers", type=int, default=2000, help="portal A's generated company")
    parser.add_argument("--invoices", type=int, default=6000)
    parser.add_argument("--webhook-seconds", type=float, default=10.0, help="the webhook load run (0: skip)")
    parser.add_argument("--webhook-rate", type=float, default=500.0, help="webhook requests a second")
    parser.add_argument("--speedup", type=float, default=1.0, help="Bitrix24's rate this many times faster")
    parser.add_argument("--postgres-url", default=POSTGRES_URL, help="a schema of its own is made and dropped")
    parser.add_argument("--smoke", action="store_true", help="a few seconds of everything: checks the bench runs")
    args = parser.parse_args(argv)
    if args.smoke:
        for name, value in SMOKE.items():
            setattr(args, name, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    with scratch_schema(args.postgres_url) as database_url:
        figures = run_bench(args, database_url)
    print(table(figures))
    print(json.dumps({"bench": "realtime", "targets": TARGETS, **figures}, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
