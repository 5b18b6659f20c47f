"""The deal follow-through window on the app page (`deal_link_hours`): shown, saved, kept, validated."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.webhooks.test_pages import sandboxes, valid_form, world  # noqa: F401 - fixtures
from workers.portal_settings import deal_link_window, effective_settings


def connected(world) -> None:
    world.open_app()
    world.connect_quickbooks()


def shown_hours(html: str) -> str:
    field = re.search(r'<input type="number" id="deal_link_hours" name="deal_link_hours"[^>]*>', html, re.S)
    assert field, "the settings form shows the deal window"
    return re.search(r'value="([^"]*)"', field.group(0)).group(1)


def test_the_window_defaults_to_24_hours_and_is_shown(world):
    connected(world)
    assert shown_hours(world.client.get("/bitrix24/app").get_data(as_text=True)) == "24"


def test_a_window_is_saved_shown_and_kept_by_a_form_without_it(world):
    connected(world)
    response = world.client.post("/bitrix24/app/settings",
                                 data=valid_form(world.csrf(), deal_link_hours=" 72 "))
    assert response.status_code == 303
    with world.sessions() as session:
        assert world.portal(session).settings["deal_link_hours"] == 72
    assert shown_hours(world.client.get("/bitrix24/app").get_data(as_text=True)) == "72"
    assert world.client.post("/bitrix24/app/settings", data=valid_form(world.csrf())).status_code == 303
    with world.sessions() as session:
        assert world.portal(session).settings["deal_link_hours"] == 72


@pytest.mark.parametrize("bad", ["", "0", "721", "-5", "2.5", "a day", "1e3"])
def test_a_bad_window_is_refused_and_nothing_is_saved(world, bad):
    connected(world)
    response = world.client.post("/bitrix24/app/settings", data=valid_form(
        world.csrf(), deal_link_hours=bad, customer_rule="always_contacts"))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="error-deal_link_hours"' in html and "Nothing was saved" in html
    assert 'id="error-customer_rule"' not in html
    assert shown_hours(html) == bad.replace('"', "&#34;")  # the page shows what was typed, to correct it
    with world.sessions() as session:
        assert world.portal(session).settings == {}


@pytest.mark.parametrize("edge", ["1", "720"])
def test_the_window_edges_are_accepted(world, edge):
    connected(world)
    assert world.client.post("/bitrix24/app/settings", data=valid_form(
        world.csrf(), deal_link_hours=edge)).status_code == 303
    with world.sessions() as session:
        assert world.portal(session).settings["deal_link_hours"] == int(edge)


def test_stored_junk_never_becomes_the_window():
    for junk in (0, 721, "48", True, None, 2.5):
        assert effective_settings({"deal_link_hours": junk}, [])["deal_link_hours"] == 24
    assert effective_settings({"deal_link_hours": 6}, [])["deal_link_hours"] == 6
    assert deal_link_window({}) == timedelta(hours=24)
    assert deal_link_window({"deal_link_hours": 720}) == timedelta(hours=720)
    assert deal_link_window({"deal_link_hours": "junk"}) == timedelta(hours=24)
