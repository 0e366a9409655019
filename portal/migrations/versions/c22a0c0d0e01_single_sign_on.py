"""single sign-on: the provider's subject for each person, and accounts marked local

Revision ID: c22a0c0d0e01
Revises: 5b8e2d4c9a17
Create Date: 2026-12-07 14:15:00

`sso_subject` is the OpenID Connect provider's `sub` for a person who has signed in through it
(unique: one Baton account per provider account); `local` marks the accounts that still sign
in with a password when BATON_PASSWORD_SIGN_IN is off. A unique index rather than a unique
constraint, and plain ADD COLUMN, so SQLite does not rebuild the user table.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c22a0c0d0e01'
down_revision = '5b8e2d4c9a17'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('user', sa.Column('sso_subject', sa.String(length=255), nullable=True))
    op.add_column(
        'user', sa.Column('local', sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_index('ix_user_sso_subject', 'user', ['sso_subject'], unique=True)


def downgrade():
    op.drop_index('ix_user_sso_subject', table_name='user')
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('local')
        batch_op.drop_column('sso_subject')
