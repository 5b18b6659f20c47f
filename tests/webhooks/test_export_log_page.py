"""The app page's sync log lists Bitrix24 contacts and companies that could not become QuickBooks customers
(their add events in received_events, workers/exports.py), only the viewer's portal's, newest first, and its
Retry queues the portal's export with the session, CSRF and admin checks of the QuickBooks rows' Retry.
The failure itself is provoked through the sandboxes in tests/webhooks/test_export_log_stack.py."""
from __future__ import annotations

import re
from html import unescape
from urllib.parse import urlencode

import pytest
import requests
from kombu.exceptions import OperationalError
from sqlalchemy import select, update

from qb24.sandboxes import B24_SANDBOX_CLIENT_ID
from store.db import transaction
from store.events import GAVE_UP, record_event, unhandled_adds
from store.models import ReceivedEvent
from store.portals import ensure_portal
from tests.webhooks.test_pages import queued_tasks, sandboxes, world  # noqa: F401 - fixtures
from workers.celery_app import EXPORT_RECORDS, REALTIME_QUEUE

REFUSED = ("QuickBooks refused the customer: Invalid Email Address format. Supplied value: amy@bird. "
           "It is tried again automatically; Retry tries it now.")


def add_event(session, portal_id: int, entity: str, entity_id: str, attempts: int, error: str | None,
              handled: bool = False) -> int:
    key = f"m{portal_id}:ONCRM{entity.upper()}ADD:{entity_id}:{attempts}"
    record_event(session, source="b24", dedupe_key=key, portal_id=portal_id, entity=entity, entity_id=entity_id,
                 operation="add")
    event_id = session.scalar(select(ReceivedEvent.id).where(ReceivedEvent.dedupe_key == key))
    session.execute(update(ReceivedEvent).where(ReceivedEvent.id == event_id).values(
        attempts=attempts, last_error=error, handled_at=ReceivedEvent.received_at if handled else None))
    return event_id


def failing_exports(world) -> int:
    """This portal: contact 12 failing (6 attempts), company 7 failing since (3), contact 13 only once so far (a
    hiccup, not listed), contact 14 handled, company 8 given up (workers/exports.py PERMANENT); another portal:
    contact 99 failing. The other portal's id."""
    with transaction(world.sessions) as session:
        portal = world.portal(session)
        other = ensure_portal(session, member_id="other-portal", domain="other.example",
                              client_endpoint="https://other.example/rest/", server_endpoint="https://o.example/rest/")
        session.flush()
        add_event(session, portal.id, "contact", "12", 6, REFUSED)
        add_event(session, portal.id, "company", "7", 3, "QuickBooks refused the name: Name cannot contain a colon.")
        add_event(session, portal.id, "contact", "13", 1, "QuickBooks did not answer.")
        add_event(session, portal.id, "contact", "14", 0, None, handled=True)
        add_event(session, portal.id, "company", "8", 6, GAVE_UP + "QuickBooks refused the name: Taken.")
        add_event(session, other.id, "contact", "99", 6, "Not yours.")
        return other.id


def connected(world) -> None:
    world.open_app()
    world.connect_quickbooks()


def retry(world, csrf: str | None = "", **fields: str):
    form = {"b24_type": "contact", "b24_id": "12", **fields}
    if csrf is not None:
        form["csrf_token"] = csrf or world.csrf()
    return world.client.post("/bitrix24/app/sync/retry", data=form)


def export_rows(html: str) -> list[tuple[str, str, str, str]]:
    rows = re.findall(r'<tr data-export="([^"]+)"><th scope="row">([^<]+)</th>\s*<td>(.*?)</td><td>(\d+)</td>', html)
    return [(key, head, unescape(re.sub(r"<[^>]+>", "", reason)), attempts) for key, head, reason, attempts in rows]


def attempts_of(world) -> dict[str, int]:
    with world.sessions() as session:
        return {f"{e.portal_id}:{e.entity_id}": e.attempts for e in session.scalars(select(ReceivedEvent))}


def test_the_page_lists_the_portals_failed_exports_newest_first(world):
    connected(world)
    html = world.client.get("/bitrix24/app").get_data(as_text=True)
    assert 'id="sync-log-empty"' in html and "export-log-table" not in html
    failing_exports(world)
    html = world.client.get("/bitrix24/app").get_data(as_text=True)
    assert 'id="sync-log-empty"' not in html
    assert "3 Bitrix24 contacts or companies could not become QuickBooks customers" in " ".join(html.split())
    assert export_rows(html) == [
        ("company-8", "Company 8", "QuickBooks refused the name: Taken. The app stopped trying: fix the reason, then Retry.",
         "6"),
        ("company-7", "Company 7", "QuickBooks refused the name: Name cannot contain a colon.", "3"),
        ("contact-12", "Contact 12", REFUSED, "6")]
    assert 'id="retry-export-contact-12"' in html and 'id="retry-export-company-7"' in html
    assert "Not yours" not in html and 'data-export="contact-99"' not in html  # another portal's
    assert 'data-export="contact-13"' not in html and 'data-export="contact-14"' not in html


def test_a_non_admin_sees_the_failed_exports_without_being_told_to_click_retry(world):
    connected(world)
    failing_exports(world)
    clerk = requests.post(f"{world.control}/portals/{world.member_id}/users", json={"admin": False}, timeout=10).json()
    fields = requests.post(f"{world.control}/portals/{world.member_id}/install",
                           json={"client_id": B24_SANDBOX_CLIENT_ID, "user_id": clerk["id"]}, timeout=10).json()
    assert fields["is_admin"] is False
    viewer = world.app.test_client()
    viewer.post("/bitrix24/app?" + urlencode(fields["query"]), data=fields["form"])
    html = viewer.get("/bitrix24/app").get_data(as_text=True)
    assert [row[0] for row in export_rows(html)] == ["company-8", "company-7", "contact-12"]
    assert "retry-export-" not in html  # no Retry button on the read-only page, so no word asks for a click
    given_up = dict((key, reason) for key, _, reason, _ in export_rows(html))["company-8"]
    assert given_up == "QuickBooks refused the name: Taken. The app stopped trying until an administrator retries it."


def test_retry_of_a_given_up_record_makes_it_the_workers_again(world):
    connected(world)
    failing_exports(world)
    with world.sessions() as session:
        portal_id = world.portal(session).id
        assert "8" not in [e.entity_id for e in unhandled_adds(session, portal_id, 100)]
    assert retry(world, b24_type="company", b24_id="8").status_code == 303
    assert queued_tasks(world, REALTIME_QUEUE) == [(EXPORT_RECORDS, [portal_id])]
    with world.sessions() as session:
        taken = [e for e in unhandled_adds(session, portal_id, 100) if e.entity_id == "8"]
        assert [(e.last_error, e.attempts) for e in taken] == [("QuickBooks refused the name: Taken.", 6)]
    html = world.client.get("/bitrix24/app").get_data(as_text=True)
    assert ("company-8", "Company 8", "QuickBooks refused the name: Taken.", "6") in export_rows(html)


def test_retry_queues_the_portals_export_and_changes_nothing_stored(world):
    connected(world)
    failing_exports(world)
    before = attempts_of(world)
    portal_id = next(int(key.split(":")[0]) for key in before if key.endswith(":12"))
    response = retry(world)
    assert response.status_code == 303 and response.headers["Location"].endswith("/bitrix24/app")
    assert queued_tasks(world, REALTIME_QUEUE) == [(EXPORT_RECORDS, [portal_id])]
    page = world.client.get("/bitrix24/app").get_data(as_text=True)
    assert "Retry queued: Bitrix24 contact 12 is exported to QuickBooks again shortly" in page
    assert 'data-export="contact-12"' in page  # the row stays until the record is exported
    assert attempts_of(world) == before


@pytest.mark.parametrize("case, fields, status", [
    ("no CSRF token", {"csrf": None}, 403),
    ("another portal's record", {"b24_id": "99"}, 404),
    ("a record only failed once", {"b24_id": "13"}, 404),
    ("a handled record", {"b24_id": "14"}, 404),
    ("not in the log", {"b24_id": "15"}, 404),
    ("a lead", {"b24_type": "lead"}, 400),
    ("a deal", {"b24_type": "deal"}, 400),
    ("id not digits", {"b24_id": "12 OR 1=1"}, 400),
    ("id zero", {"b24_id": "0"}, 400),
    ("id too long", {"b24_id": "1" * 33}, 400),
    ("empty type", {"b24_type": ""}, 400),
])
def test_forged_retries_are_refused_and_change_nothing(world, case, fields, status):
    connected(world)
    failing_exports(world)
    before = attempts_of(world)
    response = retry(world, **fields) if "csrf" not in fields else retry(world, csrf=fields["csrf"])
    assert response.status_code == status, case
    assert queued_tasks(world, REALTIME_QUEUE) == []
    assert attempts_of(world) == before


def test_retry_needs_a_session(world):
    connected(world)
    failing_exports(world)
    stranger = world.app.test_client()  # no session cookie
    response = stranger.post("/bitrix24/app/sync/retry", data={"csrf_token": world.csrf(), "b24_type": "contact",
                                                               "b24_id": "12"})
    assert response.status_code == 401
    assert queued_tasks(world, REALTIME_QUEUE) == []


def test_retry_the_broker_refuses_is_a_clear_503(world, monkeypatch):
    connected(world)
    failing_exports(world)
    csrf = world.csrf()

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis:6379. Connection refused.")
    monkeypatch.setattr(world.app.extensions["qb24"].celery, "send_task", broker_down)
    response = retry(world, csrf=csrf)
    assert response.status_code == 503
    assert "The retry could not be queued: the task queue did not answer." in response.get_data(as_text=True)
    assert "redis:6379" not in response.get_data(as_text=True)
