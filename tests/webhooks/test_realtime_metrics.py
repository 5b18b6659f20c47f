"""/metrics' real-time sync families come from the store: what one process (a worker) wrote, another
(any gunicorn worker) reports, on SQLite and on PostgreSQL. And the app page's sentence for the last change."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event

from config.settings import load_settings
from store.db import migrate, transaction
from store.models import QboConnection, ReceivedEvent
from store.portals import ensure_portal
from tests.config.test_settings import VALID
from webhooks import create_app
from webhooks.sync_log_view import last_change


def make_app(database_url: str):
    return create_app(load_settings({**VALID, "DATABASE_URL": database_url}))


def samples(app) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} of one scrape."""
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.get_data(as_text=True)) for s in family.samples}


def realm(portal_index: int, sessions, realm_id: str, status: str, watermark: str | None, counts: dict | None) -> None:
    with transaction(sessions) as session:
        portal = ensure_portal(session, member_id=f"m{portal_index}", domain=f"p{portal_index}.example",
                               client_endpoint="https://x.example/rest/", server_endpoint="https://o.example/rest/")
        session.flush()
        session.add(QboConnection(portal_id=portal.id, realm_id=realm_id, status=status, cdc_watermark=watermark,
                                  change_counts=counts))
        for n in range(portal_index + 1):  # realm k has k+1 events; a Bitrix24 event is not counted
            session.add(ReceivedEvent(source="qbo", dedupe_key=f"{realm_id}:{n}", portal_id=portal.id,
                                      realm_id=realm_id, entity="Invoice", entity_id=str(n), operation="Update"))
        session.add(ReceivedEvent(source="b24", dedupe_key=f"b24:{realm_id}", portal_id=portal.id))


def qbo_time(moment: datetime) -> str:
    """A CDC `time` as QuickBooks writes it (reference §11: `2015-12-23T12:56:06.196-08:00`)."""
    return moment.astimezone(timezone(timedelta(hours=-8))).isoformat(timespec="milliseconds")


def test_lag_events_and_changes_come_from_the_store_for_every_app(database_url):
    migrate(database_url)
    writer, reader = make_app(database_url), make_app(database_url)  # two processes' worth of apps
    sessions = writer.extensions["qb24"].sessions
    ten_s_ago = datetime.now(timezone.utc) - timedelta(seconds=10)
    realm(0, sessions, "9130001", "connected", qbo_time(ten_s_ago),
          {"applied": 7, "skipped": 2, "failed": 1, "pulls": 3, "qbo_calls": 4})
    realm(1, sessions, "9130002", "connected", None, None)  # connected, first sync not run yet
    realm(2, sessions, "9130003", "disconnected", qbo_time(ten_s_ago), {"applied": 5})
    before = time.time()
    seen = samples(reader)
    lag = seen[("qb24_qbo_lag_seconds", (("realm_id", "9130001"),))]
    assert 9.9 <= lag <= 10 + (time.time() - before) + 1
    assert [k for k in seen if k[0] == "qb24_qbo_lag_seconds"] == [("qb24_qbo_lag_seconds", (("realm_id", "9130001"),))]
    assert {k[1]: v for k, v in seen.items() if k[0] == "qb24_qbo_events_received_total"} == {
        (("realm_id", "9130001"),): 1, (("realm_id", "9130002"),): 2, (("realm_id", "9130003"),): 3}
    assert {k[1]: v for k, v in seen.items() if k[0] == "qb24_qbo_changes_total"} == {
        (("outcome", "applied"), ("realm_id", "9130001")): 7, (("outcome", "skipped"), ("realm_id", "9130001")): 2,
        (("outcome", "failed"), ("realm_id", "9130001")): 1, (("outcome", "pulls"), ("realm_id", "9130001")): 3,
        (("outcome", "qbo_calls"), ("realm_id", "9130001")): 4, (("outcome", "applied"), ("realm_id", "9130003")): 5}
    # a worker applies more: the other app's next scrape says so
    with transaction(sessions) as session:
        connection = session.query(QboConnection).filter_by(realm_id="9130001").one()
        connection.change_counts = {**connection.change_counts, "applied": 8}
    assert samples(reader)[("qb24_qbo_changes_total", (("outcome", "applied"), ("realm_id", "9130001")))] == 8
    for app in (writer, reader):
        app.extensions["qb24"].close()


def test_a_scrape_reads_only_the_events_received_since_settled_ones(database_url):
    # received_events is never pruned (it dedupes redeliveries): counting it whole took 1.5 s per scrape at
    # 3 million rows (a week at 5 events/s) and grows without end; settled rows are counted once per process
    migrate(database_url)
    app = make_app(database_url)
    sessions = app.extensions["qb24"].sessions
    realm(0, sessions, "9130001", "connected", None, None)  # one event, just received
    with transaction(sessions) as session:
        hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
        for n in range(5):
            session.add(ReceivedEvent(source="qbo", dedupe_key=f"old:{n}", realm_id="9130001", entity="Invoice",
                                      entity_id=str(n), operation="Update", received_at=hour_ago))
    events = ("qb24_qbo_events_received_total", (("realm_id", "9130001"),))
    assert samples(app)[events] == 6
    statements: list[str] = []
    engine = sessions.kw["bind"]

    def remember(conn, cursor, statement, *args) -> None:
        statements.append(statement)
    event.listen(engine, "before_cursor_execute", remember)
    with transaction(sessions) as session:
        session.add(ReceivedEvent(source="qbo", dedupe_key="new:1", realm_id="9130002", entity="Invoice",
                                  entity_id="1", operation="Create"))
    seen = samples(app)
    assert (seen[events], seen[("qb24_qbo_events_received_total", (("realm_id", "9130002"),))]) == (6, 1)
    reads = [s for s in statements if s.lstrip().startswith("SELECT") and "received_events" in s]
    assert reads and all("received_events.id >" in s for s in reads), reads
    event.remove(engine, "before_cursor_execute", remember)
    app.extensions["qb24"].close()


def test_a_store_failure_at_scrape_drops_those_families_not_the_scrape(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'never-migrated.db'}")  # no tables: every query fails
    first = samples(app)
    assert not any(name.startswith("qb24_qbo_") for name, _ in first)
    # counted (the error counter is collected before the store families, so the next scrape shows it)
    assert samples(app)[("qb24_errors_total", (("kind", "metrics_store"),))] >= 1
    app.extensions["qb24"].close()


@pytest.mark.parametrize("change, sentence", [
    ({"entity": "Invoice", "qbo_id": "68", "name": "Invoice 1106", "what": "created"},
     "QuickBooks invoice 68 (Invoice 1106) was created in Bitrix24."),
    ({"entity": "Invoice", "qbo_id": "68", "what": "removed"},
     "QuickBooks invoice 68 was deleted in QuickBooks and removed from Bitrix24."),
    ({"entity": "Invoice", "qbo_id": "68", "what": "deleted"},
     "QuickBooks invoice 68 was deleted in QuickBooks and moved to the Deleted stage in Bitrix24."),
    ({"entity": "Customer", "qbo_id": "58", "name": "Amy", "what": "deleted"},
     "QuickBooks customer 58 (Amy) was deleted in QuickBooks; its Bitrix24 record is kept, no longer synced."),
    ({"entity": "Customer", "qbo_id": "58", "what": "merged"},
     "QuickBooks customer 58 took over a customer merged into it in QuickBooks; Bitrix24 follows the merge."),
    ({"entity": "Customer", "qbo_id": "58", "what": "teleported"}, "QuickBooks customer 58 was changed in Bitrix24."),
])
def test_the_last_change_reads_as_a_sentence(change, sentence):
    at = {"at": "2026-12-01T02:15:29.5-08:00"}
    shown = last_change(QboConnection(last_change={**change, **at}))
    assert (shown.sentence, shown.at) == (sentence, datetime(2026, 12, 1, 10, 15, 29, tzinfo=timezone.utc))
    assert last_change(QboConnection(last_change=None)) is None
    assert last_change(QboConnection(last_change={**change, "at": "yesterday"})).at is None
