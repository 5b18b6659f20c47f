"""Alembic environment: runs migrations on the URL given by store.db.alembic_config."""
from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from store.models import Base

config = context.config
# Seconds libpq waits for a PostgreSQL server to connect and answer: unset, it waits as long as a hung
# server or a packet-dropping firewall lets it (libpq-connect.html, connect_timeout), and `qb24 migrate`
# (compose's migrate service) with it. A connect_timeout in DATABASE_URL's query wins.
POSTGRES_CONNECT_TIMEOUT_S = 10


def run_migrations_online() -> None:
    url = make_url(config.get_main_option("sqlalchemy.url"))
    bounded = url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query
    engine = create_engine(url, connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S} if bounded else {})
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
