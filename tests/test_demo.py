"""`make demo`'s job: connect over OAuth and read the whole sample company through the client."""
from __future__ import annotations

from datetime import date

from mappers.invoice_status import InvoiceStatus
from qb24.demo import run_demo
from sandbox.quickbooks.company import sample_company


def test_demo_reads_the_whole_sample_company(tmp_path):
    lines: list[str] = []
    summary = run_demo(f"sqlite:///{tmp_path / 'demo.db'}", echo=lines.append)
    company = sample_company(date.today())
    assert summary["customers"] == len(company.customers)
    assert summary["invoices"] == len(company.invoices) >= 40
    statuses = summary["invoice_statuses"]
    assert statuses[InvoiceStatus.DELETED.value] == len(company.deleted_invoices)
    assert all(statuses.get(status.value, 0) >= 5 for status in InvoiceStatus)
    assert lines[0].startswith("Connected QuickBooks company") and "over OAuth" in lines[0]
    assert (tmp_path / "demo.db").exists()
    assert lines[-1].startswith("Bitrix24 sandbox portal: http://127.0.0.1:")
