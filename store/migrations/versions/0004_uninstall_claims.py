"""ONAPPUNINSTALL claims Bitrix24 has not confirmed yet, kept on the portal

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 18:00:00
"""
from alembic import op
import sqlalchemy as sa

from store.models import UtcDateTime


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('portals', sa.Column('uninstall_claimed_at', UtcDateTime(), nullable=True))
    op.add_column('portals', sa.Column('uninstall_clean', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('portals', sa.Column('uninstall_checked_at', UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('portals') as batch:  # SQLite drops columns by copying the table
        for column in ('uninstall_checked_at', 'uninstall_clean', 'uninstall_claimed_at'):
            batch.drop_column(column)
