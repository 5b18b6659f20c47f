"""The store on SQLite and PostgreSQL: schema, unique links both ways, upserts, dedupe, encryption."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from clients.quickbooks_auth import QboTokens
from store.crypto import TokenCipher
from store.db import make_engine, migrate, transaction
from store.events import record_event
from store.links import bind, link_for_b24, link_for_qbo
from store.models import Base, Link, QboConnection
from store.portals import connect_realm, ensure_portal
from store.tokens import ConnectionMissing, RealmTokensUnreadable, SqlRealmTokens


def _portal(session, member_id="m-1"):
    return ensure_portal(session, member_id=member_id, domain=f"{member_id}.bitrix24.com",
                         client_endpoint=f"https://{member_id}.bitrix24.com/rest/",
                         server_endpoint="https://oauth.bitrix.info/rest/")


def test_migration_matches_models(database_url):
    migrate(database_url)
    migrate(database_url)  # idempotent
    engine = make_engine(database_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []


def test_bind_is_an_idempotent_upsert(sessions):
    with transaction(sessions) as session:
        portal = _portal(session)
        for _ in range(3):
            bind(session, portal_id=portal.id, qbo_type="Customer", qbo_id="7", b24_type="company", b24_id="41")
        bind(session, portal_id=portal.id, qbo_type="Customer", qbo_id="7", b24_type="company", b24_id="41",
             content_hash="abc", source_updated_at=datetime(2026, 1, 2, tzinfo=timezone.utc))
    with sessions() as session:
        links = session.scalars(select(Link)).all()
        assert len(links) == 1
        assert links[0].content_hash == "abc"
        assert link_for_qbo(session, portal.id, "Customer", "7").b24_id == "41"
        assert link_for_b24(session, portal.id, "company", "41").qbo_id == "7"


def test_links_are_unique_on_the_bitrix24_side_too(sessions):
    with transaction(sessions) as session:
        portal = _portal(session)
        bind(session, portal_id=portal.id, qbo_type="Customer", qbo_id="1", b24_type="contact", b24_id="9")
    with pytest.raises(IntegrityError):
        with transaction(sessions) as session:
            bind(session, portal_id=portal.id, qbo_type="Customer", qbo_id="2", b24_type="contact", b24_id="9")


def test_links_are_per_portal(sessions):
    with transaction(sessions) as session:
        first, second = _portal(session, "m-1"), _portal(session, "m-2")
        for portal in (first, second):
            bind(session, portal_id=portal.id, qbo_type="Invoice", qbo_id="130", b24_type="smart_invoice",
                 b24_id="5")
    with sessions() as session:
        assert session.scalar(select(text("count(*)")).select_from(Link)) == 2


def test_record_event_dedupes(sessions):
    with transaction(sessions) as session:
        assert record_event(session, source="qbo", dedupe_key="88cd52aa", realm_id="123") is True
        assert record_event(session, source="qbo", dedupe_key="88cd52aa", realm_id="123") is False
        assert record_event(session, source="b24", dedupe_key="88cd52aa") is True


def test_one_realm_per_portal_and_per_realm(sessions, cipher):
    tokens = QboTokens(realm_id="9130", access_token="a", refresh_token="r")
    with transaction(sessions) as session:
        connect_realm(session, _portal(session, "m-1"), tokens, cipher)
    with pytest.raises(IntegrityError):
        with transaction(sessions) as session:
            session.add(QboConnection(portal_id=_portal(session, "m-2").id, realm_id="9130"))


def test_tokens_are_encrypted_at_rest_and_round_trip(sessions, cipher):
    expires = datetime(2030, 1, 1, tzinfo=timezone.utc)
    tokens = QboTokens(realm_id="4620816365", access_token="eyJ-access-secret", refresh_token="AB11-refresh-secret",
                       access_expires_at=expires)
    with transaction(sessions) as session:
        connect_realm(session, _portal(session), tokens, cipher)
    with sessions() as session:
        raw = session.execute(text("select access_token_enc, refresh_token_enc from qbo_connections")).one()
    assert "secret" not in raw[0] + raw[1]
    store = SqlRealmTokens(sessions, cipher)
    loaded = store.load("4620816365")
    assert (loaded.access_token, loaded.refresh_token, loaded.access_expires_at) == (
        "eyJ-access-secret", "AB11-refresh-secret", expires)
    store.save(QboTokens(realm_id="4620816365", access_token="new", refresh_token="rotated"))
    assert SqlRealmTokens(sessions, cipher).load("4620816365").refresh_token == "rotated"
    with pytest.raises(RealmTokensUnreadable):  # a ConnectionMissing: callers treat it as no tokens held
        SqlRealmTokens(sessions, TokenCipher(TokenCipher.generate_key())).load("4620816365")
    with pytest.raises(ConnectionMissing):
        store.load("no-such-realm")


def test_token_key_rotation_decrypts_old_tokens():
    old, new = TokenCipher.generate_key(), TokenCipher.generate_key()
    blob = TokenCipher(old).encrypt("refresh")
    assert TokenCipher(f"{new},{old}").decrypt(blob) == "refresh"


def test_tokens_never_appear_in_repr():
    tokens = QboTokens(realm_id="1", access_token="eyJ-secret", refresh_token="AB11-secret")
    assert "secret" not in repr(tokens)


def test_portal_tokens_round_trip_encrypted(sessions, cipher):
    from clients.bitrix24_auth import PortalAuth
    from store.tokens import PortalMissing, SqlPortalTokens

    with transaction(sessions) as session:
        _portal(session, "m-7")
    store = SqlPortalTokens(sessions, cipher)
    with pytest.raises(PortalMissing):
        store.load("m-7")  # installed row without tokens yet
    expires = datetime(2031, 5, 1, tzinfo=timezone.utc)
    store.save(PortalAuth(member_id="m-7", domain="new.bitrix24.com", client_endpoint="https://new.bitrix24.com/rest/",
                          server_endpoint="https://oauth.bitrix.info/rest/", access_token="b24-access-secret",
                          refresh_token="b24-refresh-secret", expires_at=expires))
    loaded = store.load("m-7")
    assert (loaded.domain, loaded.access_token, loaded.refresh_token, loaded.expires_at) == (
        "new.bitrix24.com", "b24-access-secret", "b24-refresh-secret", expires)
    with sessions() as session:
        raw = session.execute(text("select access_token_enc, refresh_token_enc from portals")).one()
    assert "secret" not in raw[0] + raw[1]
    with pytest.raises(PortalMissing):
        store.load("unknown")


def test_held_and_connected_grants_decrypt_to_the_same_tokens(sessions, cipher):
    from store.lifecycle import connection_tokens, drop_connection_tokens
    from store.pending_connections import claim_connection, hold_connection

    expires = datetime(2030, 1, 1, tzinfo=timezone.utc)
    tokens = QboTokens(realm_id="9341", access_token="eyJ-access-secret", refresh_token="AB11-refresh-secret",
                       access_expires_at=expires, refresh_expires_at=expires)
    with transaction(sessions) as session:
        portal = _portal(session)
        ticket = hold_connection(session, portal.id, "1", tokens, "Craig's Design", cipher)
    with transaction(sessions) as session:
        claimed = claim_connection(session, ticket, cipher)
        assert claim_connection(session, ticket, cipher) is None  # single use
        connection = connect_realm(session, portal, claimed.tokens, cipher)
        assert claimed.tokens == connection_tokens(connection, cipher) == tokens
        drop_connection_tokens(connection, "disconnected")
        assert connection_tokens(connection, cipher) is None
