"""Reconciliation: beat queues a change pull for every connected realm, so a lost webhook is caught.

Every RECONCILE_INTERVAL_S the pull reads changes since the realm's watermark (one CDC call when
nothing changed); daily it also looks back a day (workers/celery_app.beat_schedule). The pull itself
decides what to do (workers/changes.py: covered, busy, resync), so queuing one too many costs little.
"""
from __future__ import annotations

import logging

from celery import Task, shared_task
from sqlalchemy import select

from store.models import Portal, QboConnection
from workers.celery_app import PULL_CHANGES, RECONCILE_ALL
from workers.context import Services
from workers.tasks import PUBLISH_RETRY

log = logging.getLogger("qb24.worker.reconcile")


@shared_task(name=RECONCILE_ALL, bind=True)
def reconcile_all(self: Task, lookback_s: int | None = None) -> int:
    return queue_pulls(self.app.services, lookback_s)


def connected_realms(services: Services) -> list[str]:
    """The realms connected to an installed portal."""
    with services.sessions() as session:
        return list(session.scalars(
            select(QboConnection.realm_id).join(Portal, Portal.id == QboConnection.portal_id)
            .where(QboConnection.status == "connected", Portal.status == "installed")
            .order_by(QboConnection.id)))


def queue_pulls(services: Services, lookback_s: int | None = None) -> int:
    """Queue PULL_CHANGES(realm_id, None, lookback_s=…) for each connected realm; how many were queued.
    A realm whose pull the broker refused is left to the next reconciliation (logged)."""
    queued = 0
    for realm_id in connected_realms(services):
        try:
            services.celery.send_task(PULL_CHANGES, args=(realm_id, None), kwargs={"lookback_s": lookback_s},
                                      retry_policy=PUBLISH_RETRY)
            queued += 1
        except Exception as error:
            log.warning("reconcile.enqueue_failed", extra={"realm_id": realm_id, "error": type(error).__name__})
    log.info("reconcile.queued", extra={"realms": queued, "lookback_s": lookback_s})
    return queued
