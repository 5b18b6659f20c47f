"""Origin markers: the exact strings of contract §1, and parsing that refuses what is not ours."""
from __future__ import annotations

import pytest

from mappers.origin import invoice_xml_id, origin_id, originator_id, parse_origin, parse_xml_id


def test_markers_have_the_contract_shapes():
    assert originator_id("9130354") == "qb24:9130354"
    assert origin_id("Customer", "58") == "Customer:58"
    assert origin_id("Customer", "58", "person") == "Customer:58:person"
    assert invoice_xml_id("9130354", "266") == "qb24:9130354:Invoice:266"


def test_markers_parse_back():
    assert parse_xml_id(invoice_xml_id("9130354", "266")) == ("9130354", "266")
    assert parse_origin(originator_id("9130354"), origin_id("Customer", "58")) == ("9130354", "Customer", "58", None)
    assert parse_origin("qb24:1", "Customer:58:person") == ("1", "Customer", "58", "person")


@pytest.mark.parametrize("text", [None, "", "1C:Invoice:5", "qb24:1:Payment:5", "qb24::Invoice:5",
                                  "qb24:1:Invoice:", "qb24:1:Invoice:5:extra", "xqb24:1:Invoice:5"])
def test_foreign_xml_ids_are_not_ours(text):
    assert parse_xml_id(text) is None


@pytest.mark.parametrize("originator,origin", [
    (None, "Customer:1"), ("", "Customer:1"), ("1c:5", "Customer:1"), ("qb24:", "Customer:1"),
    ("qb24:1:2", "Customer:1"), ("qb24:1", None), ("qb24:1", "Customer"), ("qb24:1", "Customer:1:person:x"),
])
def test_foreign_origins_are_not_ours(originator, origin):
    assert parse_origin(originator, origin) is None
