"""The real-time tests' world (bench/realtime_world.py) on PostgreSQL, its first sync done by real
worker processes, and the scripted stream of QuickBooks changes the chaos tests replay."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import update

from bench.realtime_changes import Editor
from bench.realtime_world import RealtimeWorld, Tenant, start_world
from mappers.invoice_status import InvoiceStatus, invoice_status
from qb24.demo import b24_control
from store.db import transaction
from store.models import QboConnection, utcnow
from tests.services import postgres_schema, redis_client
from tests.workers.e2e_qbo import read_company

FAST_PORTAL = {"plan": "standard", "speedup": 20}  # the plan's rate is the bench's business, not these tests'


@contextmanager
def realtime_world() -> Iterator[RealtimeWorld]:
    redis_client().close()  # skips (or fails, in CI) without Redis; the world runs a redis-server of its own
    with postgres_schema() as url:
        world = start_world(url)
        try:
            yield world
        finally:
            world.stop()


def first_synced(world: RealtimeWorld, workers: int = 2, portal: dict | None = None) -> Tenant:
    """The default portal on the sample company, `workers` worker processes, the first sync done by them."""
    realm_id = world.stack.qbo.control("", method="GET")["realms"][0]
    tenant = world.add_tenant(realm_id, portal or FAST_PORTAL, world.stack.b24.default_member_id)
    for _ in range(workers):
        world.start_worker()
    run = world.wait_run(world.start_full_sync(tenant), timeout=120)
    assert (run.status, run.error) == ("done", None), world.worker_logs()
    world.wait_quiet(30)
    return tenant


def set_error_rate(world: RealtimeWorld, tenant: Tenant, rate: float) -> None:
    """Both sandboxes fail this share of calls (QuickBooks 5xx / 429, Bitrix24 5xx)."""
    world.stack.qbo.control("settings", {"error_rate": rate})
    b24_control(world.stack, f"portals/{tenant.member_id}/settings", {"error_rate": rate})


def lapse_pull_lease(world: RealtimeWorld, realm_id: str, owner: str) -> None:
    """What the lease's lapse time does after its holder was killed, without waiting for it: its
    heartbeat made old (only if that owner still holds it)."""
    with transaction(world.sessions) as session:
        session.execute(update(QboConnection).where(QboConnection.realm_id == realm_id,
                                                    QboConnection.pull_owner == owner)
                        .values(pull_heartbeat_at=utcnow() - timedelta(days=1)))


def usd(record: dict) -> bool:
    return record.get("CurrencyRef", {}).get("value", "USD") == "USD"


@dataclass
class Script:
    """The chaos stream: steps to run in order; what it deleted in QuickBooks."""

    steps: list[tuple[str, Callable[[], object]]]
    deleted_invoices: set[str] = field(default_factory=set)
    gone_customers: set[str] = field(default_factory=set)


def chaos_script(editor: Editor) -> Script:
    """Customer create/update/deactivate/merge, invoice create/update/send/void/delete, payment
    create/update/delete: every operation the real-time sync handles, some on the same records."""
    customers, invoices = read_company(editor.qbo)
    people = [c for c in customers.values() if not c.get("ParentRef") and not c.get("CompanyName")
              and c.get("Active", True) and usd(c)]
    companies = [c for c in customers.values() if not c.get("ParentRef") and c.get("CompanyName")]
    unsent = sorted((i for i in invoices.values() if invoice_status(i, utcnow().date()) is InvoiceStatus.UNSENT
                     and usd(i)), key=lambda i: int(i["Id"]))
    s: dict[str, dict] = {}
    script = Script([])

    def fresh(key: str, entity: str) -> dict:
        s[key] = editor.read(entity, s[key]["Id"])
        return s[key]

    def step(label: str, action: Callable[[], object]) -> None:
        script.steps.append((label, action))

    s.update(p0=people[0], c0=companies[0], u1=unsent[0], u2=unsent[1], u3=unsent[2])
    step("new person a", lambda: s.update(a=editor.new_customer()))
    step("new company b", lambda: s.update(b=editor.new_customer(company=True)))
    step("update p0", lambda: editor.update_customer(fresh("p0", "Customer")))
    step("invoice for a", lambda: s.update(ia=editor.new_invoice(s["a"]["Id"])))
    step("invoice for b", lambda: s.update(ib=editor.new_invoice(s["b"]["Id"], 300.0)))
    step("send ia", lambda: editor.send_invoice(s["ia"]))
    step("update ib", lambda: editor.update_invoice(fresh("ib", "Invoice")))
    step("pay part of ia", lambda: s.update(pa=editor.pay(fresh("ia", "Invoice"), 50.0)))
    step("pay all of ib", lambda: s.update(pb=editor.pay(fresh("ib", "Invoice"), 300.0)))
    step("update a", lambda: editor.update_customer(fresh("a", "Customer")))
    step("update payment of ia", lambda: editor.update_payment(fresh("pa", "Payment"), s["ia"], 80.0))
    step("delete payment of ib", lambda: editor.delete_payment(fresh("pb", "Payment"), s["ib"]))
    step("void u1", lambda: editor.void_invoice(fresh("u1", "Invoice")))
    step("delete u2", lambda: (editor.delete_invoice(fresh("u2", "Invoice")),
                               script.deleted_invoices.add(s["u2"]["Id"])))
    step("new person c", lambda: s.update(c=editor.new_customer()))
    step("invoice for c", lambda: s.update(ic=editor.new_invoice(s["c"]["Id"], 60.0)))
    step("new person d", lambda: s.update(d=editor.new_customer()))
    step("deactivate d", lambda: editor.deactivate_customer(fresh("d", "Customer")))
    step("update c0", lambda: editor.update_customer(fresh("c0", "Customer")))
    step("merge c into a", lambda: editor.merge_customers(s["c"], s["a"]) and script.gone_customers.add(s["c"]["Id"]))
    step("update u3", lambda: editor.update_invoice(fresh("u3", "Invoice")))
    step("send u3", lambda: editor.send_invoice(s["u3"]))
    step("update b", lambda: editor.update_customer(fresh("b", "Customer")))
    return script
