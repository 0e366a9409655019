"""deadlines, reminders, escalations, delegation

Revision ID: 0232209d8220
Revises: c0ec7b2d32e1
Create Date: 2026-11-25 18:16:06.359231

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0232209d8220'
down_revision = 'c0ec7b2d32e1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('timer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('reminder', 'escalation', 'timeout', name='timerkind', native_enum=False, length=32), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('fire_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('fired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_timer_task_id_task'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_timer')),
    sa.UniqueConstraint('task_id', 'kind', 'sequence', name=op.f('uq_timer_task_id'))
    )
    with op.batch_alter_table('timer', schema=None) as batch_op:
        batch_op.create_index('ix_timer_due', ['fired_at', 'cancelled_at', 'fire_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_timer_task_id'), ['task_id'], unique=False)

    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('on_behalf_of_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('slot', sa.String(length=140), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('origin', sa.Text(), nullable=False, server_default=''))
        batch_op.create_index(batch_op.f('ix_task_due_at'), ['due_at'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_task_on_behalf_of_id_user'), 'user', ['on_behalf_of_id'], ['id'])

    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('away_from', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('away_until', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('delegate_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('daily_digest', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_foreign_key(batch_op.f('fk_user_delegate_id_user'), 'user', ['delegate_id'], ['id'])



def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_user_delegate_id_user'), type_='foreignkey')
        batch_op.drop_column('daily_digest')
        batch_op.drop_column('delegate_id')
        batch_op.drop_column('away_until')
        batch_op.drop_column('away_from')

    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_task_on_behalf_of_id_user'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_task_due_at'))
        batch_op.drop_column('origin')
        batch_op.drop_column('slot')
        batch_op.drop_column('on_behalf_of_id')
        batch_op.drop_column('due_at')

    with op.batch_alter_table('timer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_timer_task_id'))
        batch_op.drop_index('ix_timer_due')

    op.drop_table('timer')
