"""An invoice whose QuickBooks lines all went away loses its product rows in Bitrix24 too (both kinds)."""
from __future__ import annotations

from pathlib import Path

import pytest

from clients.bitrix24_errors import QueryLimitExceeded
from tests.workers.sync_support import connected_rig
from workers.full_sync import run_full_sync


def _sync(rig) -> str:
    qbo, b24 = rig.clients()
    return run_full_sync(rig.sessions, rig.new_run("full"), qbo=qbo, b24=b24)


def _rows(b24, link) -> list:
    """The invoice's product rows as Bitrix24 holds them, read back through its REST API."""
    if link.b24_type == "smart_invoice":
        return b24.call("crm.item.productrow.list", {
            "filter": {"=ownerType": "SI", "=ownerId": int(link.b24_id)}}).result["productRows"]
    return b24.call("crm.invoice.get", {"id": link.b24_id}).result["PRODUCT_ROWS"]


@pytest.mark.parametrize("use_new_invoice", [True, False], ids=["smart_invoice", "old_invoice"])
def test_rows_quickbooks_no_longer_has_are_removed(tmp_path: Path, use_new_invoice: bool) -> None:
    with connected_rig(tmp_path) as rig:
        rig.set_settings(use_new_invoice=use_new_invoice)
        entity = "smart_invoice" if use_new_invoice else "invoice"
        assert _sync(rig) == "done"
        qbo, b24 = rig.clients()
        link = next(l for l in rig.links() if l.qbo_type == "Invoice" and l.b24_type == entity and l.content_hash)
        assert _rows(b24, link)
        invoice = qbo.get("Invoice", link.qbo_id)
        blank = [{"DetailType": "DescriptionOnly", "Description": " ", "DescriptionLineDetail": {}}]
        qbo.sparse_update("Invoice", link.qbo_id, invoice["SyncToken"], {"Line": blank})
        assert _sync(rig) == "done"
        assert _rows(b24, link) == []
        assert next(l for l in rig.links() if l.qbo_id == link.qbo_id and l.b24_type == entity).content_hash


def test_a_limit_error_while_clearing_rows_leaves_the_run_to_resume_not_the_record_failed(tmp_path: Path) -> None:
    """Clearing is a call of its own after the page's batch: a limit or server error there is transient,
    so the run stays running (the task retries it) and the resumed run clears the rows."""
    with connected_rig(tmp_path, "sqlite") as rig:
        assert _sync(rig) == "done"
        qbo, b24 = rig.clients()
        link = next(l for l in rig.links() if l.qbo_type == "Invoice" and l.b24_type == "smart_invoice")
        invoice = qbo.get("Invoice", link.qbo_id)
        blank = [{"DetailType": "DescriptionOnly", "Description": " ", "DescriptionLineDetail": {}}]
        qbo.sparse_update("Invoice", link.qbo_id, invoice["SyncToken"], {"Line": blank})
        real_call = b24.call

        def limited(method, params=None):
            if method == "crm.item.productrow.set":
                raise QueryLimitExceeded("QUERY_LIMIT_EXCEEDED", "Too many requests", 503)
            return real_call(method, params)

        b24.call = limited
        run_id = rig.new_run("full")
        with pytest.raises(QueryLimitExceeded):
            run_full_sync(rig.sessions, run_id, qbo=qbo, b24=b24)
        assert rig.run(run_id).status == "running" and _rows(b24, link)
        b24.call = real_call
        assert run_full_sync(rig.sessions, run_id, qbo=qbo, b24=b24) == "done"
        assert _rows(b24, link) == []
        assert link.qbo_id not in {f["qbo_id"] for f in rig.run(run_id).report["failures"]}
