"""The service's tables: tenants, their QuickBooks connections, links, sync runs, received events."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (JSON, DateTime, ForeignKey, Index, Integer, String, Text, TypeDecorator, UniqueConstraint,
                        false, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    """Timezone-aware now; every stored instant is UTC."""
    return datetime.now(timezone.utc)


class UtcDateTime(TypeDecorator):
    """Aware UTC datetimes on every dialect (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        return None if value is None else value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON}


class Portal(Base):
    """A Bitrix24 portal that installed the app (the tenant)."""

    __tablename__ = "portals"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[str] = mapped_column(String(64), unique=True)
    domain: Mapped[str] = mapped_column(String(255))
    client_endpoint: Mapped[str] = mapped_column(String(512))
    server_endpoint: Mapped[str] = mapped_column(String(512))
    access_token_enc: Mapped[str | None] = mapped_column(Text)
    refresh_token_enc: Mapped[str | None] = mapped_column(Text)
    access_expires_at: Mapped[datetime | None]
    application_token_enc: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="installed")  # installed | uninstalled
    # A new random id per install: a session names the install it was opened for (webhooks/session.py).
    install_id: Mapped[str | None] = mapped_column(String(32))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # An ONAPPUNINSTALL Bitrix24 has not confirmed yet (webhooks/uninstall.py): when it came, whether
    # its CLEAN may be applied, when Bitrix24 was last asked.
    uninstall_claimed_at: Mapped[datetime | None]
    uninstall_clean: Mapped[bool] = mapped_column(default=False, server_default=false())
    uninstall_checked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    connection: Mapped["QboConnection | None"] = relationship(back_populates="portal", uselist=False)


class QboConnection(Base):
    """The QuickBooks company (realm) a portal is linked to; one realm per portal and vice versa."""

    __tablename__ = "qbo_connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"), unique=True)
    realm_id: Mapped[str] = mapped_column(String(32), unique=True)
    company_name: Mapped[str | None] = mapped_column(String(255))
    access_token_enc: Mapped[str | None] = mapped_column(Text)
    refresh_token_enc: Mapped[str | None] = mapped_column(Text)
    access_expires_at: Mapped[datetime | None]
    refresh_expires_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="connected")  # connected | disconnected | revoked
    cdc_watermark: Mapped[str | None] = mapped_column(String(40))
    # The change pull's lease (workers/changes.py): one pull per realm at a time; pull_again asks the
    # holder for one more pull (events came while it ran); last_pull_at is when the last pull began.
    pull_owner: Mapped[str | None] = mapped_column(String(32))
    pull_heartbeat_at: Mapped[datetime | None]
    pull_again: Mapped[bool] = mapped_column(default=False, server_default=false())
    # A pull began writing to Bitrix24 and has not bound its links yet: the next pull first finds its
    # creates by origin markers (as a resumed full-sync page does), so a crash never duplicates.
    pull_in_flight: Mapped[bool] = mapped_column(default=False, server_default=false())
    last_pull_at: Mapped[datetime | None]
    # The last change applied ({entity, qbo_id, what, at, ...}) and running totals of changes by outcome,
    # kept here so the app page and /metrics see what every worker process did.
    last_change: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    change_counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    connected_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    portal: Mapped[Portal] = relationship(back_populates="connection")


class Link(Base):
    """One QuickBooks record bound to one Bitrix24 record, per portal (the OCA 'binder')."""

    __tablename__ = "links"
    __table_args__ = (
        UniqueConstraint("portal_id", "qbo_type", "qbo_id", name="uq_links_qbo"),
        UniqueConstraint("portal_id", "b24_type", "b24_id", name="uq_links_b24"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"), index=True)
    qbo_type: Mapped[str] = mapped_column(String(32))  # Customer | Invoice
    qbo_id: Mapped[str] = mapped_column(String(32))
    b24_type: Mapped[str] = mapped_column(String(32))  # contact | company | smart_invoice | invoice | deal
    b24_id: Mapped[str] = mapped_column(String(32))
    source_updated_at: Mapped[datetime | None]  # QuickBooks MetaData.LastUpdatedTime last applied
    content_hash: Mapped[str | None] = mapped_column(String(64))  # hash of what we last wrote
    synced_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SyncRun(Base):
    """A full sync, resync, dry run or reconciliation sweep, with its cursor and counters."""

    __tablename__ = "sync_runs"
    # One pending or running run per portal (migration 0006): two Start sync clicks cannot both queue.
    __table_args__ = (Index("uq_sync_runs_active", "portal_id", unique=True,
                            postgresql_where=text("status IN ('pending', 'running')"),
                            sqlite_where=text("status IN ('pending', 'running')")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # full | resync | dry_run | reconcile
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|running|done|failed|cancelled
    cursor: Mapped[dict[str, Any]] = mapped_column(default=dict)
    counters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # The lease of the process running it (workers/lease.py), renewed while it runs: a redelivered
    # task or `qb24 resync` takes over a run only once the lease has lapsed. lease_owner is the
    # holder's random token: only it renews, releases or checkpoints the run.
    heartbeat_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(32))


class ReceivedEvent(Base):
    """An inbound webhook/event already accepted; its dedupe key makes redelivery a no-op."""

    __tablename__ = "received_events"
    __table_args__ = (UniqueConstraint("source", "dedupe_key", name="uq_received_events_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # qbo | b24
    dedupe_key: Mapped[str] = mapped_column(String(255))
    portal_id: Mapped[int | None] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"), index=True)
    realm_id: Mapped[str | None] = mapped_column(String(32))
    entity: Mapped[str | None] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(32))
    operation: Mapped[str | None] = mapped_column(String(16))
    occurred_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    deleted_id: Mapped[str | None] = mapped_column(String(32))  # Merge: the record merged away
    handled_at: Mapped[datetime | None]  # set once a worker acted on an event that needs more than a pull (Merge)
    last_error: Mapped[str | None] = mapped_column(String(255))  # why a worker could not act on it yet (B24 add)


class OAuthState(Base):
    """A QuickBooks consent in flight: single-use, bound to a portal and user, short-lived."""

    __tablename__ = "oauth_states"

    id: Mapped[int] = mapped_column(primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256: a leaked row is no state
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str | None] = mapped_column(String(32))
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PendingConnection(Base):
    """A QuickBooks grant whose consent finished but is not linked yet: the framed app page of the
    browser that started it must claim it (single use, short-lived) before the realm is linked."""

    __tablename__ = "pending_connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256: a leaked row is no ticket
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str | None] = mapped_column(String(32))
    realm_id: Mapped[str] = mapped_column(String(32))
    company_name: Mapped[str | None] = mapped_column(String(255))
    access_token_enc: Mapped[str] = mapped_column(Text)
    refresh_token_enc: Mapped[str] = mapped_column(Text)
    access_expires_at: Mapped[datetime | None]
    refresh_expires_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SyncFailure(Base):
    """The sync log: a record the sync could not write, with why; cleared when it is written."""

    __tablename__ = "sync_failures"
    __table_args__ = (UniqueConstraint("portal_id", "qbo_type", "qbo_id", name="uq_sync_failures_record"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"), index=True)
    qbo_type: Mapped[str] = mapped_column(String(32))
    qbo_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    first_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerParent(Base):
    """A sub-customer (job) and its parent: its invoices go on its top-level ancestor's CRM record."""

    __tablename__ = "customer_parents"
    __table_args__ = (UniqueConstraint("portal_id", "qbo_id", name="uq_customer_parents_customer"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"))
    qbo_id: Mapped[str] = mapped_column(String(32))
    parent_id: Mapped[str] = mapped_column(String(32))
    job_name: Mapped[str | None] = mapped_column(String(512))


class PaymentInvoices(Base):
    """The invoices a QuickBooks payment applied to, remembered: a deleted payment's tombstone names none."""

    __tablename__ = "payment_invoices"
    __table_args__ = (UniqueConstraint("portal_id", "payment_id", name="uq_payment_invoices_payment"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"))
    payment_id: Mapped[str] = mapped_column(String(32))
    invoice_ids: Mapped[list[str]] = mapped_column(JSON)


class QboRevocation(Base):
    """QuickBooks tokens to revoke (uninstall, log out, an unclaimed grant), revoked by a retried task.

    Kept apart from the connection: the connection forgets its tokens at once; these live only until
    Intuit confirmed the revoke (or the task gave up)."""

    __tablename__ = "qbo_revocations"

    id: Mapped[int] = mapped_column(primary_key=True)
    realm_id: Mapped[str | None] = mapped_column(String(32))
    access_token_enc: Mapped[str | None] = mapped_column(Text)
    refresh_token_enc: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(32))  # uninstall | logout | expired_grant | stray
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerRef(Base):
    """The QuickBooks customer a CRM record invoices to when it does not own the sync link: a lead, or a
    contact/company that matched a customer already linked to another record (Create Invoice, export)."""

    __tablename__ = "customer_refs"
    __table_args__ = (UniqueConstraint("portal_id", "b24_type", "b24_id", name="uq_customer_refs_record"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"))
    b24_type: Mapped[str] = mapped_column(String(32))  # lead | contact | company
    b24_id: Mapped[str] = mapped_column(String(32))
    qbo_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DealRequest(Base):
    """Create Invoice used on a deal: the next QuickBooks invoice for that customer within the window is
    linked to the deal (deal follow-through)."""

    __tablename__ = "deal_requests"
    __table_args__ = (Index("ix_deal_requests_customer", "portal_id", "qbo_customer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"))
    deal_id: Mapped[str] = mapped_column(String(32))
    qbo_customer_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(32))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    invoice_qbo_id: Mapped[str | None] = mapped_column(String(32))  # set once an invoice took it
    linked_at: Mapped[datetime | None]
