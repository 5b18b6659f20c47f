"""`GET /metrics`: Prometheus text from a registry owned by one app (tests build many apps)."""
from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, has_app_context, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

metrics_bp = Blueprint("metrics", __name__)


class Metrics:
    """The service's counters in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("qb24_http_requests", "HTTP requests answered", ["endpoint", "status"],
                                registry=self.registry)
        self.events = Counter("qb24_events", "Inbound events by outcome", ["source", "event", "outcome"],
                              registry=self.registry)
        self.tasks = Counter("qb24_tasks", "Background tasks by outcome", ["name", "outcome"],
                             registry=self.registry)
        self.errors = Counter("qb24_errors", "Errors and refusals by kind", ["kind"], registry=self.registry)


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
    return response


@metrics_bp.get("/metrics")
def prometheus() -> Response:
    return Response(generate_latest(metrics().registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


def init_app(app: Flask) -> None:
    """Give the app its registry, count every response, serve /metrics."""
    app.extensions["qb24_metrics"] = Metrics()
    app.after_request(_count_request)
    app.register_blueprint(metrics_bp)
