"""The app page's real-time part against both sandboxes: the last change, the sync log and its Retry
(session, CSRF, admin, the portal's own rows only, the task really queued), the invoice-deletion setting."""
from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from kombu.exceptions import OperationalError
from sqlalchemy import select

from store.db import transaction
from store.models import QboConnection, SyncFailure, utcnow
from store.portals import ensure_portal
from store.sync_log import record_failure
from tests.webhooks.test_pages import queued_tasks, sandboxes, valid_form, world  # noqa: F401 - fixtures
from workers.celery_app import RETRY_RECORD, REALTIME_QUEUE

REASON = "Currency EUR is not in this portal; add it in CRM settings, then retry."


def queued_retries(world) -> list[tuple[str, list]]:
    """What waits in the app's realtime queue (no worker runs), taken off it."""
    return queued_tasks(world, REALTIME_QUEUE)


def log_failures(world) -> tuple[int, int]:
    """Three failures of the world's portal (newest last) and one of another portal: (portal id, other's id)."""
    now = utcnow()
    with transaction(world.sessions) as session:
        portal = world.portal(session)
        other = ensure_portal(session, member_id="other-portal", domain="other.example",
                              client_endpoint="https://other.example/rest/", server_endpoint="https://o.example/rest/")
        session.flush()
        for n, (qbo_type, qbo_id, name) in enumerate([("Customer", "58", "Amy's Bird Sanctuary"),
                                                      ("Payment", "77", None), ("Invoice", "130", "1037 <Amy's>")]):
            record_failure(session, portal.id, qbo_type, qbo_id, name, REASON if qbo_type == "Invoice" else "Refused.")
        record_failure(session, other.id, "Invoice", "999", "Theirs", "Not yours.")
        # a known order: the invoice failed last (and twice), the customer first
        for row, age in zip(session.scalars(select(SyncFailure).where(SyncFailure.portal_id == portal.id)
                                            .order_by(SyncFailure.id)), (300, 200, 100)):
            row.last_at = now - timedelta(seconds=age)
        record_failure(session, portal.id, "Invoice", "130", "1037 <Amy's>", REASON)
        return portal.id, other.id


def connected(world) -> None:
    world.open_app()
    world.connect_quickbooks()


def retry(world, csrf: str | None = "", **fields: str):
    form = {"qbo_type": "Invoice", "qbo_id": "130", **fields}
    if csrf is not None:
        form["csrf_token"] = csrf or world.csrf()
    return world.client.post("/bitrix24/app/sync/retry", data=form)


def test_the_page_shows_the_last_change_and_the_portals_sync_log_newest_first(world):
    connected(world)
    html = world.client.get("/bitrix24/app").get_data(as_text=True)
    assert "<b>Last change:</b> none yet." in html and 'id="sync-log-empty"' in html
    log_failures(world)
    with transaction(world.sessions) as session:
        session.scalar(select(QboConnection)).last_change = {
            "entity": "Invoice", "qbo_id": "130", "name": "1037", "what": "stage",
            "at": "2026-12-01T10:15:30.250000+00:00", "changed_at": "2026-12-01T02:15:29-08:00"}
    html = world.client.get("/bitrix24/app").get_data(as_text=True)
    last = " ".join(unescape(re.search(r'<p id="last-change">(.*?)</p>', html, re.S).group(1)).split())
    assert last == ('<b>Last change:</b> QuickBooks invoice 130 (1037) was updated in Bitrix24, in the stage of its QuickBooks status. '
                    '<span class="meta">(Dec 1, 2026, 10:15:30 AM UTC)</span>')  # English: no LANG
    assert "3 QuickBooks records could not be written to Bitrix24." in " ".join(html.split())
    rows = re.findall(r'<tr data-record="([^"]+)"><th scope="row">([^<]+)</th>\s*<td>([^<]*)</td><td>([^<]*)</td>'
                      r'<td>(\d+)</td><td>([^<]*)</td>', html)
    assert [(r[0], r[1], unescape(r[2]), r[4]) for r in rows] == [
        ("Invoice-130", "Invoice 130", "1037 <Amy's>", "2"), ("Payment-77", "Payment 77", "", "1"),
        ("Customer-58", "Customer 58", "Amy's Bird Sanctuary", "1")]
    assert unescape(rows[0][3]) == REASON and re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d:\d\d\s[AP]M UTC", rows[0][5])
    assert 'id="retry-Invoice-130"' in html and 'id="retry-Customer-58"' in html
    assert 'id="retry-Payment-77"' not in html  # a payment is re-applied through its invoices
    assert "Theirs" not in html and "999" not in html  # another portal's log
    assert "&lt;Amy&#39;s&gt;" in html  # names are escaped


def test_retry_queues_the_record_on_the_realtime_queue(world):
    connected(world)
    portal_id, _ = log_failures(world)
    response = retry(world)
    assert response.status_code == 303 and response.headers["Location"].endswith("/bitrix24/app")
    assert queued_retries(world) == [(RETRY_RECORD, [portal_id, "Invoice", "130"])]
    page = world.client.get("/bitrix24/app").get_data(as_text=True)
    assert "Retry queued: QuickBooks invoice 130 is applied again in a few seconds" in page
    assert retry(world, qbo_type="Customer", qbo_id="58").status_code == 303
    assert queued_retries(world) == [(RETRY_RECORD, [portal_id, "Customer", "58"])]
    with world.sessions() as session:  # the row stays until the record is written
        assert session.scalar(select(SyncFailure).where(SyncFailure.qbo_id == "130")).attempts == 2


@pytest.mark.parametrize("case, fields, status", [
    ("no CSRF token", {"csrf": None}, 403),
    ("another portal's failure", {"qbo_id": "999"}, 404),
    ("not in the log", {"qbo_id": "131"}, 404),
    ("a payment", {"qbo_type": "Payment", "qbo_id": "77"}, 400),
    ("unknown type", {"qbo_type": "Vendor"}, 400),
    ("id not digits", {"qbo_id": "130 OR 1=1"}, 400),
    ("id too long", {"qbo_id": "1" * 33}, 400),
])
def test_retry_refusals_queue_nothing(world, case, fields, status):
    connected(world)
    log_failures(world)
    response = retry(world, **fields) if "csrf" not in fields else retry(world, csrf=fields["csrf"])
    assert response.status_code == status, case
    assert queued_retries(world) == []


def test_retry_needs_a_session(world):
    connected(world)
    log_failures(world)
    stranger = world.app.test_client()  # no session cookie
    response = stranger.post("/bitrix24/app/sync/retry", data={"csrf_token": world.csrf(), "qbo_type": "Invoice",
                                                               "qbo_id": "130"})
    assert response.status_code == 401
    assert queued_retries(world) == []


def test_retry_the_broker_refuses_is_a_clear_503(world, monkeypatch):
    connected(world)
    log_failures(world)
    csrf = world.csrf()

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis:6379. Connection refused.")
    monkeypatch.setattr(world.app.extensions["qb24"].celery, "send_task", broker_down)
    response = retry(world, csrf=csrf)
    assert response.status_code == 503
    assert "The retry could not be queued: the task queue did not answer." in response.get_data(as_text=True)
    with world.sessions() as session:
        assert session.scalar(select(SyncFailure).where(SyncFailure.qbo_id == "130")) is not None


@pytest.mark.parametrize("choice", ["remove", "stage"])
def test_the_invoice_deletion_choice_is_saved(world, choice):
    connected(world)
    response = world.client.post("/bitrix24/app/settings", data=valid_form(world.csrf(), on_invoice_delete=choice))
    assert response.status_code == 303
    with world.sessions() as session:
        assert world.portal(session).settings["on_invoice_delete"] == choice
    html = world.client.get("/bitrix24/app").get_data(as_text=True)
    assert f'name="on_invoice_delete" value="{choice}" checked' in html
    # a later save from a form without the choice keeps it
    assert world.client.post("/bitrix24/app/settings", data=valid_form(world.csrf())).status_code == 303
    with world.sessions() as session:
        assert world.portal(session).settings["on_invoice_delete"] == choice


@pytest.mark.parametrize("bad", ["", "Remove"])
def test_an_unknown_invoice_deletion_choice_is_refused(world, bad):
    connected(world)
    response = world.client.post("/bitrix24/app/settings", data=valid_form(world.csrf(), on_invoice_delete=bad))
    assert response.status_code == 400
    assert 'id="error-on_invoice_delete"' in response.get_data(as_text=True)
    with world.sessions() as session:
        assert world.portal(session).settings == {}
