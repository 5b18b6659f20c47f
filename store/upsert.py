"""INSERT … ON CONFLICT for the two dialects we run on (both spell it the same way)."""
from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_for(session: Session | Connection, table):
    """A dialect insert construct that supports on_conflict_do_* for this session's (or connection's) database."""
    dialect = (session.get_bind() if isinstance(session, Session) else session).dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for dialect {dialect}")
