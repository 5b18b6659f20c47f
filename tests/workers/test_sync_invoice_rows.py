"""An invoice whose QuickBooks lines all went away loses its product rows in Bitrix24 too (both kinds)."""
from __future__ import annotations

from pathlib import Path

import pytest

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
