"""An id per install of the app on a portal, so sessions from an earlier install are refused

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 18:00:00
"""
import secrets

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('portals', sa.Column('install_id', sa.String(length=32), nullable=True))
    # Every existing install gets an id of its own; its open sessions carry none and are refused.
    portals = sa.table('portals', sa.column('id', sa.Integer()), sa.column('install_id', sa.String()))
    connection = op.get_bind()
    for (portal_id,) in connection.execute(sa.select(portals.c.id)).all():
        connection.execute(portals.update().where(portals.c.id == portal_id)
                           .values(install_id=secrets.token_hex(16)))


def downgrade() -> None:
    with op.batch_alter_table('portals') as batch:
        batch.drop_column('install_id')
