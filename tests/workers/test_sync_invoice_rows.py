"""A Smart Invoice whose QuickBooks lines all went away loses its product rows in Bitrix24 too."""
from __future__ import annotations

from pathlib import Path

from tests.workers.sync_support import connected_rig
from workers.full_sync import run_full_sync


def _sync(rig) -> str:
    qbo, b24 = rig.clients()
    return run_full_sync(rig.sessions, rig.new_run("full"), qbo=qbo, b24=b24)


def test_rows_quickbooks_no_longer_has_are_removed(tmp_path: Path) -> None:
    with connected_rig(tmp_path) as rig:
        assert _sync(rig) == "done"
        qbo, b24 = rig.clients()
        link = next(l for l in rig.links() if l.qbo_type == "Invoice" and l.b24_type == "smart_invoice")
        rows = lambda: b24.call("crm.item.productrow.list", {  # noqa: E731
            "filter": {"=ownerType": "SI", "=ownerId": int(link.b24_id)}}).result["productRows"]
        assert rows()
        invoice = qbo.get("Invoice", link.qbo_id)
        blank = [{"DetailType": "DescriptionOnly", "Description": " ", "DescriptionLineDetail": {}}]
        qbo.sparse_update("Invoice", link.qbo_id, invoice["SyncToken"], {"Line": blank})
        assert _sync(rig) == "done"
        assert rows() == []
