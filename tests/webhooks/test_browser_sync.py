"""Done means: in Chromium, Start sync in the framed app page of the sandbox portal shows the
progress bar moving (phase, done/total, rate, ETA) and then the report; screenshots under
tests/artifacts/sync/. The sync really runs: the app's embedded worker, the engine, both sandboxes."""
from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from qb24.demo import connect_quickbooks, install_app, open_app_page
from qb24.sandboxes import B24_SANDBOX_CLIENT_ID
from qb24.stack import Stack, start_stack
from tests.support import chromium

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).parents[1] / "artifacts" / "sync"
# Large enough that the run outlasts several of the page's 2 s polls at the basic plan's rate.
CUSTOMERS, INVOICES = 400, 1200
DEADLINE_S = 240.0


@pytest.fixture
def connected(tmp_path) -> Iterator[Stack]:
    stack = start_stack(f"sqlite:///{tmp_path / 'qb24.db'}")
    try:
        stack.qbo.control("seed", {"customers": CUSTOMERS, "invoices": INVOICES, "seed": 9})
        browser, member_id = requests.Session(), stack.b24.default_member_id
        install_app(stack, browser, member_id)
        connect_quickbooks(browser, stack.url, open_app_page(stack, browser, member_id))
        yield stack
    finally:
        stack.stop()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def watch_bar(page, frame) -> list[tuple[int, str, str]]:
    """The bar's value, detail line and status sentence each time they change, until the report replaces them."""
    seen: list[tuple[int, str, str]] = []
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if frame.locator("#report").count():
            return seen
        try:
            value = frame.locator("#sync-progress").evaluate("bar => bar.hasAttribute('value') ? bar.value : -1")
            detail = " ".join(frame.locator("#progress-detail").inner_text().split())
            status = frame.locator("#progress-status").inner_text()
        except Exception:  # noqa: BLE001 - the page reloads itself when the run ends
            continue
        if not seen or seen[-1] != (value, detail, status):
            if 0 < value < 100 and not any(0 < v < 100 for v, _, _ in seen):
                shot(page, "02-progress")  # the first moment the bar is part way
            seen.append((value, detail, status))
        page.wait_for_timeout(100)
    raise AssertionError(f"no report within {DEADLINE_S:.0f} s; the bar showed {seen}")


def test_start_sync_in_the_framed_page_shows_progress_then_the_report(connected) -> None:
    stack = connected
    with chromium(viewport={"width": 1100, "height": 1000}) as context:
        page = context.new_page()
        page.set_default_timeout(20_000)
        csp_errors: list[str] = []
        page.on("console", lambda m: "Content Security Policy" in m.text and csp_errors.append(m.text))
        page.goto(f"{stack.b24.default_portal.url}/marketplace/app/{B24_SANDBOX_CLIENT_ID}/")
        frame = page.frame_locator("#appframe")
        frame.locator("#connected").wait_for()
        assert frame.locator("#dry-run").is_enabled() and frame.locator("#start-sync").is_enabled()
        shot(page, "01-connected")
        frame.locator("#start-sync").click()
        frame.locator("text=Sync queued.").wait_for()
        assert frame.locator("#start-sync").is_disabled()  # no second start while it runs
        seen = watch_bar(page, frame)
        frame.locator("#report").wait_for()
        shot(page, "03-report")

        moving = [value for value, _, _ in seen if 0 < value < 100]
        assert len(set(moving)) >= 2 and moving == sorted(moving), seen  # it moved, forwards
        details = [detail for _, detail, _ in seen]
        assert any(" of " in d and "records/s" in d for d in details), details
        # the live status is a sentence naming the phase (webhooks/run_status.py), not a raw word
        assert {"The sync is importing customers.", "The sync is importing invoices."} & {s for _, _, s in seen}, seen
        # a table per record kind; its "Created" row's count
        customers = frame.locator('#report-customers tr[data-outcome=imported] td').all_inner_texts()
        invoices = frame.locator('#report-invoices tr[data-outcome=imported] td').all_inner_texts()
        assert int(customers[0]) > 0 and int(invoices[0]) > 0
        status = frame.locator("#progress-status")
        assert status.get_attribute("data-status") == "done"
        assert re.fullmatch(r"The sync finished at [A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d:\d\d\s[AP]M UTC\.", status.inner_text())
        assert frame.locator("#start-sync").is_enabled()
        client = stack.app.extensions["qb24"].bitrix24_client(stack.b24.default_member_id)
        items = list(client.list_all("crm.item.list", {"entityTypeId": 31, "select": ["id"]}))
        assert len(items) == int(invoices[0])  # the report's "created" is what Bitrix24 holds
        assert csp_errors == []
