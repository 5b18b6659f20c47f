"""The Celery application: Redis broker in production, an in-memory one in the embedded mode.

`celery -A workers.celery_app worker` finds `app` through the module `__getattr__`, so the
settings are read when a worker starts, never at import (STYLE: no import-time configuration).
"""
from __future__ import annotations

from typing import Any

from celery import Celery

from config.logging import quiet_secret_loggers
from config.settings import Settings, load_settings

# Tasks must finish (or re-queue themselves) well inside the broker's redelivery window.
VISIBILITY_TIMEOUT_S = 3600


def make_celery(settings: Settings) -> Celery:
    """A Celery app for these settings; tasks ack late so a crashed worker's task is redelivered."""
    quiet_secret_loggers()  # Celery configures logging itself; keep request URLs out of DEBUG logs
    broker = settings.redis_url or "memory://"
    celery = Celery("qb24", broker=broker, include=[])
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
        broker_connection_retry_on_startup=True,
    )
    return celery


def __getattr__(name: str) -> Any:
    if name == "app":
        app = make_celery(load_settings())
        globals()["app"] = app
        return app
    raise AttributeError(name)
