"""Near-real-time sync: per-realm pull lease and change counters, the sync log, sub-customer parents,
payment applications, queued QuickBooks revocations, merge details on received events

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 23:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('received_events', sa.Column('deleted_id', sa.String(length=32), nullable=True))
    op.add_column('received_events', sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('qbo_connections', sa.Column('pull_owner', sa.String(length=32), nullable=True))
    op.add_column('qbo_connections', sa.Column('pull_heartbeat_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('qbo_connections', sa.Column('pull_again', sa.Boolean(), nullable=False,
                                               server_default=sa.false()))
    op.add_column('qbo_connections', sa.Column('pull_in_flight', sa.Boolean(), nullable=False,
                                               server_default=sa.false()))
    op.add_column('qbo_connections', sa.Column('last_pull_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('qbo_connections', sa.Column('last_change', sa.JSON(), nullable=True))
    op.add_column('qbo_connections', sa.Column('change_counts', sa.JSON(), nullable=True))
    op.create_table(
        'sync_failures',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('portal_id', sa.Integer(), sa.ForeignKey('portals.id', ondelete='CASCADE'), nullable=False),
        sa.Column('qbo_type', sa.String(length=32), nullable=False),
        sa.Column('qbo_id', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False, server_default='1'),
        sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('portal_id', 'qbo_type', 'qbo_id', name='uq_sync_failures_record'),
    )
    op.create_index('ix_sync_failures_portal_id', 'sync_failures', ['portal_id'])
    op.create_table(
        'customer_parents',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('portal_id', sa.Integer(), sa.ForeignKey('portals.id', ondelete='CASCADE'), nullable=False),
        sa.Column('qbo_id', sa.String(length=32), nullable=False),
        sa.Column('parent_id', sa.String(length=32), nullable=False),
        sa.Column('job_name', sa.String(length=512), nullable=True),
        sa.UniqueConstraint('portal_id', 'qbo_id', name='uq_customer_parents_customer'),
    )
    op.create_table(
        'payment_invoices',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('portal_id', sa.Integer(), sa.ForeignKey('portals.id', ondelete='CASCADE'), nullable=False),
        sa.Column('payment_id', sa.String(length=32), nullable=False),
        sa.Column('invoice_ids', sa.JSON(), nullable=False),
        sa.UniqueConstraint('portal_id', 'payment_id', name='uq_payment_invoices_payment'),
    )
    op.create_table(
        'qbo_revocations',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('realm_id', sa.String(length=32), nullable=True),
        sa.Column('access_token_enc', sa.Text(), nullable=True),
        sa.Column('refresh_token_enc', sa.Text(), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('last_error', sa.String(length=255), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ('qbo_revocations', 'payment_invoices', 'customer_parents'):
        op.drop_table(table)
    op.drop_index('ix_sync_failures_portal_id', 'sync_failures')
    op.drop_table('sync_failures')
    with op.batch_alter_table('qbo_connections') as batch:
        for column in ('change_counts', 'last_change', 'last_pull_at', 'pull_in_flight', 'pull_again', 'pull_heartbeat_at',
                       'pull_owner'):
            batch.drop_column(column)
    with op.batch_alter_table('received_events') as batch:
        batch.drop_column('handled_at')
        batch.drop_column('deleted_id')
