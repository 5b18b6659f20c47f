"""Per-portal leaky bucket (503) and per-method operating time (429), reference §8."""
from __future__ import annotations

import time

from sandbox.bitrix24.errors import RestError
from sandbox.bitrix24.state import Portal, SpentTime


def take_request(portal: Portal) -> None:
    """Count one HTTP request in the portal's leaky bucket or raise QUERY_LIMIT_EXCEEDED."""
    limits = portal.limits
    now = time.monotonic()
    drained = (now - portal.bucket_at) * limits.drain_rate * limits.speedup
    portal.bucket_level = max(0.0, portal.bucket_level - drained)
    portal.bucket_at = now
    if portal.bucket_level + 1 > limits.bucket_size:
        portal.refused_503 += 1
        raise RestError(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
    portal.bucket_level += 1


def _window(portal: Portal) -> float:
    """The operating-time window in wall seconds (shrunk by the speed-up factor)."""
    return portal.limits.operating_window / portal.limits.speedup


def operating(portal: Portal, caller: str, method: str) -> tuple[float, int]:
    """The method's accumulated seconds in the window and when that window resets."""
    now = time.time()
    spent = portal.operating.setdefault((caller, method), SpentTime())
    entries = spent.entries
    while entries and entries[0][0] <= now - _window(portal):
        spent.total -= entries.popleft()[1]
    if not entries:
        spent.total = 0.0  # no float drift carried past an empty window
    reset_at = int(entries[0][0] + _window(portal)) if entries else int(now)
    return max(0.0, spent.total), reset_at


def check_operating(portal: Portal, caller: str, method: str) -> None:
    """Refuse a method whose operating time is over the limit (per app or webhook)."""
    total, _ = operating(portal, caller, method)
    if total > portal.limits.operating_limit:
        raise RestError(429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.")


def charge(portal: Portal, caller: str, method: str, elapsed: float) -> None:
    """Add a call's cost (the simulated cost when set, else the real time)."""
    cost = portal.limits.operating_cost if portal.limits.operating_cost is not None else elapsed
    spent = portal.operating.setdefault((caller, method), SpentTime())
    spent.entries.append((time.time(), cost))
    spent.total += cost
