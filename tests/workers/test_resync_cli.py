"""`qb24 resync --portal <member_id> [--dry-run]`: the same run row and engine as Start sync, in this
process, its progress and report on the terminal; refused while a run is active."""
from __future__ import annotations

import re

from click.testing import CliRunner
from sqlalchemy import select

from mappers.customer import is_sub_customer
from qb24.cli import main
from store.db import transaction
from store.models import QboConnection, SyncRun
from tests.workers.entry_support import Connected, connected_stack, settings_env

REPORT_ROW = re.compile(r"^  (customers|invoices) +created (\d+)  updated (\d+)  unchanged (\d+)  failed (\d+)", re.M)


def _resync(app: Connected, *args: str):
    env = settings_env(app.stack.settings)
    return CliRunner().invoke(main, ["resync", "--portal", app.stack.b24.default_member_id, *args], env=env)


def test_resync_prints_progress_and_the_report_and_a_second_run_changes_nothing(tmp_path):
    with connected_stack(f"sqlite:///{tmp_path / 'qb24.db'}", worker=False) as app:
        first = _resync(app)
        assert first.exit_code == 0, first.output
        lines = first.output.splitlines()
        assert lines[0].startswith("Sync run 1 for portal ")
        assert re.search(r"^Sync run 1 \(full\): done$", first.output, re.M)
        rows = {kind: tuple(map(int, counts)) for kind, *counts in REPORT_ROW.findall(first.output)}
        assert rows["customers"][0] > 0 and rows["invoices"][0] > 0
        assert re.search(r"^Failures \(\d+\):\n  Invoice \d+ 'Invoice \d+': The portal has no currency", first.output, re.M)
        created = len(app.b24_ids("crm.item.list"))
        assert created == rows["invoices"][0]  # what the report says was created is what Bitrix24 holds
        second = _resync(app)
        again = {kind: tuple(map(int, counts)) for kind, *counts in REPORT_ROW.findall(second.output)}
        assert again["invoices"][:2] == (0, 0) and again["invoices"][2] == rows["invoices"][0]
        assert len(app.b24_ids("crm.item.list")) == created


def test_a_first_run_reports_sub_customers_as_placed_on_their_parent_not_unchanged(tmp_path):
    with connected_stack(f"sqlite:///{tmp_path / 'qb24.db'}", worker=False) as app:
        result = _resync(app)
        assert result.exit_code == 0, result.output
        run = app.runs()[-1]
        with app.services.sessions() as session:
            realm_id = session.scalar(select(QboConnection.realm_id))
        qbo = app.services.quickbooks_client(realm_id)
        subs = sum(is_sub_customer(c) for _, page in qbo.query_pages("Customer", "Active IN (true, false)")
                   for c in page)
        assert subs > 0  # the sample company has jobs
        customers = run.report["customers"]
        assert (customers["skipped"], customers["placed"]) == (0, subs)  # nothing was there to be unchanged
        counters = run.counters
        outcomes = sum(counters[c] for c in ("imported", "updated", "skipped", "failed", "placed"))
        assert counters["done"] == outcomes == counters["total"]
        assert re.search(rf"^  customers +created \d+  updated 0  unchanged 0  failed \d+  matched \d+  "
                         rf"placed on parent {subs}$", result.output, re.M)
        assert re.search(r"^  invoices +created \d+  updated 0  unchanged 0  failed \d+$", result.output, re.M)


def test_resync_dry_run_writes_nothing_and_says_what_it_would_do(tmp_path):
    with connected_stack(f"sqlite:///{tmp_path / 'qb24.db'}", worker=False) as app:
        result = _resync(app, "--dry-run")
        assert result.exit_code == 0, result.output
        assert "(dry run: nothing is written to Bitrix24)" in result.output.splitlines()[0]
        assert re.search(r"^  invoices +would create [1-9]\d*  would update 0", result.output, re.M)
        assert app.b24_ids("crm.item.list") == set() and app.links() == []


def test_resync_runs_a_queued_run_no_worker_took_and_refuses_unknown_portals(tmp_path):
    # Refused only while another process runs the sync (tests/workers/test_sync_lease.py).
    with connected_stack(f"sqlite:///{tmp_path / 'qb24.db'}", worker=False) as app:
        assert "Sync queued." in app.start()  # no worker here: it stays pending
        result = _resync(app)
        assert result.exit_code == 0, result.output
        assert "Run 1 (sync, pending) was left unfinished with no process running it" in result.output
        with transaction(app.services.sessions) as session:
            assert [(r.id, r.status) for r in session.query(SyncRun)] == [(1, "done")]
        unknown = CliRunner().invoke(main, ["resync", "--portal", "nope"], env=settings_env(app.stack.settings))
        assert unknown.exit_code == 1 and "No installed portal with member_id nope." in unknown.output
