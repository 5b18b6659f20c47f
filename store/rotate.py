"""Every stored token re-encrypted with the first TOKEN_ENCRYPTION_KEY (`qb24 rotate-keys`).

After it, the keys after the first can leave TOKEN_ENCRYPTION_KEY: nothing stored needs them. The
encrypted columns are found by name (models: every token column ends in `_enc`), so a new one is
rotated without being listed here.

Safe while the service runs: rows are read a batch at a time and each row written back with a
compare-and-set on the ciphertexts it was read with. A token refresh that wrote the row in between
wins, and the row is read again. Each batch is its own short transaction, so the service's writers
never wait long. A value already under the first key is left alone: a second run writes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Column, Connection, Engine, Row, Table, select, update

from store.crypto import TokenCipher, TokenDecryptError
from store.models import Base

ENCRYPTED_SUFFIX = "_enc"
BATCH_SIZE = 200
# A row the service rewrote this many times while one rotation looked at it: give up, run again.
MAX_ATTEMPTS = 5


class RowKeepsChanging(RuntimeError):
    """A row changed under every attempt to rotate it."""


@dataclass
class TableRotation:
    """What one table's rotation did, counting the rows that hold at least one encrypted value."""

    table: str
    rotated: int = 0
    current: int = 0
    undecryptable: list[int] = field(default_factory=list)  # row ids, never their values


def encrypted_tables() -> list[tuple[Table, list[Column]]]:
    """Each table with encrypted columns, and those columns."""
    found = []
    for table in Base.metadata.sorted_tables:
        columns = [column for column in table.columns if column.name.endswith(ENCRYPTED_SUFFIX)]
        if columns:
            found.append((table, columns))
    return found


def rotate_keys(engine: Engine, cipher: TokenCipher, batch_size: int = BATCH_SIZE) -> list[TableRotation]:
    """Rotate every encrypted column of every table; one TableRotation per table."""
    return [rotate_table(engine, table, columns, cipher, batch_size) for table, columns in encrypted_tables()]


def rotate_table(engine: Engine, table: Table, columns: list[Column], cipher: TokenCipher,
                 batch_size: int = BATCH_SIZE) -> TableRotation:
    counts, after = TableRotation(table.name), None
    while True:
        with engine.begin() as db:
            rows = read_batch(db, table, columns, after, batch_size)
            for row in rows:
                _rotate_row(db, table, columns, row, cipher, counts)
        if len(rows) < batch_size:
            return counts
        after = rows[-1].id


def read_batch(db: Connection, table: Table, columns: list[Column], after: int | None,
               size: int) -> list[Row]:
    """The next `size` rows by id (no lock: the write compares instead)."""
    query = select(table.c.id, *columns).order_by(table.c.id).limit(size)
    if after is not None:
        query = query.where(table.c.id > after)
    return list(db.execute(query))


def _rotate_row(db: Connection, table: Table, columns: list[Column], row: Row | None, cipher: TokenCipher,
                counts: TableRotation) -> None:
    for _ in range(MAX_ATTEMPTS):
        if row is None or all(row._mapping[column.name] is None for column in columns):
            return  # deleted meanwhile (a claimed grant, a confirmed revoke), or it holds no token
        try:
            changes = _rotated_values(row, columns, cipher)
        except TokenDecryptError:  # left as it is: with the right key back in the list it can still be read
            counts.undecryptable.append(row.id)
            return
        if not changes:
            counts.current += 1
            return
        if _compare_and_set(db, table, columns, row, changes):
            counts.rotated += 1
            return
        row = db.execute(select(table.c.id, *columns).where(table.c.id == row.id)).first()
    raise RowKeepsChanging(f"{table.name} row {row.id} changed under every attempt to rotate it; run again")


def _rotated_values(row: Row, columns: list[Column], cipher: TokenCipher) -> dict[str, str]:
    """The new ciphertext of each column not yet under the first key."""
    changes = {}
    for column in columns:
        value = row._mapping[column.name]
        new = cipher.rotated(value) if value is not None else None
        if new is not None:
            changes[column.name] = new
    return changes


def _compare_and_set(db: Connection, table: Table, columns: list[Column], row: Row,
                     changes: dict[str, str]) -> bool:
    """Write `changes` only if every encrypted column still holds what was read (a refresh writes a pair)."""
    held = row._mapping
    unchanged = [column.is_(None) if held[column.name] is None else column == held[column.name]
                 for column in columns]
    # The same tokens in another envelope, no change to the row: a column stamped on every update
    # (portals.updated_at) keeps its value.
    stamps = {column.name: column for column in table.columns if column.onupdate is not None}
    result = db.execute(update(table).where(table.c.id == row.id, *unchanged).values(**stamps, **changes))
    return result.rowcount == 1
