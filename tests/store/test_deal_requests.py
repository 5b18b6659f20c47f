"""Deal follow-through requests on SQLite and PostgreSQL: one request per click, claimed once, in its window,
first come first served."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from store import deal_requests
from store.db import transaction
from store.deal_requests import deal_for_invoice, remember_deal, waiting_customers
from store.models import DealRequest
from store.portals import ensure_portal

DAY = timedelta(hours=24)


def _portal_id(sessions, member_id: str = "m-1") -> int:
    with transaction(sessions) as session:
        return ensure_portal(session, member_id=member_id, domain=f"{member_id}.bitrix24.com",
                             client_endpoint=f"https://{member_id}.bitrix24.com/rest/",
                             server_endpoint="https://oauth.bitrix.info/rest/").id


def _remember(sessions, portal_id: int, deal_id: str, customer: str = "58",
              window: timedelta = DAY) -> DealRequest:
    with transaction(sessions) as session:
        return remember_deal(session, portal_id, deal_id, customer, "1", window)


def _claim(sessions, portal_id: int, invoice_id: str, created_at: datetime, customers=("58",)) -> str | None:
    with transaction(sessions) as session:
        return deal_for_invoice(session, portal_id, list(customers), invoice_id, created_at)


def _waiting(sessions, portal_id: int) -> set[str]:
    with sessions() as session:
        return waiting_customers(session, portal_id)


def _count(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(DealRequest))


def test_a_double_click_remembers_one_request(sessions):
    portal_id = _portal_id(sessions)
    first = _remember(sessions, portal_id, "12")
    again = _remember(sessions, portal_id, "12", window=timedelta(hours=48))
    # nothing replaced, nothing stretched
    assert again.id == first.id and again.expires_at == first.expires_at
    assert _remember(sessions, portal_id, "13").id != first.id  # another deal of the same customer
    assert _remember(sessions, portal_id, "12", customer="59").id != first.id
    assert _count(sessions) == 3


def test_concurrent_clicks_remember_one_request(sessions):
    portal_id = _portal_id(sessions)
    start, made, errors = threading.Barrier(6), [], []

    def click() -> None:
        try:
            start.wait(10)
            made.append(_remember(sessions, portal_id, "12").id)
        except Exception as error:  # noqa: BLE001 - the assertion below names it
            errors.append(error)

    threads = [threading.Thread(target=click) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors and len(made) == 6 and len(set(made)) == 1
    assert _count(sessions) == 1


def test_a_request_takes_an_invoice_created_inside_its_window_only(sessions):
    portal_id = _portal_id(sessions)
    request = _remember(sessions, portal_id, "12", window=timedelta(hours=2))
    at, until = request.requested_at, request.expires_at
    assert _claim(sessions, portal_id, "201", at - timedelta(seconds=1)) is None  # made before the click
    assert _claim(sessions, portal_id, "202", until) is None  # the window's end is outside it
    assert _claim(sessions, portal_id, "203", at, customers=("77",)) is None  # another customer's invoice
    # the click's own second: CreateTime has whole seconds, so it may read earlier than requested_at
    assert _claim(sessions, portal_id, "204", at.replace(microsecond=0)) == "12"
    assert _claim(sessions, portal_id, "205", at + timedelta(minutes=5)) is None  # taken once


def test_an_expired_request_takes_nothing_but_an_invoice_made_in_time_still_links_late(sessions):
    portal_id = _portal_id(sessions)
    request = _remember(sessions, portal_id, "12", window=timedelta(hours=1))
    later = request.requested_at + timedelta(hours=3)
    assert _claim(sessions, portal_id, "301", later) is None
    # the pull (or a full sync) may come hours later: what counts is when QuickBooks created the invoice
    assert _claim(sessions, portal_id, "302", request.requested_at + timedelta(minutes=59)) == "12"


def test_first_come_first_served_and_a_retried_create_gets_its_claim_back(sessions):
    portal_id = _portal_id(sessions)
    first = _remember(sessions, portal_id, "12")
    _remember(sessions, portal_id, "13")
    assert _waiting(sessions, portal_id) == {"58"}
    soon = first.requested_at + timedelta(minutes=1)
    assert _claim(sessions, portal_id, "401", soon) == "12"
    assert _claim(sessions, portal_id, "401", soon) == "12"  # the same invoice again: its own claim
    assert _claim(sessions, portal_id, "402", soon) == "13"
    assert _claim(sessions, portal_id, "403", soon) is None
    assert _waiting(sessions, portal_id) == set()
    with sessions() as session:
        rows = session.scalars(select(DealRequest).order_by(DealRequest.id)).all()
    assert [(r.deal_id, r.invoice_qbo_id) for r in rows] == [("12", "401"), ("13", "402")]
    assert all(r.linked_at is not None for r in rows)


def test_a_sub_customers_invoice_takes_its_top_level_customers_request(sessions):
    portal_id = _portal_id(sessions)
    request = _remember(sessions, portal_id, "12", customer="58")
    # the worker passes the invoice's own customer (a job, 61) and its top-level ancestor (58)
    assert _claim(sessions, portal_id, "501", request.requested_at, customers=("61", "58")) == "12"


def test_requests_are_per_portal(sessions):
    mine, other = _portal_id(sessions, "m-1"), _portal_id(sessions, "m-2")
    request = _remember(sessions, mine, "12")
    assert _claim(sessions, other, "601", request.requested_at) is None
    assert _claim(sessions, mine, "601", request.requested_at) == "12"


def test_two_workers_racing_for_one_request_link_one_invoice(sessions, monkeypatch):
    portal_id = _portal_id(sessions)
    request = _remember(sessions, portal_id, "12")
    both_read, real = threading.Barrier(2), deal_requests._candidates

    def read_then_wait(*args):
        found = real(*args)
        both_read.wait(10)  # both workers saw the request open before either claims it
        return found

    monkeypatch.setattr(deal_requests, "_candidates", read_then_wait)
    won: dict[str, str | None] = {}

    def worker(invoice_id: str) -> None:
        won[invoice_id] = _claim(sessions, portal_id, invoice_id, request.requested_at)

    threads = [threading.Thread(target=worker, args=(invoice_id,)) for invoice_id in ("701", "702")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(won) == 2 and sorted(map(str, won.values())) == ["12", "None"]
    with sessions() as session:
        claimed = session.scalar(select(DealRequest.invoice_qbo_id))
    assert won[claimed] == "12"
