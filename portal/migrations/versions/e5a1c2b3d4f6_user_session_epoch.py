"""user session epoch: disabling a user or changing their password ends their sessions

Revision ID: e5a1c2b3d4f6
Revises: 05c84d12b307
Create Date: 2026-11-25 20:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5a1c2b3d4f6'
down_revision = '05c84d12b307'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('session_epoch', sa.Integer(), nullable=False, server_default='0')
        )


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('session_epoch')
