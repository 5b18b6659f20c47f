"""The real-time sync's metrics, read from the store at scrape time.

Pulls run in Celery workers and webhooks land on any gunicorn worker: counters kept in one process's
memory would each tell part of the story. The store is what every process writes, so /metrics reads it:
two grouped queries per scrape (connections, and received events by realm).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
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


class StoreCollector(Collector):
    """qb24_qbo_lag_seconds, qb24_qbo_events_received_total and qb24_qbo_changes_total per realm."""

    def __init__(self, sessions: sessionmaker[Session], errors: Counter,
                 clock: Callable[[], float] = time.time) -> None:
        self.sessions, self.errors, self.clock = sessions, errors, clock

    def describe(self) -> list:
        # Registering must not query the store (the registry calls collect() when describe is missing).
        return []

    def collect(self) -> Iterator[Any]:
        try:
            with self.sessions() as session:
                connections = session.execute(select(QboConnection.realm_id, QboConnection.status,
                                                     QboConnection.cdc_watermark, QboConnection.change_counts)).all()
                received = session.execute(select(ReceivedEvent.realm_id, func.count())
                                           .where(ReceivedEvent.source == "qbo", ReceivedEvent.realm_id.is_not(None))
                                           .group_by(ReceivedEvent.realm_id)).all()
        except SQLAlchemyError as error:  # a scrape answers without these families rather than a 500
            log.warning("metrics.store_unavailable", extra={"error": type(error).__name__})
            self.errors.labels(kind="metrics_store").inc()
            return
        yield self._lag(connections)
        events = CounterMetricFamily("qb24_qbo_events_received", "QuickBooks webhook events stored, by realm",
                                     labels=["realm_id"])
        for realm_id, count in received:
            events.add_metric([realm_id], count)
        yield events
        yield _changes(connections)

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
