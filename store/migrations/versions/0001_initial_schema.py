"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 22:16:42.806943
"""
from alembic import op
import sqlalchemy as sa

from store.models import UtcDateTime


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('portals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.String(length=64), nullable=False),
    sa.Column('domain', sa.String(length=255), nullable=False),
    sa.Column('client_endpoint', sa.String(length=512), nullable=False),
    sa.Column('server_endpoint', sa.String(length=512), nullable=False),
    sa.Column('access_token_enc', sa.Text(), nullable=True),
    sa.Column('refresh_token_enc', sa.Text(), nullable=True),
    sa.Column('access_expires_at', UtcDateTime(), nullable=True),
    sa.Column('application_token_enc', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('member_id')
    )
    op.create_table('links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('portal_id', sa.Integer(), nullable=False),
    sa.Column('qbo_type', sa.String(length=32), nullable=False),
    sa.Column('qbo_id', sa.String(length=32), nullable=False),
    sa.Column('b24_type', sa.String(length=32), nullable=False),
    sa.Column('b24_id', sa.String(length=32), nullable=False),
    sa.Column('source_updated_at', UtcDateTime(), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=True),
    sa.Column('synced_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['portal_id'], ['portals.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('portal_id', 'b24_type', 'b24_id', name='uq_links_b24'),
    sa.UniqueConstraint('portal_id', 'qbo_type', 'qbo_id', name='uq_links_qbo')
    )
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_links_portal_id'), ['portal_id'], unique=False)

    op.create_table('qbo_connections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('portal_id', sa.Integer(), nullable=False),
    sa.Column('realm_id', sa.String(length=32), nullable=False),
    sa.Column('company_name', sa.String(length=255), nullable=True),
    sa.Column('access_token_enc', sa.Text(), nullable=True),
    sa.Column('refresh_token_enc', sa.Text(), nullable=True),
    sa.Column('access_expires_at', UtcDateTime(), nullable=True),
    sa.Column('refresh_expires_at', UtcDateTime(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('cdc_watermark', sa.String(length=40), nullable=True),
    sa.Column('connected_at', UtcDateTime(), nullable=False),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['portal_id'], ['portals.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('portal_id'),
    sa.UniqueConstraint('realm_id')
    )
    op.create_table('received_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('dedupe_key', sa.String(length=255), nullable=False),
    sa.Column('portal_id', sa.Integer(), nullable=True),
    sa.Column('realm_id', sa.String(length=32), nullable=True),
    sa.Column('entity', sa.String(length=32), nullable=True),
    sa.Column('entity_id', sa.String(length=32), nullable=True),
    sa.Column('operation', sa.String(length=16), nullable=True),
    sa.Column('occurred_at', UtcDateTime(), nullable=True),
    sa.Column('received_at', UtcDateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['portal_id'], ['portals.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source', 'dedupe_key', name='uq_received_events_key')
    )
    with op.batch_alter_table('received_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_received_events_portal_id'), ['portal_id'], unique=False)

    op.create_table('sync_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('portal_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('cursor', sa.JSON(), nullable=False),
    sa.Column('counters', sa.JSON(), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', UtcDateTime(), nullable=False),
    sa.Column('finished_at', UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['portal_id'], ['portals.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_runs_portal_id'), ['portal_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_runs_portal_id'))

    op.drop_table('sync_runs')
    with op.batch_alter_table('received_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_received_events_portal_id'))

    op.drop_table('received_events')
    op.drop_table('qbo_connections')
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_links_portal_id'))

    op.drop_table('links')
    op.drop_table('portals')
