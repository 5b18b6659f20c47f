"""How close W worker processes, sharing the Redis limiter, get to a Bitrix24 plan's rate limit.

    python -m bench.bench_b24_rate [--seconds S] [--workers W] [--plan basic|enterprise] [--smoke]

Starts the Bitrix24 sandbox, installs the app on a fresh portal of the plan, then runs W spawned
processes calling `profile` through Bitrix24Client for S seconds. The portal admits at most
burst + rate * S requests in S seconds, so "ratio" is achieved / that bound (1.0 is perfect).
Needs the Redis at 127.0.0.1:6379: without it there is no limiter shared between processes.
"""
from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import sys
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

import redis
import requests

from bench.b24_workers import APP, RedisTokens, StatusCounter
from clients.bitrix24 import Bitrix24Client
from clients.bitrix24_auth import PLANS, PortalAuth
from clients.bitrix24_errors import QueryLimitExceeded
from clients.coordination import locks_for
from clients.ratelimit import make_limiter


def worker(member_id: str, key: str, plan: str, start_at: float, seconds: float, out) -> None:
    """Call as fast as the shared limiter allows until the deadline; report what happened."""
    r = redis.Redis(host="127.0.0.1", port=6379)
    limits = PLANS[plan].client_side()
    client = Bitrix24Client(member_id, RedisTokens(r, key), APP, locks_for(r),
                            make_limiter(r, limits.rate, limits.burst), retry_budget=30)
    counter = StatusCounter()
    logging.getLogger("clients.bitrix24").addHandler(counter)
    logging.getLogger("clients.bitrix24").setLevel(logging.INFO)
    time.sleep(max(0.0, start_at - time.time()))
    deadline, stamps = start_at + seconds, []
    while (left := deadline - time.time()) > 0:
        client.limit_wait = left  # a slot after the deadline is not worth waiting for
        try:
            client.call("profile")
        except QueryLimitExceeded as exc:
            if exc.status is None:  # our own limiter declined: the run is over
                break
            raise
        stamps.append(time.time())
    out.put({"stamps": stamps, "statuses": dict(counter.statuses), "retries": client.retries})


def start_portal(plan: str) -> tuple[object, PortalAuth]:
    """Start the sandbox and a portal of the plan with the default app installed."""
    from sandbox.bitrix24.sandbox import Bitrix24Sandbox  # the outside world, started for the run

    sandbox = Bitrix24Sandbox().start()
    member_id = requests.post(f"{sandbox.control_url}/portals", json={"plan": plan}, timeout=10).json()["member_id"]
    form = requests.post(f"{sandbox.control_url}/portals/{member_id}/install", timeout=10, json={
        "client_id": APP.client_id, "handler_url": "http://127.0.0.1:9/app", "finish": True}).json()["form"]
    info = sandbox.info(member_id)
    auth = PortalAuth(member_id, info.domain, info.url + "/rest/", f"{sandbox.oauth_url}/rest/", form["AUTH_ID"],
                      form["REFRESH_ID"], datetime.now(timezone.utc) + timedelta(seconds=int(form["AUTH_EXPIRES"])))
    return sandbox, auth


def run(seconds: float, workers: int, plan: str) -> dict:
    """One benchmark run; returns the figures."""
    r = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1)
    r.ping()
    sandbox, auth = start_portal(plan)
    key = f"bench:b24tokens:{uuid.uuid4().hex}"
    RedisTokens(r, key).save(auth)
    ctx = multiprocessing.get_context("spawn")
    out, start_at = ctx.Queue(), time.time() + 2.0 + 0.3 * workers  # let every child import first
    procs = [ctx.Process(target=worker, args=(auth.member_id, key, plan, start_at, seconds, out))
             for _ in range(workers)]
    try:
        for proc in procs:
            proc.start()
        reports = [out.get(timeout=seconds + 120) for _ in procs]
        for proc in procs:
            proc.join(timeout=10)
    finally:
        sandbox.stop()
    return summarize(reports, plan, seconds, workers, start_at)


def summarize(reports: list[dict], plan: str, seconds: float, workers: int, start_at: float) -> dict:
    """Rates against the documented bucket."""
    limits = PLANS[plan]
    stamps = sorted(s for rep in reports for s in rep["stamps"])
    statuses = sum((Counter(rep["statuses"]) for rep in reports), Counter())
    bound = limits.burst + limits.rate * seconds
    # the steady state: after the bucket's burst is spent, only the drain rate remains
    tail = [s for s in stamps if s >= start_at + seconds / 2]
    return {"plan": plan, "workers": workers, "seconds": seconds, "plan_rate": limits.rate,
            "plan_burst": limits.burst, "calls": len(stamps), "bound_calls": bound,
            "achieved_rps": round(len(stamps) / seconds, 3), "ratio": round(len(stamps) / bound, 3),
            "steady_rps": round(len(tail) / (seconds / 2), 3),
            "http_503": statuses.get(503, 0), "retries": sum(rep["retries"] for rep in reports)}


def print_table(figures: dict) -> None:
    """Human table, then one JSON line for machines."""
    rows = [("plan", f"{figures['plan']} ({figures['plan_rate']}/s, burst {figures['plan_burst']})"),
            ("workers x seconds", f"{figures['workers']} x {figures['seconds']}"),
            ("calls / bound", f"{figures['calls']} / {figures['bound_calls']:.0f}"),
            ("achieved req/s", figures["achieved_rps"]), ("ratio to bound", figures["ratio"]),
            ("steady req/s (2nd half)", figures["steady_rps"]),
            ("503s seen", figures["http_503"]), ("retries", figures["retries"])]
    for name, value in rows:
        print(f"{name:<26}{value}")
    print(json.dumps({"bench": "b24_rate", **figures}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--plan", choices=sorted(PLANS), default="basic")
    parser.add_argument("--smoke", action="store_true", help="a ~3 s run")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the sandbox's request lines
    try:
        figures = run(3.0 if args.smoke else args.seconds, args.workers, args.plan)
    except redis.exceptions.ConnectionError as exc:
        print(f"Redis at 127.0.0.1:6379 is needed for the shared limiter: {exc}", file=sys.stderr)
        return 2
    print_table(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
