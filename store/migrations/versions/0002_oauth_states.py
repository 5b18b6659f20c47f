"""single-use QuickBooks OAuth states

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:00:00
"""
from alembic import op
import sqlalchemy as sa

from store.models import UtcDateTime


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('oauth_states',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('state_hash', sa.String(length=64), nullable=False),
    sa.Column('portal_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=True),
    sa.Column('expires_at', UtcDateTime(), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['portal_id'], ['portals.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('state_hash')
    )
    op.create_index(op.f('ix_oauth_states_portal_id'), 'oauth_states', ['portal_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_oauth_states_portal_id'), table_name='oauth_states')
    op.drop_table('oauth_states')
