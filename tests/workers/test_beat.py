"""Reconciliation (issue 10 item 4): beat queues a change pull for every connected realm of an installed
portal every RECONCILE_INTERVAL_S, and daily with a day's lookback; the embedded mode runs the same
schedule in-process; a reconnect queues a catch-up pull by itself."""
from __future__ import annotations

import re
import time

from kombu.exceptions import OperationalError
from sqlalchemy import select

from config.settings import load_settings
from qb24.demo import connect_quickbooks, install_app, open_app_page
from store.db import transaction
from store.models import QboConnection
from tests.config.test_settings import VALID
from tests.support import wait_for
from tests.workers.queue_support import add_portal, browser, embedded_services, published, stack  # noqa: F401 (fixtures)
from workers.celery_app import (DAILY_S, PULL_CHANGES, REALTIME_QUEUE, RECONCILE_ALL, SWEEP_EXPORTS, SWEEP_GRANTS,
                                make_celery)
from workers.embedded import ensure_embedded_worker
from workers.reconcile import queue_pulls


def test_the_schedule_follows_the_setting():
    schedule = make_celery(load_settings({**VALID, "RECONCILE_INTERVAL_S": "120"})).conf.beat_schedule
    assert {name: (entry["task"], entry["schedule"], entry.get("kwargs")) for name, entry in schedule.items()} == {
        "reconcile": (RECONCILE_ALL, 120, None),
        "reconcile-daily": (RECONCILE_ALL, DAILY_S, {"lookback_s": DAILY_S}),
        "sweep-grants": (SWEEP_GRANTS, 120, None),
        "sweep-exports": (SWEEP_EXPORTS, 120, None)}


def test_embedded_beat_fires_reconcile_all_and_a_pull_is_queued_for_each_connected_realm(tmp_path):
    with embedded_services(tmp_path, RECONCILE_INTERVAL_S="0.3") as services:
        add_portal(services, "m-live", "1001")
        add_portal(services, "m-gone", "1002", installed=False)  # uninstalled: its connection is not pulled
        add_portal(services, "m-out", "1003", connection="disconnected")  # logged out
        add_portal(services, "m-new", None)  # never connected
        with published(services) as seen:
            ensure_embedded_worker(services.celery, bulk=False)
            wait_for(lambda: sum(p.task == PULL_CHANGES for p in seen) >= 2, "two reconciliations to queue pulls")
        fired = [p for p in seen if p.task == RECONCILE_ALL]
        pulls = {(p.args, tuple(sorted(p.kwargs.items())), p.queue) for p in seen if p.task == PULL_CHANGES}
        assert fired and all(p.kwargs == {} for p in fired)  # the interval's entry (the daily one waits a day)
        assert pulls == {(("1001", None), (("lookback_s", None),), REALTIME_QUEUE)}
        assert any(p.task == SWEEP_GRANTS for p in seen)


def test_the_daily_reconciliation_looks_back_a_day(tmp_path):
    with embedded_services(tmp_path) as services:
        add_portal(services, "m-a", "2001")
        add_portal(services, "m-b", "2002")
        with published(services) as seen:
            assert queue_pulls(services, DAILY_S) == 2
        assert [(p.task, p.args, p.kwargs) for p in seen] == [
            (PULL_CHANGES, ("2001", None), {"lookback_s": DAILY_S}),
            (PULL_CHANGES, ("2002", None), {"lookback_s": DAILY_S})]


def test_a_broker_refusing_one_pull_is_logged_and_left_to_the_next_reconciliation(tmp_path, caplog):
    with embedded_services(tmp_path, REDIS_URL="redis://127.0.0.1:1/0") as services:  # nothing listens there
        add_portal(services, "m-a", "3001")
        assert queue_pulls(services) == 0
    assert [r.realm_id for r in caplog.records if r.getMessage() == "reconcile.enqueue_failed"] == ["3001"]


def _log_out(stack, browser) -> None:
    page = browser.get(stack.url + "/bitrix24/app", timeout=10).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert browser.post(stack.url + "/quickbooks/disconnect", data={"csrf_token": csrf}, allow_redirects=False,
                        timeout=10).status_code == 303


def _reconnect(stack, browser) -> None:
    connect_quickbooks(browser, stack.url, browser.get(stack.url + "/bitrix24/app", timeout=10).text)


def test_a_reconnect_of_a_realm_that_synced_before_queues_a_catch_up_pull(stack, browser, monkeypatch):
    services = stack.app.extensions["qb24"]
    install_app(stack, browser, stack.b24.default_member_id)
    with published(services) as seen:
        connect_quickbooks(browser, stack.url, open_app_page(stack, browser, stack.b24.default_member_id))
    assert not [p for p in seen if p.task == PULL_CHANGES]  # never synced: the first sync is the user's to start
    with transaction(services.sessions) as session:
        connection = session.scalar(select(QboConnection))
        realm_id, connection.cdc_watermark = connection.realm_id, "2026-11-30T10:00:00Z"
    _log_out(stack, browser)
    with published(services) as seen:
        _reconnect(stack, browser)
    [pull] = [p for p in seen if p.task == PULL_CHANGES]
    assert (pull.args[0], pull.queue) == (realm_id, REALTIME_QUEUE) and pull.args[1] <= time.time()
    # A broker that refuses the catch-up does not fail the connect: beat's reconciliation pulls instead.
    _log_out(stack, browser)
    monkeypatch.setattr(services.celery, "send_task", _refuse)
    _reconnect(stack, browser)  # raises unless the finish answered 200
    with services.sessions() as session:
        assert session.scalar(select(QboConnection.status)) == "connected"


def _refuse(name: str, *args, **kwargs):
    if name == PULL_CHANGES:
        raise OperationalError("broker unreachable")
    return None  # the log out's revocation: left to the sweep, as with a broker down
