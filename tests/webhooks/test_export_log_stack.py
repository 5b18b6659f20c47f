"""A contact that cannot become a QuickBooks customer shows in the app page's sync log, end to end: the Bitrix24
sandbox fires the real ONCRMCONTACTADD at /webhooks/bitrix24, the app's worker (workers/exports.py) tries the
export against the QuickBooks sandbox, which refuses every name the documented rule tries (vendors hold them:
DisplayName is unique across customers, vendors and employees, reference quickbooks-online.md §8 Fault 6240);
the admin reads why, renames the contact in Bitrix24, clicks Retry, and the contact is exported and leaves the log.
A non-administrator sees the row but no Retry, and their POST is refused."""
from __future__ import annotations

import re
from html import unescape

import requests
from sqlalchemy import select

from store.models import ReceivedEvent
from tests.support import wait_for
from tests.webhooks.b24_export_support import add_by_hand, customers_named, realm_id, set_export
from tests.webhooks.stack_support import b24_control
from tests.webhooks.test_admin_only import _clerk, _open_as
from tests.workers.entry_support import connected_stack
from workers import exports
from workers.customer_export import MAX_ATTEMPTS as NAMES_TRIED
from workers.customer_export import customer_for
from mappers.b24_customer import numbered

NAME = "Amy Quill"


def hold_every_name(connected, base: str) -> None:
    """Vendors take the name and every numbered one the 6240 rule tries (the sandbox's control API)."""
    for attempt in range(1, NAMES_TRIED + 1):
        requests.post(f"{connected.stack.qbo.url}/_sandbox/realms/{realm_id(connected)}/names",
                      json={"entity": "Vendor", "DisplayName": numbered(base, attempt)}, timeout=10).raise_for_status()


def export_row(page: str, contact_id: str) -> tuple[str, int] | None:
    """(reason, attempts) of the contact's row in the page's sync log, None when it is not listed."""
    found = re.search(rf'<tr data-export="contact-{contact_id}"><th scope="row">Contact {contact_id}</th>\s*'
                      r'<td>(.*?)</td><td>(\d+)</td>', page)
    return (unescape(re.sub(r"<[^>]+>", "", found.group(1))), int(found.group(2))) if found else None


def event_of(connected, contact_id: str) -> ReceivedEvent:
    with connected.services.sessions() as session:
        return session.scalar(select(ReceivedEvent).where(ReceivedEvent.source == "b24",
                                                          ReceivedEvent.entity_id == contact_id))


def test_a_contact_quickbooks_refuses_is_listed_retried_after_the_fix_and_leaves_the_log(tmp_path, monkeypatch):
    monkeypatch.setattr(exports, "BACKOFF_S", 0.2)  # the six attempts in seconds, not minutes
    with connected_stack(f"sqlite:///{tmp_path / 'export-log.db'}") as connected:
        set_export(connected, True)
        hold_every_name(connected, NAME)
        contact_id = add_by_hand(connected, "contact", {"NAME": "Amy", "LAST_NAME": "Quill",
                                                        "EMAIL": [{"VALUE": "amy@quill.example", "VALUE_TYPE": "WORK"}]})
        row = wait_for(lambda: export_row(connected.page(), contact_id), "the failed export on the page", 60, 0.3)
        reason, attempts = row
        assert attempts >= 3
        assert reason.startswith(f"QuickBooks refused the name: QuickBooks already holds '{NAME}' and '{NAME} (2)'")
        assert "rename the record in Bitrix24" in reason
        for leak in ("Traceback", "DuplicateName", "http", "access_token", "Bearer"):
            assert leak not in reason
        assert customers_named(connected, NAME) == []
        # A name refused for good: given up after six attempts (workers/exports.py PERMANENT), only Retry tries again.
        wait_for(lambda: event_of(connected, contact_id).attempts == exports.MAX_ATTEMPTS, "the attempts to run out",
                 60, 0.2)
        assert export_row(connected.page(), contact_id)[0].endswith("The app stopped trying: fix the reason, then Retry.")

        with requests.Session() as clerk:
            clerk_page = _open_as(connected.stack, clerk, _clerk(connected.stack))[0].text
            assert export_row(clerk_page, contact_id) is not None
            assert f'id="retry-export-contact-{contact_id}"' not in clerk_page
            csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', clerk_page).group(1)
            refused = clerk.post(connected.stack.url + "/bitrix24/app/sync/retry", timeout=30,
                                 data={"csrf_token": csrf, "b24_type": "contact", "b24_id": contact_id})
            assert refused.status_code == 403
        assert event_of(connected, contact_id).handled_at is None

        # The admin renames the contact in Bitrix24 (what the reason says), then clicks Retry.
        b24 = connected.services.bitrix24_client(connected.stack.b24.default_member_id)
        b24.call("crm.contact.update", {"id": contact_id, "fields": {"LAST_NAME": "Quillon"}})
        page = connected.page()
        assert f'id="retry-export-contact-{contact_id}"' in page
        csrf = unescape(re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1))
        clicked = connected.browser.post(connected.stack.url + "/bitrix24/app/sync/retry", timeout=30,
                                         data={"csrf_token": csrf, "b24_type": "contact", "b24_id": contact_id})
        assert clicked.status_code == 200 and f"Retry queued: Bitrix24 contact {contact_id}" in clicked.text
        wait_for(lambda: event_of(connected, contact_id).handled_at is not None, "the retried export", 60, 0.2)
        created = customers_named(connected, "Amy Quillon")
        assert len(created) == 1
        with connected.services.sessions() as session:
            portal_id = event_of(connected, contact_id).portal_id
            assert customer_for(session, portal_id, "contact", contact_id) == created[0]["Id"]
        page = connected.page()
        assert export_row(page, contact_id) is None and 'id="sync-log-empty"' in page
