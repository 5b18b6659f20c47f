"""The real-time helpers' pure parts: the stored setting read safely, payments' invoices, the sync log's flush."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from store.db import make_engine, make_session_factory, migrate, transaction
from store.models import CustomerParent, Portal, SyncFailure
from workers.change_payments import linked_invoices, note_invoice_payments
from workers.portal_settings import effective_settings
from workers.sync_state import Binding, SyncContext, empty_report, flush_sync_log


def test_on_invoice_delete_defaults_to_the_stage_and_never_acts_on_junk():
    assert effective_settings({}, [])["on_invoice_delete"] == "stage"
    assert effective_settings({"on_invoice_delete": "remove"}, [])["on_invoice_delete"] == "remove"
    assert effective_settings({"on_invoice_delete": "shred"}, [])["on_invoice_delete"] == "stage"


def test_a_payment_names_its_invoices_and_an_invoice_its_payments():
    payment = {"Id": "7", "Line": [{"Amount": 5, "LinkedTxn": [{"TxnId": "1", "TxnType": "Invoice"}]},
                                   {"Amount": 1, "LinkedTxn": [{"TxnId": "9", "TxnType": "CreditMemo"}]},
                                   {"Amount": 2, "LinkedTxn": [{"TxnId": "2", "TxnType": "Invoice"}]}]}
    assert linked_invoices(payment) == {"1", "2"}
    seen: dict[str, set[str]] = {}
    note_invoice_payments(seen, [{"Id": "1", "LinkedTxn": [{"TxnId": "7", "TxnType": "Payment"},
                                                          {"TxnId": "3", "TxnType": "Estimate"}]},
                                 {"Id": "2", "LinkedTxn": [{"TxnId": "7", "TxnType": "Payment"}]}, {"Id": "4"}])
    assert seen == {"7": {"1", "2"}}


def _ctx(sessions: Any, portal_id: int) -> SyncContext:
    return SyncContext(sessions=sessions, run_id=None, portal_id=portal_id, member_id="m", realm_id="1",
                       qbo=None, b24=None, dry_run=False, today=date(2026, 1, 1), page_size=1000,  # type: ignore[arg-type]
                       stored_settings={}, cursor={"subs": {}, "failed_customers": {}, "report": empty_report(False)},
                       counters={})


def _one_portal(tmp_path) -> tuple[Any, Any, int]:
    """A migrated SQLite store holding one installed portal: (engine, sessions, portal id)."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        portal = Portal(member_id="m", domain="m.example", client_endpoint="https://m.example/rest/",
                        server_endpoint="https://oauth.example/rest/", status="installed")
        session.add(portal)
        session.flush()
        portal_id = portal.id
    return engine, sessions, portal_id


def test_the_flush_logs_failures_clears_written_records_and_stores_jobs(tmp_path):
    engine, sessions, portal_id = _one_portal(tmp_path)
    ctx = _ctx(sessions, portal_id)
    ctx.fail("invoices", "Invoice", "1", "Invoice 1001", "no GBP")
    ctx.fail("invoices", "Invoice", "2", "Invoice 1002", "no GBP")
    ctx.cursor["subs"]["5"] = ["4", "Parent:Job"]
    with transaction(sessions) as session:
        flush_sync_log(session, ctx, [])
    ctx.fail("invoices", "Invoice", "3", "Invoice 1003", "refused, then written in the same commit")
    ctx.cursor["subs"]["6"] = ["5", "Parent:Job:Phase"]
    written = [Binding("Invoice", "1", "smart_invoice", "11", "hash"),
               Binding("Invoice", "3", "smart_invoice", "13", "h"),
               Binding("Invoice", "2", "smart_invoice", "12", None),  # rows failed: no hash, stays logged
               Binding("Customer", "5", "company", "50", "h")]       # the job became a top-level customer
    with transaction(sessions) as session:
        flush_sync_log(session, ctx, written)
    with sessions() as session:
        assert {f.qbo_id: f.reason for f in session.scalars(select(SyncFailure))} == {"2": "no GBP"}
        assert {r.qbo_id: r.parent_id for r in session.scalars(select(CustomerParent))} == {"6": "5"}
    assert ctx.noted_failures == [] and "5" not in ctx.cursor["subs"]
    engine.dispose()


def test_a_dry_run_predicts_failures_without_logging_them(tmp_path):
    """A dry run writes nothing: its failures are in its report, never in the sync log (whose Retry writes)."""
    engine, sessions, portal_id = _one_portal(tmp_path)
    ctx = _ctx(sessions, portal_id)
    ctx.dry_run = True
    ctx.fail("invoices", "Invoice", "1", "Invoice 1001", "no GBP")
    with transaction(sessions) as session:
        flush_sync_log(session, ctx, [])
    with sessions() as session:
        assert list(session.scalars(select(SyncFailure))) == []
    assert ctx.report["failures"][0]["qbo_id"] == "1" and ctx.noted_failures == []
    engine.dispose()
