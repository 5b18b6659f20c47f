"""Stored tokens that no key of TOKEN_ENCRYPTION_KEY decrypts (the key they were written with was removed
before `qb24 rotate-keys` ran, docs/deploy.md): every path that reads them answers a clear refusal and logs
one line naming the portal or realm, never a 500 or a traceback, never a token."""
from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from html import unescape

import requests
from sqlalchemy import select

from qb24.demo import walk_admin_flow
from qb24.resync import resync
from store.crypto import TokenCipher
from store.db import make_engine, make_session_factory, transaction
from store.models import QboConnection, QboRevocation
from store.rotate import rotate_keys
from tests.webhooks.stack_support import application_token, read_portal
from workers.celery_app import PULL_CHANGES
from workers.context import Services

SETTINGS_FORM = {"use_new_invoice": "true", "customer_rule": "always_companies", "stage_unsent": "DT31_5:N",
                 "stage_sent": "DT31_5:S", "stage_partially_paid": "DT31_5:S", "stage_paid": "DT31_5:P",
                 "stage_overdue": "DT31_5:N", "stage_voided": "DT31_5:D", "stage_deleted": "DT31_5:D"}


def lose_the_key(stack) -> None:
    """Every stored token moved to a key the app does not hold: as if its own key had been removed."""
    engine = make_engine(stack.settings.database_url)
    try:
        rotate_keys(engine, TokenCipher(f"{TokenCipher.generate_key()},{stack.settings.token_encryption_key}"))
    finally:
        engine.dispose()


def logged(caplog, message: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.getMessage() == message]


def no_unexpected_error(caplog) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [(r.name, r.getMessage()) for r in bad]


def test_requests_refuse_clearly(stack, browser, caplog) -> None:
    caplog.set_level(logging.INFO)
    walk_admin_flow(stack, browser)  # installed, opened by an administrator, logged in to QuickBooks
    member_id, token = stack.b24.default_member_id, application_token(stack)
    lose_the_key(stack)
    caplog.clear()

    # A Bitrix24 event with the right application token: it cannot be checked, so it is refused (was a 500).
    event = {"event": "ONCRMCONTACTADD", "data[FIELDS][ID]": "7", "ts": "1466439714",
             "auth[member_id]": member_id, "auth[application_token]": token}
    refused = requests.post(stack.url + "/webhooks/bitrix24", data=event, timeout=30)
    assert refused.status_code == 401 and refused.json()["error"] == "event_auth"
    [line] = logged(caplog, "b24.event.application_token_undecryptable")
    assert line.member_id == member_id

    # The app page still opens; its CRM part says Bitrix24 could not be read.
    page = browser.get(stack.url + "/bitrix24/app", timeout=30)
    assert page.status_code == 200
    assert logged(caplog, "b24.tokens.undecryptable")[0].member_id == member_id

    # Saving settings needs the portal's tokens: 409 with what to do.
    csrf = unescape(re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text).group(1))
    saved = browser.post(stack.url + "/bitrix24/app/settings", data={**SETTINGS_FORM, "csrf_token": csrf},
                         allow_redirects=False, timeout=30)
    assert saved.status_code == 409 and "open the app in Bitrix24 again" in saved.text

    # Log out: the connection's tokens are forgotten; nothing can revoke them, so nothing is queued.
    out = browser.post(stack.url + "/quickbooks/disconnect", data={"csrf_token": csrf},
                       allow_redirects=False, timeout=30)
    assert out.status_code == 303
    sessions = make_session_factory(make_engine(stack.settings.database_url))
    with sessions() as session:
        connection = session.scalar(select(QboConnection))
        assert connection.status == "disconnected" and connection.refresh_token_enc is None
        assert session.scalars(select(QboRevocation)).all() == []
    [line] = logged(caplog, "qbo.tokens.undecryptable")
    assert line.realm_id == connection.realm_id and line.revoked is False

    # ONAPPUNINSTALL with the right token is refused too: the portal stays as it was.
    uninstall = {"event": "ONAPPUNINSTALL", "data[CLEAN]": "0", "auth[member_id]": member_id,
                 "auth[application_token]": token}
    assert requests.post(stack.url + "/webhooks/bitrix24", data=uninstall, timeout=30).status_code == 401
    assert read_portal(stack, member_id).status == "installed"

    no_unexpected_error(caplog)
    assert token not in caplog.text


def test_workers_stop_with_a_reason(stack, browser, caplog) -> None:
    caplog.set_level(logging.INFO)
    walk_admin_flow(stack, browser)
    member_id = stack.b24.default_member_id
    lose_the_key(stack)
    caplog.clear()
    services = Services.from_settings(stack.settings)
    try:
        # A full sync (the worker's engine, as `qb24 resync` runs it): failed, saying what to do.
        run = resync(services, member_id, dry_run=True, echo=lambda line: None, tty=False)
        assert run.status == "failed"
        assert run.error.startswith("The app can no longer read this portal's stored QuickBooks sign-in")
        # A change pull (of a realm synced before: it has a watermark): an outcome, not a failed task.
        with transaction(services.sessions) as session:
            connection = session.scalar(select(QboConnection))
            connection.cdc_watermark, realm_id = datetime.now(timezone.utc).isoformat(), connection.realm_id
        pull = stack.app.extensions["qb24"].celery.tasks[PULL_CHANGES].apply(args=(realm_id,))
        assert pull.get() == "tokens_unreadable"
    finally:
        services.close()
    assert {line.realm_id for line in logged(caplog, "qbo.tokens.undecryptable")} == {realm_id}
    no_unexpected_error(caplog)
