"""what if: a draft chain replayed over past requests, with its progress and report

Revision ID: f23a0c0d0e01
Revises: d24a0c0d0e01
Create Date: 2026-12-07 14:20:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = 'f23a0c0d0e01'
down_revision = 'd24a0c0d0e01'
branch_labels = None
depends_on = None


def _json():
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade():
    op.create_table('what_if',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('form_id', sa.Integer(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=False),
    sa.Column('schema_text', sa.Text(), nullable=False),
    sa.Column('first_day', sa.Date(), nullable=False),
    sa.Column('last_day', sa.Date(), nullable=False),
    sa.Column('options', _json(), nullable=False),
    sa.Column('state', sa.Enum('queued', 'running', 'done', 'failed', name='whatifstate', native_enum=False, length=16), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('result', _json(), nullable=True),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('seconds', sa.Double(), nullable=True),
    sa.ForeignKeyConstraint(['form_id'], ['form.id'], name=op.f('fk_what_if_form_id_form')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user.id'], name=op.f('fk_what_if_requested_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_what_if'))
    )
    with op.batch_alter_table('what_if', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_what_if_form_id'), ['form_id'], unique=False)


def downgrade():
    with op.batch_alter_table('what_if', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_what_if_form_id'))
    op.drop_table('what_if')
