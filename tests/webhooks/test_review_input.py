"""Review findings on unauthenticated input: a malformed server URL and an oversized body are clear
4xx answers that change nothing and reach no other server."""
from __future__ import annotations

import requests

from tests.webhooks.stack_support import install_app, install_fields, post_frame, snapshot

BROKEN_URLS = ["http://[::1/rest/", "http://[not-an-ip]/rest/"]


def test_a_malformed_server_endpoint_is_refused_not_a_500(stack, browser):
    install_app(stack, browser, stack.b24.default_member_id)
    fields = install_fields(stack)
    before = snapshot(stack)
    for url in BROKEN_URLS:
        for path in ("/bitrix24/install", "/bitrix24/app"):
            response = post_frame(requests.Session(), stack.url + path, fields, SERVER_ENDPOINT=url)
            assert response.status_code == 401, (path, url, response.status_code)
        event = requests.post(stack.url + "/webhooks/bitrix24", timeout=30, data={
            "event": "ONAPPINSTALL", "auth[member_id]": stack.b24.default_member_id,
            "auth[access_token]": fields["form"]["AUTH_ID"], "auth[application_token]": "x",
            "auth[server_endpoint]": url})
        assert event.status_code == 401, (url, event.status_code)
    assert snapshot(stack) == before


def test_an_oversized_body_is_413_and_never_forwarded(stack, browser):
    install_app(stack, browser, stack.b24.default_member_id)
    fields = install_fields(stack)
    before = snapshot(stack)
    # A real frame POST or event is a few kilobytes; this one would be handed to the OAuth server.
    response = post_frame(requests.Session(), stack.url + "/bitrix24/app", fields,
                          AUTH_ID=fields["form"]["AUTH_ID"], PLACEMENT_OPTIONS="{}" + " " * 3_000_000)
    assert response.status_code == 413
    event = requests.post(stack.url + "/webhooks/bitrix24", data={"event": "ONAPPUNINSTALL", "pad": "x" * 3_000_000},
                          timeout=30)
    assert event.status_code == 413
    assert snapshot(stack) == before
