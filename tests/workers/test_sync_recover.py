"""Recovery by origin marker when a list method ignores a filter it does not know instead of refusing it."""
from __future__ import annotations

from types import SimpleNamespace

from clients.bitrix24_batch import BatchResult
from mappers.origin import invoice_xml_id
from workers.sync_recover import recover_invoices


class IgnoresInFilter:
    """crm.invoice.list on a portal that drops `@XML_ID` silently: the first page of every invoice comes back."""

    def __init__(self, held: dict[str, str]) -> None:
        self.held, self.requests = held, []

    def batch(self, commands: dict) -> BatchResult:
        self.requests.append(commands)
        results = {}
        for name, (_, params) in commands.items():
            wanted = params["filter"].get("XML_ID")
            rows = [{"ID": i, "XML_ID": x} for x, i in self.held.items() if wanted in (None, x)]
            results[name] = rows[:50]
        return BatchResult(results=results)


def test_an_ignored_in_filter_falls_back_to_one_marker_a_command() -> None:
    held = {invoice_xml_id("r1", str(n)): str(1000 + n) for n in range(1, 121)}  # beyond one 50-row page
    wanted = [SimpleNamespace(qbo_id=str(n), entity="invoice", fields={"XML_ID": invoice_xml_id("r1", str(n))})
              for n in (3, 77, 120)]
    b24 = IgnoresInFilter(held)
    found = recover_invoices(SimpleNamespace(b24=b24), wanted)
    assert found == {"3": "1003", "77": "1077", "120": "1120"}
