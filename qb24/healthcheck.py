"""`qb24 healthcheck web|worker|beat`: docker-compose.yml's container healthchecks.

Each check returns one line saying what answered, or raises Unhealthy saying what did not (the
command then exits 1, which Docker counts as a failed check):

- web: the local gunicorn's `GET /healthz` answers 200 (database, Redis and broker; webhooks/health.py).
- worker: the worker's own node answers a Celery ping through the broker, so its consumer is alive
  and connected, not merely its process.
- beat: beat's node answers a ping. Celery beat (beat_enable_remote_control, workers/celery_app.py)
  answers only while its scheduler ticks: once it has not for max(2 × beat_max_loop_interval, 60 s) it
  stays silent (celery.beat.BeatPidbox.max_tick_age), so a wedged beat is unhealthy, not just a dead one.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request

from celery.beat import beat_nodename
from celery.utils.nodenames import default_nodename, host_format

ROLES = ("web", "worker", "beat")
WEB_URL = "http://127.0.0.1:8000/healthz"  # config/gunicorn.py binds port 8000


class Unhealthy(Exception):
    """The process did not answer as a healthy one does; the message says what was seen."""


def check(role: str, *, url: str = WEB_URL, node: str | None = None, timeout: float = 3.0) -> str:
    """Check this container's `role` process; `node` is a worker's --hostname (%h: this host)."""
    if role == "web":
        return check_web(url, timeout)
    if role == "worker":
        return ping_node(host_format(default_nodename(node)), timeout)
    if role == "beat":
        return ping_node(beat_nodename(node), timeout)
    raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")


def check_web(url: str, timeout: float) -> str:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return f"web: {url} answered {response.status}"
    except urllib.error.HTTPError as exc:  # 503 names the failing dependency in its body
        raise Unhealthy(f"web: {url} answered {exc.code}: {_checks(exc.read())}") from None
    except OSError as exc:
        raise Unhealthy(f"web: {url} did not answer: {exc}") from None


def _checks(body: bytes) -> str:
    try:
        return json.dumps(json.loads(body)["checks"], sort_keys=True)
    except (ValueError, KeyError, TypeError):
        return body[:200].decode(errors="replace")


def ping_node(node: str, timeout: float) -> str:
    """Ping one Celery node (a worker, or beat) through the broker the app is configured with."""
    from config.settings import ConfigError, load_settings
    from workers.celery_app import make_celery

    try:
        settings = load_settings()
    except ConfigError as exc:
        raise Unhealthy(f"{node}: {exc}") from None
    if settings.redis_url is None:
        raise Unhealthy(f"{node}: REDIS_URL is not set, so no worker or beat process serves this app")
    celery = make_celery(settings)
    try:
        replies = celery.control.ping(destination=[node], timeout=timeout)
    except Exception as exc:  # the broker is down or refuses us: unhealthy, whatever the kind
        raise Unhealthy(f"{node}: the broker did not take the ping: {exc!r}") from None
    finally:
        celery.close()
    if not any(node in reply for reply in replies):
        raise Unhealthy(f"{node}: no answer to a ping within {timeout:g} s")
    return f"{node}: pong"
