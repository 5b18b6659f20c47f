"""`GET /metrics`: Prometheus text for the whole service, whichever gunicorn worker answers.

What a web process counts (requests, events, errors) is summed across gunicorn's workers by
prometheus_client's multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set (config/gunicorn.py sees to
it): each worker writes its values to files of its own there and a scrape merges them all
(MultiProcessCollector). Without it (`qb24 web`, the demo, tests that build many apps in one process)
each app keeps its own registry. What other processes and machines do is read at scrape time, once per
scrape: the store (webhooks/store_metrics.py), Celery's tasks and queues (workers/task_metrics.py).

The text is for the operator's Prometheus, not the internet: a request that came through the reverse
proxy is answered 404 unless it carries METRICS_TOKEN (see `scraper_allowed`).
"""
from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, has_app_context, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from webhooks.store_metrics import StoreCollector
from workers.context import Services
from workers.task_metrics import TaskCollector

log = logging.getLogger("qb24.web.metrics")
metrics_bp = Blueprint("metrics", __name__)
# Headers a reverse proxy adds (RFC 7239 Forwarded; the de facto X-Forwarded-For; nginx's X-Real-IP):
# a request bearing one came from outside this host's network, where /metrics is not offered.
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")
STARTED = "qb24.started"  # WSGI environ key: when the request reached the app (perf_counter)


class Metrics:
    """The web process's counters, and the collectors read at scrape time."""

    def __init__(self, services: Services) -> None:
        shared = multiprocess_dir() is not None
        own = None if shared else CollectorRegistry(auto_describe=True)
        self.requests = Counter("qb24_http_requests", "HTTP requests answered", ["endpoint", "status"], registry=own)
        self.request_seconds = Histogram("qb24_http_request_duration_seconds", "Time to answer an HTTP request",
                                         ["endpoint"], registry=own)
        self.events = Counter("qb24_events", "Inbound events by outcome", ["source", "event", "outcome"],
                              registry=own)
        self.errors = Counter("qb24_errors", "Errors and refusals by kind", ["kind"], registry=own)
        # read where every process writes: once per scrape, whichever worker answers it
        self.scraped: list[Collector] = [StoreCollector(services.sessions, self.errors),
                                         TaskCollector(services, self.errors)]
        self._own = own
        for collector in self.scraped if own is not None else ():
            own.register(collector)

    @property
    def registry(self) -> CollectorRegistry:
        """What a scrape reads: this app's registry, or every worker's files and the scrape-time collectors."""
        if self._own is not None:
            return self._own
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        for collector in self.scraped:
            registry.register(collector)
        return registry


def multiprocess_dir() -> str | None:
    """PROMETHEUS_MULTIPROC_DIR when this process's metrics are written there; made if missing."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return None
    # prometheus_client picks its value class when first imported: set later, the variable would make
    # scrapes read files nobody writes. Per-process counting is then the honest answer.
    if not getattr(values.ValueClass, "_multiprocess", False):
        log.warning("metrics.multiprocess_dir_set_too_late", extra={"path": path})
        return None
    os.makedirs(path, exist_ok=True)
    return path


def metrics() -> Metrics:
    return current_app.extensions["qb24_metrics"]


def count_event(source: str, event: str, outcome: str, amount: int = 1) -> None:
    metrics().events.labels(source=source, event=event[:64], outcome=outcome).inc(amount)


def count_error(kind: str) -> None:
    if has_app_context():
        metrics().errors.labels(kind=kind).inc()


def _count_request(response: Response) -> Response:
    # The route's rule, not the path: paths carry ids and tokens, rules have bounded cardinality.
    endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
    metrics().requests.labels(endpoint=endpoint, status=str(response.status_code)).inc()
    started = request.environ.get(STARTED)
    if started is not None:
        metrics().request_seconds.labels(endpoint=endpoint).observe(time.perf_counter() - started)
    return response


def scraper_allowed() -> bool:
    """A request that did not come through the reverse proxy, or one with `Authorization: Bearer
    <METRICS_TOKEN>` (compared in constant time)."""
    token = current_app.extensions["qb24"].settings.metrics_token
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer":
        # bytes on both sides: compare_digest refuses a str holding non-ASCII (a forged header may)
        if hmac.compare_digest(given.strip().encode("utf-8", "replace"), token.encode()):
            return True
    return not any(header in request.headers for header in PROXY_HEADERS)


@metrics_bp.get("/metrics")
def prometheus() -> Response:
    if not scraper_allowed():
        abort(404)  # the same answer as any unknown path: nothing here to find
    return Response(generate_latest(metrics().registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


class _StartClock:
    """WSGI middleware noting when a request arrived, before any hook can answer it."""

    def __init__(self, app: Callable[[dict, Any], Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        environ[STARTED] = time.perf_counter()
        return self.app(environ, start_response)


def init_app(app: Flask) -> None:
    """Give the app its metrics, count and time every response, serve /metrics."""
    app.extensions["qb24_metrics"] = Metrics(app.extensions["qb24"])
    app.wsgi_app = _StartClock(app.wsgi_app)
    app.after_request(_count_request)
    app.register_blueprint(metrics_bp)
