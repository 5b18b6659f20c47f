"""The real-time sync's metrics, read from the store at scrape time.

Pulls run in Celery workers and webhooks land on any gunicorn worker: counters kept in one process's
memory would each tell part of the story. The store is what every process writes, so /metrics reads it:
the connections, and the received events by realm.

received_events is never pruned (it dedupes Intuit's redeliveries), so a scrape that counted it whole would
slow without end (1.5 s at 3 million rows, a week at 5 events/s). Each process counts a row once it has
settled (received more than SETTLE_S ago: its transaction has committed) and keeps the totals; a scrape
then reads only rows past the last settled id, through the primary key.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

from prometheus_client import Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from mappers.qbo_time import parse_qbo_time
from store.models import QboConnection, ReceivedEvent

log = logging.getLogger("qb24.web.metrics")
# connection.change_counts keys (workers/changes.py keeps them as running totals)
CHANGE_OUTCOMES = ("applied", "skipped", "failed", "pulls", "qbo_calls")
# A webhook's transaction (store + enqueue, a few retries at most) commits well within this: an event row
# received longer ago is never joined by one with a lower id.
SETTLE_S = 600


class StoreCollector(Collector):
    """qb24_qbo_lag_seconds, qb24_qbo_events_received_total and qb24_qbo_changes_total per realm."""

    def __init__(self, sessions: sessionmaker[Session], errors: Counter,
                 clock: Callable[[], float] = time.time) -> None:
        self.sessions, self.errors, self.clock = sessions, errors, clock
        self._lock = threading.Lock()  # scrapes may run on several threads of one process
        self._settled_id, self._settled = 0, {}  # the events up to that id, counted by realm

    def describe(self) -> list:
        # Registering must not query the store (the registry calls collect() when describe is missing).
        return []

    def collect(self) -> Iterator[Any]:
        try:
            with self.sessions() as session:
                connections = session.execute(select(QboConnection.realm_id, QboConnection.status,
                                                     QboConnection.cdc_watermark, QboConnection.change_counts)).all()
                received = self._received(session)
        except SQLAlchemyError as error:  # a scrape answers without these families rather than a 500
            log.warning("metrics.store_unavailable", extra={"error": type(error).__name__})
            self.errors.labels(kind="metrics_store").inc()
            return
        yield self._lag(connections)
        events = CounterMetricFamily("qb24_qbo_events_received", "QuickBooks webhook events stored, by realm",
                                     labels=["realm_id"])
        for realm_id, count in sorted(received.items()):
            events.add_metric([realm_id], count)
        yield events
        yield _changes(connections)

    def _received(self, session: Session) -> dict[str, int]:
        """QuickBooks events stored, by realm: the settled totals plus the rows since (primary-key ranges)."""
        with self._lock:
            cut = datetime.fromtimestamp(self.clock() - SETTLE_S, timezone.utc)
            settled = session.scalar(select(ReceivedEvent.id).where(ReceivedEvent.id > self._settled_id,
                                                                     ReceivedEvent.received_at < cut)
                                     .order_by(ReceivedEvent.id.desc()).limit(1))
            if settled is not None:
                for realm_id, count in _counts(session, self._settled_id, settled):
                    self._settled[realm_id] = self._settled.get(realm_id, 0) + count
                self._settled_id = settled
            totals = dict(self._settled)
            for realm_id, count in _counts(session, self._settled_id, None):
                totals[realm_id] = totals.get(realm_id, 0) + count
            return totals

    def _lag(self, connections: list) -> GaugeMetricFamily:
        lag = GaugeMetricFamily("qb24_qbo_lag_seconds", "Seconds since the change watermark of each connected realm "
                                "(changes after it are not in Bitrix24 yet)", labels=["realm_id"])
        now = self.clock()
        for realm_id, status, watermark, _ in connections:
            if status != "connected" or not watermark:
                continue  # no first sync yet: no watermark, no lag to speak of
            try:
                lag.add_metric([realm_id], max(0.0, now - parse_qbo_time(watermark).timestamp()))
            except ValueError:
                log.warning("metrics.bad_watermark", extra={"realm_id": realm_id})
        return lag


def _counts(session: Session, after_id: int, up_to_id: int | None) -> list:
    """(realm_id, count) of the QuickBooks events with after_id < id <= up_to_id (None: no upper bound)."""
    query = (select(ReceivedEvent.realm_id, func.count())
             .where(ReceivedEvent.id > after_id, ReceivedEvent.source == "qbo", ReceivedEvent.realm_id.is_not(None))
             .group_by(ReceivedEvent.realm_id))
    if up_to_id is not None:
        query = query.where(ReceivedEvent.id <= up_to_id)
    return session.execute(query).all()


def _changes(connections: list) -> CounterMetricFamily:
    changes = CounterMetricFamily("qb24_qbo_changes", "QuickBooks changes pulled, by realm and outcome "
                                  "(applied, skipped, failed; pulls and qbo_calls count the pulls and their calls)",
                                  labels=["realm_id", "outcome"])
    for realm_id, _, _, counts in connections:
        counts = counts if isinstance(counts, dict) else {}
        for outcome in CHANGE_OUTCOMES:
            if isinstance(counts.get(outcome), (int, float)):
                changes.add_metric([realm_id, outcome], counts[outcome])
    return changes
