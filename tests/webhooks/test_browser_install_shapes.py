"""Done means (fidelity issue): in Chromium, through the sandbox portal's own pages, the app installs,
receives its application token and authenticates events and the uninstall under both installer
POST shapes (reference §1.1: the captured one without APPLICATION_TOKEN, the documented one with it),
with ONAPPINSTALL arriving late (reference §1.2: "may arrive with a delay")."""
from __future__ import annotations

from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from qb24.sandboxes import B24_SANDBOX_CLIENT_ID
from qb24.stack import Stack
from store.crypto import TokenCipher
from store.models import Portal, ReceivedEvent
from tests.support import chromium, wait_for

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).parents[1] / "artifacts" / "install_shapes"
LATE_S = 6.0  # long enough that the app page is rendered before ONAPPINSTALL arrives


def _portal_row(stack: Stack) -> Portal | None:
    with stack.app.extensions["qb24"].sessions() as session:
        return session.scalar(select(Portal).where(Portal.member_id == stack.b24.default_member_id))


def _recorded(stack: Stack) -> list[tuple[str, str]]:
    with stack.app.extensions["qb24"].sessions() as session:
        return [(r.entity, r.entity_id) for r in session.scalars(select(ReceivedEvent))]


def _held_token(stack: Stack) -> str | None:
    row = _portal_row(stack)
    return TokenCipher(stack.settings.token_encryption_key).decrypt(row.application_token_enc) \
        if row and row.application_token_enc else None


@pytest.mark.parametrize("shape", ["captured", "documented"])
def test_install_events_and_uninstall_under_both_installer_shapes(stack, shape) -> None:
    stack.b24.set_app_switches(B24_SANDBOX_CLIENT_ID, installer_shape=shape, install_event_delay=LATE_S)
    portal_url, member_id = stack.b24.default_portal.url, stack.b24.default_member_id
    with chromium(viewport={"width": 1100, "height": 900}) as context:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{portal_url}/marketplace/")
        page.fill("input[name=client_id]", B24_SANDBOX_CLIENT_ID)
        page.click("button[type=submit]")
        page.wait_for_url(f"{portal_url}/marketplace/app/{B24_SANDBOX_CLIENT_ID}/")
        frame = page.frame_locator("#appframe")
        frame.locator("#not-connected").wait_for()
        notice = frame.locator("#install-pending-notice")
        if shape == "captured":  # no token yet: the admin is told, and the notice goes by itself
            assert notice.is_visible() and _held_token(stack) is None
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "captured-waiting-for-onappinstall.png"), full_page=True)
            notice.wait_for(state="detached")
        else:  # the documented POST carried the token: nothing to wait for
            assert notice.count() == 0
        installs = requests.get(f"{stack.b24.control_url}/portals/{member_id}/installs", timeout=10).json()
        assert _held_token(stack) == installs[B24_SANDBOX_CLIENT_ID]["application_token"]

        # An event after the token: a contact made on the portal's own add form is recorded once.
        page.goto(f"{portal_url}/crm/contact/add/")
        page.fill("input[name=NAME]", "Shape")
        page.click("button[type=submit]")
        contact_id = page.url.rstrip("/").rsplit("/", 1)[1]
        assert wait_for(lambda: _recorded(stack), "ONCRMCONTACTADD recorded") == [("contact", contact_id)]

        # The uninstall, authenticated by the same token, stops the portal.
        page.goto(f"{portal_url}/marketplace/app/{B24_SANDBOX_CLIENT_ID}/uninstall/")
        page.click("button")
        page.locator("#uninstalled").wait_for()
    row = wait_for(lambda: (r := _portal_row(stack)) is not None and r.status == "uninstalled" and r, "uninstall")
    assert row.access_token_enc is None and row.refresh_token_enc is None
