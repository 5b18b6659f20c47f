"""Issue 8 item 8: forged frame POSTs each cost a call to Bitrix24's app.info; that work is bounded
per client address (webhooks/confirm_limit.py: 60 at once, then 1 per second), in Redis when one is
configured, so the app cannot be used to hammer Bitrix24. Over the bound: 429, and nothing is sent."""
from __future__ import annotations

import random
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography.fernet import Fernet
from flask import Flask, jsonify, request

from config.settings import load_settings
from sandbox.server import RunningServer, serve_in_thread
from store.db import migrate
from tests.webhooks.stack_support import install_app, install_fields
from webhooks import create_app
from webhooks.confirm_limit import CONFIRM_BURST

MEMBER_ID = "a223c6b3710f85df22e9377d6c4f7553"


@dataclass
class Counted:
    """A Bitrix24 OAuth server that refuses every token (as for a forged one) and counts app.info calls."""

    server: RunningServer
    calls: list[str]


@pytest.fixture
def oauth() -> Iterator[Counted]:
    calls: list[str] = []
    app = Flask("counting_oauth")

    @app.post("/rest/app.info.json")
    def app_info():
        calls.append(request.form.get("auth", ""))
        # What Bitrix24 answers for a token it did not issue (sandbox/bitrix24/oauth.py, reference §2).
        return jsonify({"error": "invalid_token", "error_description": "The access token provided is invalid"}), 401

    server = serve_in_thread(app)
    yield Counted(server, calls)
    server.stop()


def make_app(tmp_path, oauth: Counted, **env: str) -> Flask:
    database_url = f"sqlite:///{tmp_path / 'limit.db'}"
    migrate(database_url)
    return create_app(load_settings({
        "APP_BASE_URL": "http://127.0.0.1:9", "DATABASE_URL": database_url,
        "SECRET_KEY": "session-signing-key-0123456789abcdef",
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(), "QBO_CLIENT_ID": "q", "QBO_CLIENT_SECRET": "qs",
        "QBO_REDIRECT_URI": "http://127.0.0.1:9/quickbooks/callback", "QBO_ENVIRONMENT": "sandbox",
        "QBO_VERIFIER_TOKEN": "v", "B24_CLIENT_ID": "local.limit.1", "B24_CLIENT_SECRET": "s",
        "B24_OAUTH_SERVERS": oauth.server.url, **env}))


def forged(app: Flask, address: str, path: str = "/bitrix24/app", **headers: str) -> int:
    """A frame POST with a made-up AUTH_ID, as anyone can send, from `address`."""
    form = {"AUTH_ID": secrets.token_hex(35), "AUTH_EXPIRES": "3600", "REFRESH_ID": secrets.token_hex(35),
            "member_id": MEMBER_ID, "PLACEMENT": "DEFAULT"}
    response = app.test_client().post(path, data=form, headers=headers, environ_base={"REMOTE_ADDR": address})
    if response.status_code == 429:
        assert int(response.headers["Retry-After"]) >= 1
        assert "Too many sign-in checks" in response.get_data(as_text=True)
    return response.status_code


def flood(app: Flask, address: str, extra: int = 15, **headers: str) -> list[int]:
    return [forged(app, address, **headers) for _ in range(CONFIRM_BURST + extra)]


def test_forged_frame_posts_are_bounded_per_address_without_an_outbound_call(tmp_path, oauth):
    app = make_app(tmp_path, oauth)
    started = time.monotonic()
    answers = flood(app, "203.0.113.7")
    elapsed = time.monotonic() - started
    assert answers[:CONFIRM_BURST] == [401] * CONFIRM_BURST  # the burst is never refused
    assert set(answers) == {401, 429} and answers[-1] == 429
    assert answers.count(401) <= CONFIRM_BURST + elapsed + 1  # then one a second
    assert len(oauth.calls) == answers.count(401)  # a refused request asked nobody
    # Another address is not limited; an IPv6 subscriber is counted by its /64.
    assert forged(app, "203.0.113.8") == 401
    assert flood(app, "2001:db8::1")[-1] == 429
    assert forged(app, "2001:db8::2") == 429 and forged(app, "2001:db8:0:1::1") == 401
    # Events come from Bitrix24's own servers: they are counted apart from frame POSTs.
    event = app.test_client().post("/webhooks/bitrix24", environ_base={"REMOTE_ADDR": "203.0.113.7"}, data={
        "event": "ONAPPINSTALL", "auth[member_id]": MEMBER_ID, "auth[access_token]": "a" * 70,
        "auth[application_token]": "b" * 32})
    assert event.status_code == 401


def test_the_bound_is_shared_by_all_web_processes_through_redis(tmp_path, oauth, redis):
    from tests.services import REDIS_URL

    first, second = make_app(tmp_path, oauth, REDIS_URL=REDIS_URL), make_app(tmp_path, oauth, REDIS_URL=REDIS_URL)
    address = f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"  # unique: other runs share the Redis
    try:
        started = time.monotonic()
        answers = [forged(first if n % 2 else second, address) for n in range(CONFIRM_BURST + 20)]
        elapsed = time.monotonic() - started
    finally:
        for key in redis.scan_iter(f"qb24:rate:b24confirm:*:frame:{address}"):
            redis.delete(key)
    assert answers[:CONFIRM_BURST] == [401] * CONFIRM_BURST
    assert answers.count(401) <= CONFIRM_BURST + elapsed + 1  # one bucket for both processes
    assert answers[-2:] == [429, 429]  # refused by either process
    assert len(oauth.calls) == answers.count(401)


def test_behind_a_proxy_the_client_address_is_the_one_it_forwards(tmp_path, oauth):
    """APP_BASE_URL https: TLS ends at a reverse proxy, whose X-Forwarded-For entry names the client."""
    app = make_app(tmp_path, oauth, APP_BASE_URL="https://qb24.example.com",
                   QBO_REDIRECT_URI="https://qb24.example.com/quickbooks/callback")
    assert flood(app, "10.0.0.2", **{"X-Forwarded-For": "198.51.100.4"})[-1] == 429
    assert forged(app, "10.0.0.2", **{"X-Forwarded-For": "198.51.100.5"}) == 401  # another client, same proxy
    # Without a proxy (http APP_BASE_URL) the header is anyone's word and is ignored.
    direct = make_app(tmp_path, oauth)
    answers = [forged(direct, "203.0.113.20", **{"X-Forwarded-For": f"198.51.100.{n % 250}"})
               for n in range(CONFIRM_BURST + 15)]
    assert answers[-1] == 429


def test_a_caller_that_is_not_a_proxy_cannot_name_its_address(tmp_path, oauth):
    """With https APP_BASE_URL, X-Forwarded-For is believed only from a peer on a private network or
    this host (a proxy): a caller reaching the app's port from the internet cannot dodge its bound
    with a new address per request, nor drain another address' bucket (issue 8 review)."""
    app = make_app(tmp_path, oauth, APP_BASE_URL="https://qb24.example.com",
                   QBO_REDIRECT_URI="https://qb24.example.com/quickbooks/callback")
    answers = [forged(app, "93.184.216.34", **{"X-Forwarded-For": f"198.51.100.{n % 250}"})
               for n in range(CONFIRM_BURST + 15)]
    assert answers[-1] == 429  # one bucket: the caller's own address
    assert forged(app, "10.0.0.3", **{"X-Forwarded-For": "198.51.100.77"}) == 401  # others untouched


def test_genuine_users_of_another_address_open_the_app_during_a_flood(stack, browser):
    """Through the Bitrix24 sandbox: a flood of forged POSTs from one address leaves a genuine
    user elsewhere untouched (the office behind the flooding NAT shares its bound)."""
    member_id = stack.b24.default_member_id
    install_app(stack, browser, member_id)
    assert flood(stack.app, "203.0.113.30")[-1] == 429
    fields = install_fields(stack)
    client = stack.app.test_client()
    opened = client.post("/bitrix24/app", query_string=fields["query"], data=fields["form"],
                         environ_base={"REMOTE_ADDR": "203.0.113.31"})
    assert opened.status_code == 200 and "qb24" in opened.get_data(as_text=True).lower()
    same_nat = client.post("/bitrix24/app", query_string=fields["query"], data=install_fields(stack)["form"],
                           environ_base={"REMOTE_ADDR": "203.0.113.30"})
    assert same_nat.status_code == 429
