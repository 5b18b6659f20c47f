"""customer_refs on SQLite and PostgreSQL, and customer_for reading links, person links and refs."""
from __future__ import annotations

from sqlalchemy import select

from store.customer_refs import ref_for, refer
from store.db import transaction
from store.links import bind
from store.models import CustomerRef
from store.portals import ensure_portal
from workers.customer_export import customer_for


def _portal_id(sessions, member_id: str = "m-1") -> int:
    with transaction(sessions) as session:
        return ensure_portal(session, member_id=member_id, domain=f"{member_id}.bitrix24.com",
                             client_endpoint=f"https://{member_id}.bitrix24.com/rest/",
                             server_endpoint="https://oauth.bitrix.info/rest/").id


def test_refer_is_an_idempotent_upsert_per_record(sessions):
    portal_id = _portal_id(sessions)
    for qbo_id in ("58", "58", "61"):
        with transaction(sessions) as session:
            refer(session, portal_id=portal_id, b24_type="lead", b24_id="7", qbo_id=qbo_id)
    with sessions() as session:
        assert [(r.b24_id, r.qbo_id) for r in session.scalars(select(CustomerRef))] == [("7", "61")]
        assert ref_for(session, portal_id, "lead", "7").qbo_id == "61"
        assert ref_for(session, portal_id, "contact", "7") is None  # contact 7 is another record


def test_customer_for_reads_the_link_the_person_link_then_the_ref_of_this_portal_only(sessions):
    portal_id, other = _portal_id(sessions), _portal_id(sessions, "m-2")
    with transaction(sessions) as session:
        bind(session, portal_id=portal_id, qbo_type="Customer", qbo_id="10", b24_type="company", b24_id="3")
        bind(session, portal_id=portal_id, qbo_type="CustomerPerson", qbo_id="10", b24_type="contact", b24_id="4")
        bind(session, portal_id=portal_id, qbo_type="Invoice", qbo_id="99", b24_type="smart_invoice", b24_id="5")
        refer(session, portal_id=portal_id, b24_type="contact", b24_id="6", qbo_id="10")
        refer(session, portal_id=portal_id, b24_type="lead", b24_id="3", qbo_id="12")
    with sessions() as session:
        assert customer_for(session, portal_id, "company", "3") == "10"
        assert customer_for(session, portal_id, "contact", "4") == "10"  # a company's person invoices to it
        assert customer_for(session, portal_id, "contact", "6") == "10"
        assert customer_for(session, portal_id, "lead", "3") == "12"
        assert customer_for(session, portal_id, "smart_invoice", "5") is None
        assert customer_for(session, portal_id, "contact", "9") is None
        assert customer_for(session, other, "company", "3") is None
