"""End-to-end latency of QuickBooks changes: from the QuickBooks write to the Bitrix24 write of its
twin record, read from the Bitrix24 sandbox's write log (millisecond times, sandbox/bitrix24/write_log.py)
and the link store (which CRM record is the twin). A steady stream of changes to measure it on.
"""
from __future__ import annotations

import bisect
import itertools
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from bench.realtime_changes import Change, Editor
from bench.realtime_world import RealtimeWorld, Tenant
from store.models import Link

_KINDS = (("crm.contact.", "contact"), ("crm.company.", "company"), ("crm.invoice.", "invoice"),
          ("crm.item.", "smart_invoice"))


def b24_kind(write: dict) -> str | None:
    """The link store's b24_type of the record a logged write touched."""
    method = write["method"]
    kind = next((k for prefix, k in _KINDS if method.startswith(prefix)), None)
    if kind == "smart_invoice" and "productrow" not in method and write.get("entity_type_id") != 31:
        return None
    return kind


@dataclass
class Landing:
    """Per change, seconds until its twin was written (None: not yet, or it has no twin)."""

    seconds: dict[Change, float | None] = field(default_factory=dict)

    @property
    def landed(self) -> list[float]:
        return sorted(s for s in self.seconds.values() if s is not None)

    @property
    def missing(self) -> list[Change]:
        return [c for c, s in self.seconds.items() if s is None]


def landing(world: RealtimeWorld, tenant: Tenant, changes: list[Change], since: int = 0) -> Landing:
    """Match each change to the first write of its twin at or after the change was sent."""
    with world.sessions() as session:
        twins = {(l.qbo_type, l.qbo_id): (l.b24_type, str(l.b24_id))
                 for l in session.scalars(select(Link).where(Link.portal_id == tenant.portal_id))}
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    for write in world.b24_writes(tenant.member_id, since):
        times[(b24_kind(write), str(write["id"]))].append(write["at"])
    result = Landing()
    for change in changes:
        at = times.get(twins.get((change.entity, change.qbo_id)), [])
        later = at[bisect.bisect_left(at, change.at):]
        result.seconds[change] = later[0] - change.at if later else None
    return result


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class Stream:
    """Changes at a steady rate, each to a record no other change touched in the last seconds (so the
    first write of its twin after it answers it): customer updates, invoice updates, new invoices and
    payments of invoices made earlier in the stream."""

    def __init__(self, editor: Editor, customers: list[dict], invoices: list[dict], seed: int = 7) -> None:
        self.editor = editor
        self.customers = itertools.cycle(customers)
        self.invoices = itertools.cycle(invoices)
        self.made: list[tuple[float, dict]] = []   # invoices this stream created, to pay later
        self.random = random.Random(seed)
        self.kinds = itertools.cycle(("invoice.create", "customer.update", "invoice.update", "payment.create",
                                      "invoice.create"))

    def one(self) -> Change:
        kind = next(self.kinds)
        if kind == "payment.create" and self.made and time.time() - self.made[0][0] > 5:
            _, invoice = self.made.pop(0)
            self.editor.pay(invoice, round(float(invoice["TotalAmt"]) / 2, 2))
        elif kind == "customer.update":
            customer = next(self.customers)
            self.editor.update_customer(self.editor.read("Customer", customer["Id"]))
        elif kind == "invoice.update":
            invoice = next(self.invoices)
            self.editor.update_invoice(self.editor.read("Invoice", invoice["Id"]))
        else:
            customer = next(self.customers)
            invoice = self.editor.new_invoice(customer["Id"], float(self.random.randint(50, 500)))
            self.made.append((time.time(), invoice))
        return self.editor.changes[-1]

    def run(self, rate: float, seconds: float, until: Callable[[], bool] = lambda: True) -> list[Change]:
        """`rate` changes a second for `seconds` (or until `until()` turns false); the changes made."""
        start, made = time.monotonic(), []
        for n in itertools.count():
            due = start + n / rate
            if due - start >= seconds or not until():
                return made
            time.sleep(max(0.0, due - time.monotonic()))
            made.append(self.one())
