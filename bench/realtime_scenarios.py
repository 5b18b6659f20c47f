"""The real-time measurements, shared by bench/bench_realtime.py and the two-portal test: a steady
stream's latency, a burst's QuickBooks calls per change, and a second portal's latency while the
first one runs a full sync."""
from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from bench.realtime_changes import Change, Editor
from bench.realtime_latency import Landing, Stream, landing, percentile
from bench.realtime_world import RealtimeWorld, Tenant
from qb24.demo import b24_control

LAND_TIMEOUT_S = 60.0


def stream_for(world: RealtimeWorld, tenant: Tenant) -> Stream:
    """A stream over the company's active home-currency top-level customers and its open invoices."""
    editor = Editor(world.qbo(tenant.realm_id), world.stack.qbo.control)
    qbo = editor.qbo
    customers = [c for _, page in qbo.query_pages("Customer") for c in page
                 if not c.get("ParentRef") and _home(c)]
    invoices = [i for _, page in qbo.query_pages("Invoice") for i in page
                if float(i.get("Balance", 0)) > 0 and _home(i) and customers]
    return Stream(editor, customers, invoices)


def _home(record: dict) -> bool:
    return record.get("CurrencyRef", {}).get("value", "USD") == "USD"


def wait_landed(world: RealtimeWorld, tenant: Tenant, changes: list[Change], since: int,
                timeout: float = LAND_TIMEOUT_S) -> Landing:
    """Poll until every change's twin was written (or the timeout: the rest count as missing)."""
    deadline = time.monotonic() + timeout
    while True:
        found = landing(world, tenant, changes, since)
        if not found.missing or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def figures(found: Landing) -> dict[str, Any]:
    landed = found.landed
    return {"changes": len(found.seconds), "landed": len(landed), "missing": len(found.missing),
            "p50_s": _round(percentile(landed, 0.5)), "p95_s": _round(percentile(landed, 0.95)),
            "max_s": _round(max(landed) if landed else None)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def qbo_requests(world: RealtimeWorld, realm_id: str) -> int:
    return int(world.stack.qbo.control("stats", method="GET")["requests_per_realm"].get(realm_id, 0))


def b24_requests(world: RealtimeWorld, tenant: Tenant) -> tuple[int, int, Counter]:
    """The portal's HTTP requests so far (a batch is one), the leaky bucket's refusals, requests by method."""
    counts = b24_control(world.stack, f"portals/{tenant.member_id}/requests", method="GET")
    return sum(counts["requests"].values()), counts["refused_503"], Counter(counts["requests"])


def costs(world: RealtimeWorld, tenant: Tenant, stream: Stream, count: int,
          before: tuple) -> dict[str, Any]:
    """QuickBooks calls (the service's: the edits' own are taken off) and Bitrix24 requests per change."""
    qbo_before, own_before, b24_before, refused_before, methods_before = before
    calls = qbo_requests(world, tenant.realm_id) - qbo_before - (stream.editor.calls - own_before)
    b24, refused, methods = b24_requests(world, tenant)
    return {"qbo_calls": calls, "qbo_calls_per_change": round(calls / max(1, count), 3),
            "b24_requests_per_change": round((b24 - b24_before) / max(1, count), 3),
            "b24_refused_503": refused - refused_before, "b24_requests": dict(methods - methods_before)}


def counters(world: RealtimeWorld, tenant: Tenant, stream: Stream) -> tuple:
    return (qbo_requests(world, tenant.realm_id), stream.editor.calls, *b24_requests(world, tenant))


def steady(world: RealtimeWorld, tenant: Tenant, stream: Stream, rate: float, seconds: float) -> dict[str, Any]:
    """`rate` changes/s for `seconds`: latency figures and the calls spent per change."""
    since, before = _last_write(world, tenant), counters(world, tenant, stream)
    changes = stream.run(rate, seconds)
    found = wait_landed(world, tenant, changes, since)
    world.wait_quiet(LAND_TIMEOUT_S)
    return {**figures(found), "rate": rate, "seconds": seconds, **costs(world, tenant, stream, len(changes), before)}


def burst(world: RealtimeWorld, tenant: Tenant, stream: Stream, count: int) -> dict[str, Any]:
    """`count` changes as fast as one admin's client makes them: QuickBooks calls per change."""
    world.wait_quiet(LAND_TIMEOUT_S)
    since, before = _last_write(world, tenant), counters(world, tenant, stream)
    changes = [stream.one() for _ in range(count)]
    found = wait_landed(world, tenant, changes, since)
    world.wait_quiet(LAND_TIMEOUT_S)
    return {**figures(found), **costs(world, tenant, stream, count, before)}


def during_full_sync(world: RealtimeWorld, busy: Tenant, tenant: Tenant, stream: Stream, rate: float,
                     seconds: float) -> dict[str, Any]:
    """`tenant`'s changes while `busy` runs a full sync (started here); stops early if that sync ends."""
    run_id = world.start_full_sync(busy)
    deadline = time.monotonic() + 60
    while world.run(run_id).status != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    since, before = _last_write(world, tenant), counters(world, tenant, stream)
    started = time.monotonic()
    changes = stream.run(rate, seconds, until=lambda: world.run(run_id).status == "running")
    found = wait_landed(world, tenant, changes, since)
    spent = costs(world, tenant, stream, len(changes), before)
    last_landed = max((c.at + s for c, s in found.seconds.items() if s is not None), default=0.0)
    run = world.run(run_id)
    overlapped = run.status == "running" or _epoch(run.finished_at) >= last_landed
    return {**figures(found), **spent, "rate": rate, "stream_s": round(time.monotonic() - started, 1),
            "full_sync_run": run_id, "full_sync_still_running": overlapped}


def _epoch(moment: datetime | None) -> float:
    """A stored UTC time (naive, as the store keeps them) as epoch seconds; 0 for none."""
    return 0.0 if moment is None else moment.replace(tzinfo=moment.tzinfo or timezone.utc).timestamp()


def _last_write(world: RealtimeWorld, tenant: Tenant) -> int:
    writes = world.b24_writes(tenant.member_id)
    return writes[-1]["seq"] if writes else 0
