"""Retry from the sync log: read one QuickBooks record again and apply it through the change path.

The app page's Retry button queues `retry_record(portal_id, qbo_type, qbo_id)`. The record is read fresh
and applied as a pull would apply it, except that its content hash is forgotten first (the portal may have
been fixed, e.g. a mandatory field filled, while the QuickBooks record stayed the same) and it runs as a
resumed page (a Retry whose worker died after writing finds its record by origin marker). Its sync-log row
goes in the commit that binds it; a Customer whose failure blocked invoices is retried alone: the invoices
stay in the log until retried themselves.
"""
from __future__ import annotations

import logging
from functools import partial

from celery import Task, shared_task
from sqlalchemy import select, update

from clients.quickbooks_errors import NotFound
from store.db import transaction
from store.models import Link, Portal, QboConnection
from store.sync_log import clear_failures, failure_of
from workers.celery_app import RETRY_RECORD
from workers.change_apply import apply_changes
from workers.change_commit import commit_changes, commit_links, pull_context
from workers.context import Services
from workers.full_sync import TRANSIENT
from workers.sync_customers import CUSTOMER
from workers.sync_invoices import INVOICE

log = logging.getLogger("qb24.changes")
MAX_RETRIES, RETRY_DELAY_S = 8, 15


@shared_task(name=RETRY_RECORD, bind=True, max_retries=MAX_RETRIES)
def retry_record(self: Task, portal_id: int, qbo_type: str, qbo_id: str) -> str:
    try:
        return apply_record(self.app.services, portal_id, qbo_type, qbo_id)
    except TRANSIENT as error:
        log.warning("changes.retry_record_retry", extra={"portal_id": portal_id, "error": type(error).__name__})
        raise self.retry(countdown=RETRY_DELAY_S)


def apply_record(services: Services, portal_id: int, qbo_type: str, qbo_id: str) -> str:
    """Apply one record again: "applied", "failed" (its log row stays, with the new reason), "gone" (deleted
    in QuickBooks: applied as a delete), "unknown" (not a Customer or Invoice) or "disconnected"."""
    if qbo_type not in (CUSTOMER, INVOICE):
        return "unknown"
    with services.sessions() as session:
        portal = session.get(Portal, portal_id)
        connection = session.scalar(select(QboConnection).where(QboConnection.portal_id == portal_id))
    if portal is None or portal.status != "installed" or connection is None or connection.status != "connected":
        return "disconnected"
    qbo = services.quickbooks_client(connection.realm_id)
    ctx = pull_context(services.sessions, portal, connection.realm_id, qbo=qbo,
                       b24=services.bitrix24_client(portal.member_id))
    try:
        record = qbo.get(qbo_type, qbo_id)
    except NotFound:  # reference §5: a deleted invoice reads as not found
        record = {"Id": str(qbo_id), "status": "Deleted", "MetaData": {}}
    _forget_hash(services, portal_id, qbo_type, str(qbo_id))
    customers, invoices = ([record], []) if qbo_type == CUSTOMER else ([], [record])
    result = apply_changes(ctx, customers, invoices, resumed=True, checkpoint=partial(commit_links, ctx, None))
    commit_changes(ctx, result, mine=None, watermark=None, payments=[], calls=1, pulls=0)
    if record.get("status") == "Deleted":
        with transaction(services.sessions) as session:
            clear_failures(session, portal_id, qbo_type, [str(qbo_id)])
        return "gone"
    with services.sessions() as session:
        return "failed" if failure_of(session, portal_id, qbo_type, str(qbo_id)) else "applied"


def _forget_hash(services: Services, portal_id: int, qbo_type: str, qbo_id: str) -> None:
    """The record is written again even if QuickBooks holds what was last written."""
    with transaction(services.sessions) as session:
        session.execute(update(Link).where(Link.portal_id == portal_id, Link.qbo_type == qbo_type,
                                           Link.qbo_id == qbo_id).values(content_hash=None))
