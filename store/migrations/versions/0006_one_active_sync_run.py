"""At most one pending or running sync run per portal (a partial unique index)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 21:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

ACTIVE = sa.text("status IN ('pending', 'running')")


def upgrade() -> None:
    # Older runs left active (Start sync only queued them before the engine existed) would break
    # the index: the newest active run per portal stays, the rest are cancelled.
    op.execute("UPDATE sync_runs SET status = 'cancelled' WHERE status IN ('pending', 'running') AND id NOT IN "
               "(SELECT max(id) FROM sync_runs WHERE status IN ('pending', 'running') GROUP BY portal_id)")
    op.create_index('uq_sync_runs_active', 'sync_runs', ['portal_id'], unique=True,
                    postgresql_where=ACTIVE, sqlite_where=ACTIVE)


def downgrade() -> None:
    op.drop_index('uq_sync_runs_active', table_name='sync_runs')
