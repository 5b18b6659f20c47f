"""The deal follow-through field of a new invoice: parentId2 (Smart Invoice) or UF_DEAL_ID (old invoice)."""
from __future__ import annotations

from mappers.invoice import OLD_INVOICE, SMART_INVOICE, deal_link_fields


def test_a_smart_invoice_joins_its_deal_through_parent_id_2():
    # reference §6: parentId2 is the deal (entityTypeId 2); crm.item ids are numbers
    assert deal_link_fields(SMART_INVOICE, "12") == {"parentId2": 12}


def test_an_old_invoice_joins_its_deal_through_uf_deal_id():
    # crm-invoice-fields.md: UF_DEAL_ID "Identifier of the associated deal" (integer)
    assert deal_link_fields(OLD_INVOICE, "12") == {"UF_DEAL_ID": 12}


def test_no_deal_adds_no_field():
    # never an empty parentId2: crm.item.update/add unbinds a parent whose field is passed empty
    assert deal_link_fields(SMART_INVOICE, None) == {} == deal_link_fields(OLD_INVOICE, "")
