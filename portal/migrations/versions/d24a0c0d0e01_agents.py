"""agents: non-human accounts, the output an agent returns, and its recommendations

Revision ID: d24a0c0d0e01
Revises: c22a0c0d0e01
Create Date: 2026-12-07 14:00:00

A user is a person or an agent (`kind`); every existing user is a person. A task keeps the
output an agent returned with its decision, and the decision an agent recommended when its
step asks a person to review it (the task's state is then `recommended`).
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = 'd24a0c0d0e01'
down_revision = 'c22a0c0d0e01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('kind', sa.String(length=16), nullable=False, server_default='person')
        )
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'output',
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
            nullable=True,
        ))
        batch_op.add_column(sa.Column('recommendation', sa.String(length=32), nullable=True))


def downgrade():
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_column('recommendation')
        batch_op.drop_column('output')
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('kind')
