"""Tenants and their QuickBooks connections."""
from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from clients.quickbooks_auth import QboTokens
from store.crypto import TokenCipher
from store.models import Portal, QboConnection, utcnow


def portal_by_member_id(session: Session, member_id: str) -> Portal | None:
    return session.scalar(select(Portal).where(Portal.member_id == member_id))


def ensure_portal(session: Session, *, member_id: str, domain: str, client_endpoint: str,
                  server_endpoint: str, reinstall: bool = False) -> Portal:
    """The portal row for `member_id`, created or refreshed with its current endpoints.

    A new row, an uninstalled one, or `reinstall` (Bitrix24 reports the install unfinished) is a new
    install: it gets a new install id, which ends every session opened for an earlier one.
    """
    portal = portal_by_member_id(session, member_id)
    if portal is None:
        portal = Portal(member_id=member_id, domain=domain, client_endpoint=client_endpoint,
                        server_endpoint=server_endpoint, settings={})
        session.add(portal)
    else:
        portal.domain, portal.client_endpoint, portal.server_endpoint = domain, client_endpoint, server_endpoint
    if reinstall or portal.status != "installed" or portal.install_id is None:
        portal.install_id = secrets.token_hex(16)
    portal.status = "installed"
    session.flush()
    return portal


def connect_realm(session: Session, portal: Portal, tokens: QboTokens, cipher: TokenCipher,
                  company_name: str | None = None) -> QboConnection:
    """Link `portal` to the realm in `tokens` (reconnect keeps the row, so links survive)."""
    connection = session.scalar(select(QboConnection).where(QboConnection.portal_id == portal.id))
    if connection is None:
        connection = QboConnection(portal_id=portal.id, realm_id=tokens.realm_id)
        session.add(connection)
    connection.realm_id = tokens.realm_id
    connection.company_name = company_name or connection.company_name
    connection.access_token_enc = cipher.encrypt(tokens.access_token)
    connection.refresh_token_enc = cipher.encrypt(tokens.refresh_token)
    connection.access_expires_at = tokens.access_expires_at
    connection.refresh_expires_at = tokens.refresh_expires_at
    connection.status = "connected"
    session.flush()
    return connection


def connection_for_realm(session: Session, realm_id: str) -> QboConnection | None:
    return session.scalar(select(QboConnection).where(QboConnection.realm_id == realm_id))


def hold_uninstall_claim(portal: Portal, clean: bool | None) -> None:
    """Keep an ONAPPUNINSTALL Bitrix24 has not confirmed, as asked now; a later claim (or a retry,
    `clean` None) can lower the held CLEAN, never raise it: a forger cannot turn a kept-data
    uninstall into a deletion."""
    portal.uninstall_clean = held_clean(portal, clean)
    portal.uninstall_claimed_at = portal.uninstall_claimed_at or utcnow()
    portal.uninstall_checked_at = utcnow()


def drop_uninstall_claim(portal: Portal) -> None:
    portal.uninstall_claimed_at = portal.uninstall_checked_at = None
    portal.uninstall_clean = False


def held_clean(portal: Portal, clean: bool | None) -> bool:
    """The CLEAN an uninstall confirmed now applies: the new claim's, lowered by any held one."""
    held = portal.uninstall_clean if portal.uninstall_claimed_at is not None else None
    values = [v for v in (held, clean) if v is not None]
    return bool(values) and all(values)


def take_due_claim(session: Session, asked_before: datetime) -> tuple[str, str | None] | None:
    """(member_id, refresh_token_enc) of the oldest claim last asked before `asked_before`, marked as
    asked now; None when there is none, or another process took it first."""
    row = session.execute(
        select(Portal.id, Portal.member_id, Portal.refresh_token_enc, Portal.uninstall_checked_at)
        .where(Portal.uninstall_claimed_at.is_not(None), Portal.uninstall_checked_at <= asked_before)
        .order_by(Portal.uninstall_checked_at).limit(1)).first()
    if row is None:
        return None
    taken = session.execute(update(Portal).where(Portal.id == row.id,
                                                 Portal.uninstall_checked_at == row.uninstall_checked_at)
                            .values(uninstall_checked_at=utcnow()))
    return (row.member_id, row.refresh_token_enc) if taken.rowcount == 1 else None


def portals_of_realms(connection: Connection, realm_ids: set[str]) -> dict[str, int]:
    """realm_id -> portal id, for those of `realm_ids` connected to a portal that is installed (one query;
    Core: the webhook's path, where the ORM layer costs more than the query)."""
    rows = connection.execute(_PORTALS_OF_REALMS, {"realm_ids": list(realm_ids)})
    return {realm_id: portal_id for realm_id, portal_id in rows}


# Built once: building the statement cost more CPU than running it (bench/webhook_load.py)
_PORTALS_OF_REALMS = select(QboConnection.realm_id, QboConnection.portal_id).join(Portal).where(
    QboConnection.realm_id.in_(bindparam("realm_ids", expanding=True)), QboConnection.status == "connected",
    Portal.status == "installed")
