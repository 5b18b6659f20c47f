"""Sub-customers (jobs) in real time: which top-level customer an invoice of a job belongs to.

A job has no CRM record of its own; its invoices go on its top-level ancestor's (docs/mapping.md). The full
sync learns every job's parent while it pages through the customers (`cursor["subs"]`); a change pull sees
only what changed, so the parents are kept in `customer_parents` (written at every page's commit, see
sync_state.flush_sync_log) and a job never seen before is read from QuickBooks (`resolve_owners`).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from clients.quickbooks import quoted
from mappers.customer_kind import job_name, parent_id, top_level_id
from store.db import transaction
from store.links import links_for_qbo_ids
from store.models import CustomerParent
from store.upsert import insert_for

if TYPE_CHECKING:
    from workers.sync_state import SyncContext

CUSTOMER = "Customer"  # Link.qbo_type (workers/sync_customers.CUSTOMER; not imported: that module imports us)
MAX_LEVELS = 5  # QuickBooks nests at most four levels under a top-level customer (reference §4, §11)
QUERY_IDS = 1000  # ids per query: MAXRESULTS tops out at 1000 (reference §3)


def remember_subs(session: Session, portal_id: int, subs: Mapping[str, Sequence[str | None]]) -> None:
    """Store (or refresh) sub-customers: qbo_id -> (parent_id, job_name)."""
    rows = [{"portal_id": portal_id, "qbo_id": str(qbo_id), "parent_id": str(parent), "job_name": job or None}
            for qbo_id, (parent, job) in sorted(subs.items())
            if parent]  # a job whose parent QuickBooks did not name has nothing to walk up to
    if not rows:
        return
    statement = insert_for(session, CustomerParent).values(rows)  # one statement a page
    session.execute(statement.on_conflict_do_update(
        index_elements=["portal_id", "qbo_id"],
        set_={"parent_id": statement.excluded.parent_id, "job_name": statement.excluded.job_name}))


def forget_subs(session: Session, portal_id: int, qbo_ids: Iterable[str]) -> None:
    """These customers are top-level now (bound to a CRM record of their own)."""
    wanted = sorted({str(i) for i in qbo_ids})
    if wanted:
        session.execute(delete(CustomerParent).where(CustomerParent.portal_id == portal_id,
                                                     CustomerParent.qbo_id.in_(wanted)))


def known_subs(session: Session, portal_id: int) -> dict[str, list]:
    """Every stored sub-customer, in the shape of `cursor["subs"]`: qbo_id -> [parent_id, job_name]."""
    rows = session.execute(select(CustomerParent.qbo_id, CustomerParent.parent_id, CustomerParent.job_name)
                           .where(CustomerParent.portal_id == portal_id))
    return {qbo_id: [parent, job] for qbo_id, parent, job in rows}


def remember_new_subs(session: Session, ctx: SyncContext, top_level: Iterable[str] = ()) -> None:
    """In the context's commit: the sub-customers it met since its last commit are stored; `top_level`
    customers (bound to a CRM record of their own, maybe a job until now) are jobs no more."""
    top_level = {str(i) for i in top_level}
    subs = ctx.cursor.setdefault("subs", {})
    if top_level:
        forget_subs(session, ctx.portal_id, top_level)
        for qbo_id in top_level:
            subs.pop(qbo_id, None)
            ctx.subs_stored.pop(qbo_id, None)
    new = {qbo_id: value for qbo_id, value in subs.items() if ctx.subs_stored.get(qbo_id) != list(value)}
    if new:
        remember_subs(session, ctx.portal_id, new)
        ctx.subs_stored.update({qbo_id: list(value) for qbo_id, value in new.items()})


def resolve_owners(ctx: SyncContext, customer_ids: set[str]) -> None:
    """Make `top_customer` right for invoices of these customers: the stored jobs first, then the customers
    whose top is neither linked nor known read from QuickBooks, a level of ParentRef at a time."""
    subs = ctx.cursor.setdefault("subs", {})
    with ctx.sessions() as session:
        for qbo_id, value in known_subs(session, ctx.portal_id).items():
            ctx.subs_stored[qbo_id] = value
            subs.setdefault(qbo_id, value)  # what this context met itself is newer
    learnt: dict[str, list] = {}
    wanted = _unplaced(ctx, {str(i) for i in customer_ids if i})
    for _ in range(MAX_LEVELS):
        if not wanted:
            break
        parents = set()
        for customer in _read_customers(ctx, sorted(wanted)):
            parent = parent_id(customer)
            if parent:
                learnt[str(customer["Id"])] = subs[str(customer["Id"])] = [parent, job_name(customer)]
                parents.add(parent)
        wanted = _unplaced(ctx, parents)
    if learnt:
        with transaction(ctx.sessions) as session:
            remember_subs(session, ctx.portal_id, learnt)
        ctx.subs_stored.update(learnt)


def _unplaced(ctx: SyncContext, qbo_ids: set[str]) -> set[str]:
    """The tops of these customers (by the jobs known) that are not linked: QuickBooks must tell."""
    parents = {key: value[0] for key, value in ctx.cursor["subs"].items()}
    tops = {top_level_id(qbo_id, parents) for qbo_id in qbo_ids}
    with ctx.sessions() as session:
        linked = links_for_qbo_ids(session, ctx.portal_id, CUSTOMER, tops)
    return {top for top in tops if top not in linked and top not in ctx.cursor.get("failed_customers", {})}


def _read_customers(ctx: SyncContext, qbo_ids: list[str]) -> list[dict[str, Any]]:
    """The customers, inactive ones too (a query hides them without the filter; reference §3 UNCERTAIN)."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(qbo_ids), QUERY_IDS):
        part = ", ".join(quoted(i) for i in qbo_ids[start:start + QUERY_IDS])
        found += ctx.qbo.query(f"SELECT * FROM Customer WHERE Active IN (true, false) AND Id IN ({part}) "
                               f"MAXRESULTS {QUERY_IDS}")
    return found
