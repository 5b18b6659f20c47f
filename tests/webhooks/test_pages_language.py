"""The framed pages speak the portal user's language: Bitrix24 sends it as LANG in the frame's query
(reference bitrix24.md §3, "UI language of the user"); the app page keeps it in the session for its later
requests, a language the app has no catalog for is English (not the browser's), dates follow the language."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from html import unescape
from urllib.parse import urlencode

import requests

from clients.bitrix24_errors import Bitrix24Error
from clients.quickbooks_errors import DuplicateName
from mappers.reasons import CURRENCY_MISSING, reason
from store.db import transaction
from store.events import GAVE_UP
from store.models import SyncRun
from store.sync_log import record_failure
from tests.webhooks.test_export_log_page import add_event
from tests.webhooks.test_pages import sandboxes, world  # noqa: F401 - fixtures
from tests.webhooks.test_sync_log_page import connected, log_failures
from workers.export_errors import describe
from workers.full_sync import fatal_reason


def speak(world, language: str) -> None:
    """The portal's user 1 switches the interface language (the sandbox's stand-in for the profile menu)."""
    requests.post(f"{world.control}/portals/{world.member_id}/users/1", json={"language": language},
                  timeout=10).raise_for_status()


def html_lang(html: str) -> str:
    return re.search(r'<html lang="([^"]+)">', html).group(1)


def test_the_app_page_follows_the_users_language_and_keeps_it_for_later_requests(world):
    speak(world, "de")
    fields = world.frame_fields()
    assert fields["query"]["LANG"] == "de"  # the sandbox portal frames the app in the user's language
    opened = world.open_app(fields).get_data(as_text=True)
    assert html_lang(opened) == "de" and "Verbinden Sie Ihr QuickBooks Online-Unternehmen" in opened
    assert "Connect your QuickBooks Online company" not in opened
    # A later request carries no LANG (the page's reload after a form, a poll): the session's language.
    again = world.client.get("/bitrix24/app", headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert html_lang(again) == "de" and "Mit QuickBooks anmelden" in again
    speak(world, "ru")  # the next opening follows the user's new choice
    reopened = world.open_app().get_data(as_text=True)
    assert html_lang(reopened) == "ru" and "Войти через QuickBooks" in reopened


def test_a_bitrix24_language_without_a_catalog_is_english_not_the_browsers(world):
    speak(world, "ua")  # Ukrainian: a Bitrix24 language the app does not speak
    fields = world.frame_fields()
    opened = world.client.post("/bitrix24/app?" + urlencode(fields["query"]), data=fields["form"],
                               headers={"Accept-Language": "ru,de;q=0.8"}).get_data(as_text=True)
    assert html_lang(opened) == "en" and "Log in with QuickBooks" in opened
    later = world.client.get("/bitrix24/app", headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert html_lang(later) == "en"


def test_the_sync_log_writes_counts_and_dates_in_the_language(world):
    speak(world, "ru")
    connected(world)
    log_failures(world)
    html = " ".join(world.client.get("/bitrix24/app").get_data(as_text=True).split())
    assert "3 записи QuickBooks не удалось перенести в Bitrix24." in html  # the "few" form of three
    tried = re.search(r'<tr data-record="Invoice-130"><th scope="row">([^<]+)</th>.*?<td>\d+</td><td>([^<]*)</td>', html)
    assert tried.group(1) == "Счёт 130"
    assert re.fullmatch(r"\d{1,2} [а-я]+\.? \d{4} г\., \d\d:\d\d:\d\d UTC", tried.group(2)), tried.group(2)
    speak(world, "de")
    world.open_app()
    html = " ".join(world.client.get("/bitrix24/app").get_data(as_text=True).split())
    assert "3 QuickBooks-Datensätze konnten nicht in Bitrix24 geschrieben werden." in html
    tried = re.search(r'<tr data-record="Invoice-130"><th scope="row">([^<]+)</th>.*?<td>\d+</td><td>([^<]*)</td>', html)
    assert tried.group(1) == "Rechnung 130"
    assert re.fullmatch(r"\d\d\.\d\d\.\d{4}, \d\d:\d\d:\d\d UTC", tried.group(2)), tried.group(2)


def test_a_finished_runs_sentence_writes_its_time_in_the_language(world):
    """The state sentence's time is the language's date and time (flask_babel format_datetime), not one format for all."""
    from datetime import datetime, timezone

    from store.db import transaction
    from store.models import SyncRun

    speak(world, "de")
    world.open_app()
    world.connect_quickbooks()
    with transaction(world.sessions) as session:
        session.add(SyncRun(portal_id=world.portal(session).id, kind="full", status="done",
                            finished_at=datetime(2024, 5, 1, 9, 30, tzinfo=timezone.utc)))
    sentences = {}
    for language in ("de", "ru"):
        speak(world, language)
        world.open_app()
        sentences[language] = world.client.get("/bitrix24/app/progress").get_json()["status_text"]
    assert "01.05.2024, 09:30:00 UTC" in sentences["de"], sentences["de"]
    assert re.search(r"1 мая 2024\sг\., 09:30:00 UTC", sentences["ru"]), sentences["ru"]


def test_stored_reasons_read_in_the_language_with_the_vendors_words_as_they_are(world):
    """What the workers stored in English (a sync failure, a failed export, a run's report and error) is shown in
    the page's language (webhooks/reasons_view.py); QuickBooks' and Bitrix24's own words inside stay as they are."""
    failure = reason(CURRENCY_MISSING, currency="EUR", number="1037")
    refused = describe(DuplicateName("Duplicate Name Exists Error", code="6240",
                                     detail="The name supplied already exists. : Amy's Bird"))
    stopped = fatal_reason(Bitrix24Error("insufficient_scope", "The request requires higher privileges."))
    speak(world, "de")
    connected(world)
    with transaction(world.sessions) as session:
        portal_id = world.portal(session).id
        record_failure(session, portal_id, "Invoice", "130", "1037", failure)
        add_event(session, portal_id, "company", "8", 6, GAVE_UP + refused)
        session.add(SyncRun(portal_id=portal_id, kind="full", status="failed", error=stopped,
                            finished_at=datetime(2024, 5, 1, 9, 30, tzinfo=timezone.utc),
                            report={"dry_run": False, "failures_truncated": 0, "customers": {}, "invoices": {"failed": 1},
                                    "failures": [{"qbo_type": "Invoice", "qbo_id": "130", "name": "1037",
                                                  "reason": failure}]}))
    html = unescape(" ".join(world.client.get("/bitrix24/app").get_data(as_text=True).split()))
    german = ("Das Portal hat die Währung EUR nicht, in der Rechnung 1037 ausgestellt ist; fügen Sie EUR in Bitrix24 "
              "hinzu (CRM > Einstellungen > Währungen) und synchronisieren Sie erneut.")
    assert html.count(german) == 2  # the sync log's row and the report's failures table
    assert "QuickBooks hat den Namen abgelehnt: The name supplied already exists. : Amy's Bird." in html
    assert ("Bitrix24 hat eine Anfrage abgelehnt (insufficient_scope: The request requires higher privileges.); "
            "prüfen Sie den Zugriff der App im Portal und starten Sie die Synchronisierung erneut.") in html
    assert failure not in html and refused not in html and "check the app's access" not in html
