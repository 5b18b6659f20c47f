"""Bitrix24 → QuickBooks: customers resolved for CRM records that do not own a sync link (leads, a
record that matched a customer already linked elsewhere), deals waiting for their next invoice, and
the last error of an event a worker could not act on yet

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 03:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('received_events', sa.Column('last_error', sa.String(length=255), nullable=True))
    op.create_table(
        'customer_refs',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('portal_id', sa.Integer(), sa.ForeignKey('portals.id', ondelete='CASCADE'), nullable=False),
        sa.Column('b24_type', sa.String(length=32), nullable=False),
        sa.Column('b24_id', sa.String(length=32), nullable=False),
        sa.Column('qbo_id', sa.String(length=32), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('portal_id', 'b24_type', 'b24_id', name='uq_customer_refs_record'),
    )
    op.create_table(
        'deal_requests',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('portal_id', sa.Integer(), sa.ForeignKey('portals.id', ondelete='CASCADE'), nullable=False),
        sa.Column('deal_id', sa.String(length=32), nullable=False),
        sa.Column('qbo_customer_id', sa.String(length=32), nullable=False),
        sa.Column('user_id', sa.String(length=32), nullable=True),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('invoice_qbo_id', sa.String(length=32), nullable=True),
        sa.Column('linked_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_deal_requests_customer', 'deal_requests', ['portal_id', 'qbo_customer_id'])


def downgrade() -> None:
    op.drop_index('ix_deal_requests_customer', 'deal_requests')
    op.drop_table('deal_requests')
    op.drop_table('customer_refs')
    with op.batch_alter_table('received_events') as batch:
        batch.drop_column('last_error')
