"""Line kinds, discounts and tax into product rows whose totals equal QuickBooks' TotalAmt."""
from __future__ import annotations

import pytest

from mappers.errors import MappingError
from tests.mappers.invoice_support import (discount, invoice_with, old, old_total, sale, smart, smart_total,
                                           tax_line)
from tests.mappers.qbo_records import load


def rows(record) -> list[tuple]:
    return [(r["productName"], r["quantity"], round(r["price"], 4), r["discountSum"], r["taxRate"])
            for r in record.product_rows]


def test_a_real_percent_discount_becomes_the_rows_discount():
    receipt = next(r for r in load("sales_receipts_query_all__minimul.json")["QueryResponse"]["SalesReceipt"]
                   if r["Id"] == "38")  # 2.5 x 35 pest control, 10 % off: 78.75
    invoice = invoice_with(receipt["Line"], receipt["TotalAmt"])
    record = smart(invoice)
    assert rows(record) == [("Pest Control", 2.5, 31.5, 3.5, 0.0)]
    assert record.product_rows[0]["discountTypeId"] == 1 and record.product_rows[0]["discountRate"] == 10.0
    assert smart_total(record) == old_total(old(invoice)) == 78.75


def test_a_discount_is_spread_in_proportion_and_to_the_cent():
    invoice = invoice_with([sale(10.0, "A"), sale(10.0, "B"), sale(10.0, "C"), discount(10.0)], 20.0)
    discounts = [r["discountSum"] for r in smart(invoice).product_rows]
    assert sorted(discounts) == [3.33, 3.33, 3.34] and round(sum(discounts), 2) == 10.0
    assert smart_total(smart(invoice)) == 20.0


def test_a_discount_applies_to_the_lines_before_it_only():
    invoice = invoice_with([sale(100.0, "A"), discount(10.0, 10), sale(50.0, "B")], 140.0)
    assert [r["discountSum"] for r in smart(invoice).product_rows] == [10.0, 0.0]
    assert smart_total(smart(invoice)) == 140.0


def test_a_discount_larger_than_its_lines_cannot_be_shown():
    with pytest.raises(MappingError, match="discount"):
        smart(invoice_with([sale(10.0), discount(15.0)], 0))


def test_tax_after_discount_keeps_the_tax_rate():
    lines = [sale(100.0, "A"), sale(50.0, "B", tax="NON"), discount(15.0, 10)]
    invoice = invoice_with(lines, 142.2, tax=7.2, tax_lines=[tax_line(8, 90.0, 7.2)], ApplyTaxAfterDiscount=True)
    assert [r["taxRate"] for r in smart(invoice).product_rows] == [8.0, 0.0]
    assert smart_total(smart(invoice)) == old_total(old(invoice)) == 142.2


def test_tax_before_discount_becomes_one_effective_rate():
    # QuickBooks charges 8 % on the undiscounted 100; Bitrix24 taxes the discounted row, so the rate grows.
    lines = [sale(100.0, "A"), sale(50.0, "B", tax="NON"), discount(15.0, 10)]
    invoice = invoice_with(lines, 143.0, tax=8.0, tax_lines=[tax_line(8, 100.0, 8.0)], ApplyTaxAfterDiscount=False)
    record = smart(invoice)
    assert record.product_rows[0]["taxRate"] == pytest.approx(8.8889) and record.product_rows[1]["taxRate"] == 0
    assert smart_total(record) == old_total(old(invoice)) == 143.0


def test_us_sales_tax_rates_on_one_base_add_up():
    lines = [sale(200.0, "A"), sale(40.0, "B", tax="NON")]
    tax = [tax_line(6, 200.0, 12.0), tax_line(2.25, 200.0, 4.5)]
    record = smart(invoice_with(lines, 256.5, tax=16.5, tax_lines=tax))
    assert [r["taxRate"] for r in record.product_rows] == [8.25, 0.0]
    assert smart_total(record) == 256.5


def test_per_code_rates_are_matched_by_their_taxable_amounts():
    lines = [sale(100.0, "Standard", tax="3"), sale(40.0, "Reduced", tax="5"), sale(10.0, "Zero", tax="7")]
    tax = [tax_line(20, 100.0, 20.0), tax_line(5, 40.0, 2.0)]
    record = smart(invoice_with(lines, 172.0, tax=22.0, tax_lines=tax))
    assert [r["taxRate"] for r in record.product_rows] == [20.0, 5.0, 0.0]
    assert smart_total(record) == 172.0


def test_tax_lines_that_match_no_code_cannot_be_shown():
    lines = [sale(70.0, "A", tax="3"), sale(30.0, "B", tax="5")]
    tax = [tax_line(20, 50.0, 10.0), tax_line(5, 50.0, 2.5)]
    with pytest.raises(MappingError, match="tax cannot be shown") as error:
        smart(invoice_with(lines, 112.5, tax=12.5, tax_lines=tax))
    assert "QuickBooks" in error.value.reason


def test_tax_on_an_invoice_without_taxable_lines_cannot_be_shown():
    with pytest.raises(MappingError, match="none of its lines is taxable"):
        smart(invoice_with([sale(10.0, tax="NON")], 11.0, tax=1.0, tax_lines=[tax_line(10, 10.0, 1.0)]))


def test_an_overridden_tax_amount_still_adds_up():
    record = smart(invoice_with([sale(100.0)], 107.0, tax=7.0, tax_lines=[]))
    assert record.product_rows[0]["taxRate"] == 7.0 and smart_total(record) == 107.0


def test_groups_are_expanded_description_lines_kept_and_subtotals_skipped():
    group = {"Amount": 30.0, "DetailType": "GroupLineDetail", "GroupLineDetail": {
        "GroupItemRef": {"value": "19", "name": "Garden kit"}, "Quantity": 1,
        "Line": [sale(20.0, "Rake", qty=2, price=10), sale(10.0, "Gloves", qty=1, price=10)]}}
    lines = [group, {"DetailType": "DescriptionOnly", "Description": "Delivered Friday", "DescriptionLineDetail": {}},
             {"DetailType": "DescriptionOnly", "Description": " "}, sale(5.0, "Seeds"),
             {"Amount": 35.0, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}]
    record = smart(invoice_with(lines, 35.0))
    assert rows(record) == [("Rake", 2.0, 10.0, 0.0, 0.0), ("Gloves", 1.0, 10.0, 0.0, 0.0),
                            ("Delivered Friday", 1.0, 0.0, 0.0, 0.0), ("Seeds", 1.0, 5.0, 0.0, 0.0)]


def test_a_line_whose_amount_is_not_qty_times_price_keeps_its_amount():
    record = smart(invoice_with([sale(10.0, "Hours", qty=3, price=3.3)], 10.0))  # amount typed over
    assert rows(record) == [("Hours", 1.0, 10.0, 0.0, 0.0)]
    rounded = smart(invoice_with([sale(10.0, "Hours", qty=3, price=3.333)], 10.0))  # QuickBooks rounds to cents
    assert rows(rounded) == [("Hours", 3.0, 3.333, 0.0, 0.0)] and smart_total(rounded) == 10.0


def test_a_percent_discount_without_an_amount_is_computed_from_its_subtotal():
    line = {"DetailType": "DiscountLineDetail", "DiscountLineDetail": {"PercentBased": True, "DiscountPercent": 15}}
    record = smart(invoice_with([sale(40.0, "A"), sale(20.0, "B"), line], 51.0))
    assert [r["discountSum"] for r in record.product_rows] == [6.0, 3.0] and smart_total(record) == 51.0
