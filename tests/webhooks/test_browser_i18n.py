"""Done means (issue 12, the framed pages): in Chromium, the app page inside the Bitrix24 sandbox's portal
frame speaks the portal user's language — Bitrix24 sends it as LANG (reference bitrix24.md §3), the sandbox
from the user's interface language — with no English sentence of the app's catalog left: the page before
QuickBooks is connected (an administrator's and a colleague's), after connecting with its settings, a sync's
live progress (rendered by app.js) and report, and the sync log. Screenshots under tests/artifacts/i18n/.

The run's progress and report are set in the store as the worker writes them (no worker runs): this test is
about the words; tests/webhooks/test_browser_sync.py watches a real sync move the same bar.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from sqlalchemy import select

from clients.bitrix24_errors import Bitrix24Error
from clients.quickbooks_errors import DuplicateName, ValidationFailed
from mappers.reasons import CURRENCY_MISSING, reason
from qb24.demo import connect_quickbooks, install_app, open_app_page
from qb24.sandboxes import B24_SANDBOX_CLIENT_ID
from qb24.stack import Stack, start_stack
from store.db import transaction
from store.events import GAVE_UP
from store.models import Portal, SyncRun, utcnow
from store.sync_log import record_failure
from tests.support import chromium
from workers.b24_writes import command_reason
from workers.export_errors import describe
from tests.webhooks.test_export_log_page import add_event

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).parents[1] / "artifacts" / "i18n"
CATALOGS = Path(__file__).parents[2] / "webhooks" / "translations"
# Names the translations keep as they are; a msgid fragment that is only these is no English left.
PROPER_NAMES = {"QuickBooks Online", "QuickBooks", "Bitrix24", "JavaScript", "Market", "CRM", "UTC"}
# What the page shows that it does not write: the portal's stage names (its own language), the company
# and record names. The page marks them translate="no" (HTML's "do not translate this"); script and
# style are not text.
NOT_THE_PAGES_WORDS = "script, style, option, [translate=no]"
VISIBLE_TEXT = """(body, skip) => {
  const parts = [document.title];
  const walker = document.createTreeWalker(body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (parent.closest(skip) || !parent.checkVisibility()) { continue; }
    parts.push(node.textContent);
  }
  for (const el of document.querySelectorAll('[placeholder], [title], [aria-label], [alt], input[type=submit], input[type=button]')) {
    if (el.closest(skip)) { continue; }
    for (const name of ['placeholder', 'title', 'aria-label', 'alt', 'value']) {
      if (el.hasAttribute(name) && (name !== 'value' || el.type === 'submit' || el.type === 'button')) {
        parts.push(el.getAttribute(name));
      }
    }
  }
  return parts.join('\\n');
}"""


def english_fragments(catalog: Catalog) -> dict[str, str]:
    """fragment → its msgid: the English runs of every message the catalog translates differently (a word
    both languages share, like "Deal", is no English left), cut at placeholders and markup; runs of more
    than three characters that are not only proper names."""
    fragments: dict[str, str] = {}
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, (tuple, list)) else (message.id,)
        strings = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
        for msgid in ids:
            if msgid in strings:
                continue
            for run in re.split(r"%\(\w+\)[sd]|<[^>]+>", msgid):
                run = " ".join(run.split()).strip(" .,;:()")
                if len(run) > 3 and run not in PROPER_NAMES and re.search(r"[A-Za-z]", run):
                    fragments.setdefault(run, msgid)
    return fragments


def english_left(text: str, language: str) -> list[str]:
    """The catalog's English runs that appear in `text` as whole words (case as written)."""
    with open(CATALOGS / language / "LC_MESSAGES" / "messages.po", "rb") as handle:
        fragments = english_fragments(read_po(handle))
    text = " ".join(text.split())
    return sorted(f"{run!r} (from {msgid!r})" for run, msgid in fragments.items()
                  if re.search(rf"(?<!\w){re.escape(run)}(?!\w)", text))


def test_the_check_finds_english_left_in_a_page():
    """The check itself, without a browser: a German page with one English sentence of the catalog (one
    cut at a placeholder, as the page shows it) is caught; the shared word "Deal" and proper names are not."""
    german = "Einstellungen speichern. Deal #12. QuickBooks Online ↔ Bitrix24."
    assert english_left(german, "de") == []
    leftover = german + " 3 QuickBooks records could not be written to Bitrix24."
    assert english_left(leftover, "de") == [
        "'QuickBooks records could not be written to Bitrix24' (from '%(count)s QuickBooks records could not be "
        "written to Bitrix24.')"]
    assert english_left("Retry", "ru") == ["'Retry' (from 'Retry')"]


@pytest.fixture
def stack(tmp_path) -> Iterator[Stack]:
    running = start_stack(f"sqlite:///{tmp_path / 'qb24.db'}", worker=False)  # the test writes the run's state
    yield running
    running.stop()


def control(stack: Stack, path: str, body: dict) -> dict:
    response = requests.post(f"{stack.b24.control_url}/portals/{stack.b24.default_member_id}/{path}", json=body,
                             timeout=10)
    response.raise_for_status()
    return response.json()


def visible_text(frame) -> str:
    """The frame's words as its user meets them: visible text, the title, buttons' and fields' labels."""
    return frame.locator("body").evaluate(VISIBLE_TEXT, NOT_THE_PAGES_WORDS)


class Walk:
    """One language's walk through the framed page: each step checked for English and photographed."""

    def __init__(self, page, language: str):
        self.page, self.language = page, language
        self.frame = page.frame_locator("#appframe")

    def check(self, step: str) -> str:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{self.language}-{step}.png"), full_page=True)
        assert self.frame.locator("html").get_attribute("lang") == self.language, step
        text = visible_text(self.frame)
        left = english_left(text, self.language)
        assert not left, f"{self.language} {step}: English left on the page:\n" + "\n".join(left) + "\n" + text
        return text


def portal_id(stack: Stack) -> int:
    with stack.app.extensions["qb24"].sessions() as session:
        return session.scalar(select(Portal.id).where(Portal.member_id == stack.b24.default_member_id))


def run_in_progress(stack: Stack) -> int:
    """The queued run as the worker has it part way through its customers."""
    with transaction(stack.app.extensions["qb24"].sessions) as session:
        run = session.scalar(select(SyncRun).order_by(SyncRun.id.desc()))
        run.status = "running"
        run.counters = {"phase": "customers", "imported": 1180, "updated": 3, "skipped": 1, "failed": 2, "placed": 1,
                        "total": 2400, "done": 1187, "rate": 12.5, "eta_s": 97}
        return run.id


def run_finished(stack: Stack, run_id: int) -> None:
    """The run's end as the worker writes it: counters per kind, failures; and what the sync log holds, each reason
    as its producer words it (the page shows it in the user's language; the vendors' words inside as they are)."""
    pid = portal_id(stack)
    currency = reason(CURRENCY_MISSING, currency="EUR", number="1037")
    required = command_reason(Bitrix24Error("CRM_FIELD_ERROR", "UF_CRM_7 is required"), "update", "company")
    email = describe(ValidationFailed("Invalid Email", code="2050", detail="Supplied value: amy@bird"))
    name = describe(DuplicateName("Duplicate Name Exists Error", code="6240", detail="The name supplied already exists."))
    with transaction(stack.app.extensions["qb24"].sessions) as session:
        run = session.get(SyncRun, run_id)
        run.status, run.finished_at = "done", utcnow()
        run.counters = {**run.counters, "done": 2400, "eta_s": 0}
        run.report = {"dry_run": False, "failures_truncated": 0,
                      "customers": {"imported": 1190, "updated": 3, "skipped": 1, "failed": 1, "matched": 4, "placed": 1},
                      "invoices": {"imported": 1198, "updated": 0, "skipped": 1, "failed": 1},
                      "failures": [{"qbo_type": "Customer", "qbo_id": "58", "name": "Müller GmbH",
                                    "reason": required},
                                   {"qbo_type": "Invoice", "qbo_id": "130", "name": "1037",
                                    "reason": currency}]}
        record_failure(session, pid, "Invoice", "130", "1037", currency)
        record_failure(session, pid, "Customer", "58", "Müller GmbH", required)
        add_event(session, pid, "contact", "12", 6, email)
        add_event(session, pid, "company", "8", 6, GAVE_UP + name)


@pytest.mark.parametrize("language", ["de", "ru"])
def test_the_framed_app_page_speaks_the_users_language(stack, language) -> None:
    control(stack, "users/1", {"language": language})  # the administrator's interface language
    colleague = control(stack, "users", {"admin": False, "language": language})
    with requests.Session() as http:
        install_app(stack, http, stack.b24.default_member_id)
    app_url = f"{stack.b24.default_portal.url}/marketplace/app/{B24_SANDBOX_CLIENT_ID}/"
    with chromium(viewport={"width": 1100, "height": 1000}) as context:
        page = context.new_page()
        page.set_default_timeout(15_000)
        walk = Walk(page, language)

        page.goto(f"{app_url}?user_id={colleague['id']}")  # a colleague: read-only, nothing connected yet
        walk.frame.locator("#admin-only-notice").wait_for()
        walk.check("01-colleague-not-connected")

        page.goto(app_url)  # the administrator: Log in with QuickBooks
        walk.frame.locator("#login").wait_for()
        walk.check("02-connect")

        with requests.Session() as http:
            connect_quickbooks(http, stack.url, open_app_page(stack, http, stack.b24.default_member_id))
        page.goto(app_url)
        walk.frame.locator("#settings").wait_for()
        walk.frame.locator("#sync-log-empty").wait_for()
        walk.check("03-connected-settings")

        walk.frame.locator("#start-sync").click()
        walk.frame.locator("#start-sync[disabled]").wait_for()
        # Again without Start sync's flash (webhooks/pages.py's words; the Python strings' tests cover them),
        # rendered while the run is still queued: what the bar says next is app.js's writing.
        page.goto(app_url)
        walk.frame.locator("#progress-status[data-status=pending]").wait_for()
        run_id = run_in_progress(stack)
        walk.frame.locator("#progress-status[data-status=running]").wait_for()  # app.js's poll (every 2 s)
        assert walk.frame.locator("[data-counter=imported]").inner_text() == "1180"
        walk.check("04-sync-progress")

        run_finished(stack, run_id)
        walk.frame.locator("#report").wait_for()  # the page reloads itself when the run ends
        walk.frame.locator("#sync-log-table").wait_for()
        walk.check("05-report-and-sync-log")
