"""`qb24 rotate-keys` (store/rotate.py) on SQLite and PostgreSQL: every encrypted column moves to the first
TOKEN_ENCRYPTION_KEY, a token refresh that lands between the read and the write is kept, a row no key
decrypts is named by id (never shown) and makes the command exit 1."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

import store.rotate
from clients.bitrix24_auth import PortalAuth
from clients.quickbooks_auth import QboTokens
from qb24.cli import main
from store.crypto import TokenCipher, TokenDecryptError
from store.db import make_engine, migrate, transaction
from store.models import PendingConnection, Portal, QboConnection, QboRevocation
from store.pending_connections import hold_connection
from store.portals import connect_realm, ensure_portal
from store.revocations import add_revocation
from store.rotate import encrypted_tables, rotate_keys
from store.tokens import SqlPortalTokens, SqlRealmTokens

REPO = Path(__file__).resolve().parents[2]
OLD, NEW, LOST = TokenCipher.generate_key(), TokenCipher.generate_key(), TokenCipher.generate_key()
SOON = datetime.now(timezone.utc) + timedelta(hours=1)


@pytest.fixture
def engine(database_url):
    """The migrated store's engine."""
    migrate(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def sessions_of(engine):
    from store.db import make_session_factory

    return make_session_factory(engine)


def seed(engine, cipher: TokenCipher, n: int = 1) -> None:
    """`n` portals, each with Bitrix24 and application tokens, a QuickBooks connection, a pending grant and a
    revocation, all written by the service's own code under `cipher`; plus one uninstalled portal (no tokens)."""
    sessions = sessions_of(engine)
    for i in range(n):
        member = f"m-{i}"
        with transaction(sessions) as session:
            portal = ensure_portal(session, member_id=member, domain=f"{member}.bitrix24.com",
                                   client_endpoint=f"https://{member}.bitrix24.com/rest/",
                                   server_endpoint="https://oauth.bitrix.info/rest/")
            portal.application_token_enc = cipher.encrypt(f"app-{i}")
            connect_realm(session, portal, QboTokens(f"r{i}", f"qa-{i}", f"qr-{i}", SOON), cipher)
            hold_connection(session, portal.id, "1", QboTokens(f"p{i}", f"pa-{i}", f"pr-{i}", SOON), None, cipher)
            add_revocation(session, QboTokens(f"v{i}", None, f"vr-{i}"), "logout", cipher)
        SqlPortalTokens(sessions, cipher).save(PortalAuth(member, f"{member}.bitrix24.com",
                                                          f"https://{member}.bitrix24.com/rest/",
                                                          "https://oauth.bitrix.info/rest/", f"ba-{i}", f"br-{i}", SOON))
    with transaction(sessions) as session:
        ensure_portal(session, member_id="gone", domain="gone.bitrix24.com", client_endpoint="https://gone/rest/",
                      server_endpoint="https://oauth.bitrix.info/rest/").status = "uninstalled"


def plaintexts(engine, cipher: TokenCipher) -> dict[tuple[str, int, str], str]:
    """Every stored encrypted value, decrypted with `cipher` (TokenDecryptError if one does not)."""
    found = {}
    with engine.connect() as db:
        for table, columns in encrypted_tables():
            for row in db.execute(select(table.c.id, *columns)):
                for column in columns:
                    value = row._mapping[column.name]
                    if value is not None:
                        found[(table.name, row.id, column.name)] = cipher.decrypt(value)
    return found


def ciphertexts(engine) -> dict[tuple[str, int, str], str]:
    with engine.connect() as db:
        return {(table.name, row.id, column.name): row._mapping[column.name]
                for table, columns in encrypted_tables() for row in db.execute(select(table.c.id, *columns))
                for column in columns}


def counts(result) -> dict[str, tuple[int, int, list[int]]]:
    return {t.table: (t.rotated, t.current, t.undecryptable) for t in result}


def test_every_encrypted_column_is_found() -> None:
    """The columns the service encrypts (store/tokens.py, portals.py, pending_connections.py, revocations.py,
    webhooks/bitrix24*.py): a token column named without `_enc` would silently stay under the old key."""
    found = {table.name: sorted(column.name for column in columns) for table, columns in encrypted_tables()}
    pair = ["access_token_enc", "refresh_token_enc"]
    assert found == {"portals": ["access_token_enc", "application_token_enc", "refresh_token_enc"],
                     "qbo_connections": pair, "pending_connections": pair, "qbo_revocations": pair}


def test_rows_under_the_old_key_are_readable_with_the_new_key_alone(engine) -> None:
    seed(engine, TokenCipher(OLD), n=3)
    before = plaintexts(engine, TokenCipher(OLD))
    assert len(before) == 3 * (3 + 2 + 2 + 2) - 3  # a revocation of a refresh token only holds no access token
    with pytest.raises(TokenDecryptError):
        plaintexts(engine, TokenCipher(NEW))

    result = rotate_keys(engine, TokenCipher(f"{NEW},{OLD}"), batch_size=2)  # several batches per table

    assert counts(result) == {"portals": (3, 0, []), "qbo_connections": (3, 0, []),
                              "pending_connections": (3, 0, []), "qbo_revocations": (3, 0, [])}
    assert plaintexts(engine, TokenCipher(NEW)) == before
    # The service itself, holding the new key alone, reads them.
    sessions = sessions_of(engine)
    assert SqlRealmTokens(sessions, TokenCipher(NEW)).load("r1").refresh_token == "qr-1"
    assert SqlPortalTokens(sessions, TokenCipher(NEW)).load("m-2").access_token == "ba-2"


def test_a_second_run_writes_nothing(engine) -> None:
    seed(engine, TokenCipher(OLD))
    with transaction(sessions_of(engine)) as session:  # one value already under the new key
        session.get(QboRevocation, 1).refresh_token_enc = TokenCipher(NEW).encrypt("vr-0")
    keys = TokenCipher(f"{NEW},{OLD}")
    first = counts(rotate_keys(engine, keys))
    assert first["qbo_revocations"] == (0, 1, []) and first["portals"] == (1, 0, [])
    rotated = ciphertexts(engine)
    assert counts(rotate_keys(engine, keys)) == {"portals": (0, 1, []), "qbo_connections": (0, 1, []),
                                                "pending_connections": (0, 1, []), "qbo_revocations": (0, 1, [])}
    assert ciphertexts(engine) == rotated


def test_the_stamp_of_a_rotated_portal_is_kept(engine) -> None:
    """Re-encrypting is no change to the portal (portals.updated_at is stamped on every ORM update)."""
    seed(engine, TokenCipher(OLD))
    with engine.connect() as db:
        stamped = db.scalar(select(Portal.updated_at).where(Portal.member_id == "m-0"))
    rotate_keys(engine, TokenCipher(f"{NEW},{OLD}"))
    with engine.connect() as db:
        assert db.scalar(select(Portal.updated_at).where(Portal.member_id == "m-0")) == stamped


@pytest.mark.parametrize("refresher_keys", [f"{NEW},{OLD}", OLD], ids=["restarted", "not-restarted"])
def test_a_refresh_between_read_and_write_is_not_clobbered(engine, monkeypatch, refresher_keys) -> None:
    """A worker refreshes the realm's tokens (SqlRealmTokens.save, its own committed transaction) after the
    rotation read the row and before it wrote it: the refreshed pair stays, under the new key either way
    (a worker not yet restarted wrote it under the old one: the row is read again and rotated)."""
    seed(engine, TokenCipher(OLD))
    refreshed = QboTokens("r0", "qa-refreshed", "qr-refreshed", SOON)
    read_batch, fired = store.rotate.read_batch, []

    def read_then_refresh(db, table, columns, after, size):
        rows = read_batch(db, table, columns, after, size)
        if table.name == "qbo_connections" and not fired:
            fired.append(True)
            SqlRealmTokens(sessions_of(engine), TokenCipher(refresher_keys)).save(refreshed)
        return rows

    monkeypatch.setattr(store.rotate, "read_batch", read_then_refresh)
    result = counts(rotate_keys(engine, TokenCipher(f"{NEW},{OLD}")))

    assert fired
    assert result["qbo_connections"] == ((1, 0, []) if refresher_keys == OLD else (0, 1, []))
    tokens = SqlRealmTokens(sessions_of(engine), TokenCipher(NEW)).load("r0")
    assert (tokens.access_token, tokens.refresh_token) == ("qa-refreshed", "qr-refreshed")


def test_a_row_deleted_between_read_and_write_is_skipped(engine, monkeypatch) -> None:
    """A pending grant claimed (deleted) meanwhile: nothing to write, nothing counted."""
    seed(engine, TokenCipher(OLD), n=2)
    read_batch = store.rotate.read_batch

    def read_then_claim(db, table, columns, after, size):
        rows = read_batch(db, table, columns, after, size)
        if table.name == "pending_connections" and after is None:
            with transaction(sessions_of(engine)) as session:
                session.delete(session.get(PendingConnection, rows[0].id))
        return rows

    monkeypatch.setattr(store.rotate, "read_batch", read_then_claim)
    assert counts(rotate_keys(engine, TokenCipher(f"{NEW},{OLD}")))["pending_connections"] == (1, 0, [])


def test_a_row_no_key_decrypts_is_named_and_left_as_it_is(engine) -> None:
    seed(engine, TokenCipher(OLD), n=2)
    lost = TokenCipher(LOST).encrypt("qr-lost")
    with transaction(sessions_of(engine)) as session:
        session.execute(update(QboConnection).where(QboConnection.realm_id == "r1").values(refresh_token_enc=lost))
        lost_id = session.scalar(select(QboConnection.id).where(QboConnection.realm_id == "r1"))
    result = counts(rotate_keys(engine, TokenCipher(f"{NEW},{OLD}")))
    assert result["qbo_connections"] == (1, 0, [lost_id])
    assert result["portals"] == (2, 0, [])
    with engine.connect() as db:
        row = db.execute(select(QboConnection.access_token_enc, QboConnection.refresh_token_enc)
                         .where(QboConnection.id == lost_id)).one()
    assert row.refresh_token_enc == lost and TokenCipher(OLD).decrypt(row.access_token_enc) == "qa-1"  # untouched


def run_cli(env: dict[str, str]) -> subprocess.CompletedProcess:
    """`qb24 rotate-keys` in a process whose only settings are `env` (no .env in its directory)."""
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
    return subprocess.run([sys.executable, "-c", "from qb24.cli import main; main()", "rotate-keys"],
                          env={**clean, "PYTHONPATH": str(REPO), **env}, cwd=REPO / "store",
                          capture_output=True, text=True, timeout=120)


def test_the_command_needs_only_the_database_and_the_keys(engine, database_url) -> None:
    seed(engine, TokenCipher(OLD), n=2)
    result = run_cli({"DATABASE_URL": database_url, "TOKEN_ENCRYPTION_KEY": f"{NEW},{OLD}"})
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == [
        "pending_connections: 2 rotated, 0 already current, 0 undecryptable",
        "portals: 2 rotated, 0 already current, 0 undecryptable",
        "qbo_connections: 2 rotated, 0 already current, 0 undecryptable",
        "qbo_revocations: 2 rotated, 0 already current, 0 undecryptable"]
    plaintexts(engine, TokenCipher(NEW))  # raises if one was left behind


def test_an_undecryptable_row_exits_1_naming_its_id_and_no_secret(engine, database_url) -> None:
    seed(engine, TokenCipher(OLD), n=2)
    lost = TokenCipher(LOST).encrypt("the-lost-refresh-token")
    with transaction(sessions_of(engine)) as session:
        session.execute(update(Portal).where(Portal.member_id == "m-1").values(application_token_enc=lost))
        portal_id = session.scalar(select(Portal.id).where(Portal.member_id == "m-1"))
    secrets = {NEW, OLD, LOST, lost, "the-lost-refresh-token", "app-1", "br-1", "qr-0"}

    result = CliRunner().invoke(main, ["rotate-keys"], env={"DATABASE_URL": database_url,
                                                           "TOKEN_ENCRYPTION_KEY": f"{NEW},{OLD}"})

    assert result.exit_code == 1, result.output
    assert f"portals: 1 rotated, 0 already current, 1 undecryptable (ids {portal_id})" in result.output
    assert "qbo_connections: 2 rotated" in result.output  # the other rows were rotated all the same
    assert not any(secret in result.output for secret in secrets)
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("env, said", [
    ({"TOKEN_ENCRYPTION_KEY": "not-a-key"}, "TOKEN_ENCRYPTION_KEY must be Fernet keys"),
    ({"TOKEN_ENCRYPTION_KEY": ""}, "TOKEN_ENCRYPTION_KEY is not set"),
    ({"DATABASE_URL": "mysql://u:pw@h/db"}, "DATABASE_URL must be a sqlite: or postgresql: URL"),
    ({"DATABASE_URL": "postgresql://u:hunter2secret@127.0.0.1:1/db"}, "cannot rotate the stored tokens"),
])
def test_bad_input_is_one_line_without_a_traceback(tmp_path, env, said) -> None:
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}", "TOKEN_ENCRYPTION_KEY": NEW, **env}
    result = run_cli(settings)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ") and said in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "hunter2secret" not in result.stderr and NEW not in result.stderr


def test_an_unmigrated_database_is_one_line(tmp_path) -> None:
    result = run_cli({"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}", "TOKEN_ENCRYPTION_KEY": NEW})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "qb24 migrate" in result.stderr and len(result.stderr.strip().splitlines()) == 1
