"""The demo's Bitrix24 → QuickBooks part prints only what it saw on the Create Invoice page."""
from __future__ import annotations

import pytest

from qb24.demo_b2q import new_invoice_link

PAGE = ('<p>The invoice is made out to <b id="customer-name">Imogen Thistlewood</b>.</p>'
        '<p><a id="open-invoice" href="http://127.0.0.1:5/app/invoice?nameId=89"{target}>Open</a></p>')


def test_the_new_invoice_link_is_read_from_the_page() -> None:
    link = new_invoice_link(PAGE.format(target=' target="_blank" rel="noopener"'))
    assert link.href == "http://127.0.0.1:5/app/invoice?nameId=89"


@pytest.mark.parametrize("target", ["", ' target="appframe"'])
def test_a_link_that_would_not_open_a_new_tab_stops_the_demo(target: str) -> None:
    """The demo says the screen "opens in a new tab" (QuickBooks cannot be framed): a link that would open
    inside the portal's frame must stop it, not be printed as working."""
    with pytest.raises(RuntimeError, match="new tab"):
        new_invoice_link(PAGE.format(target=target))


def test_a_page_without_the_link_stops_the_demo() -> None:
    with pytest.raises(RuntimeError, match="no link to QuickBooks' new-invoice screen"):
        new_invoice_link("<p>This portal is not connected to QuickBooks.</p>")
