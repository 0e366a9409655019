"""process insight: when a request finished, and indexes for the insight aggregates

Revision ID: 0d1825333a5e
Revises: e5a1c2b3d4f6
Create Date: 2026-11-26 09:12:40.118204

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0d1825333a5e'
down_revision = 'e5a1c2b3d4f6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.add_column(sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True))

    # A finished request's outcome event says when it finished; the audit log is the record.
    op.execute(
        """
        UPDATE submission SET finished_at = COALESCE(
            (SELECT MAX(audit_event.occurred_at) FROM audit_event
             WHERE audit_event.submission_id = submission.id
               AND audit_event.action IN ('approved', 'rejected', 'withdrawn')),
            submission.updated_at)
        WHERE submission.status IN ('approved', 'rejected', 'withdrawn')
        """
    )

    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.create_index(
            'ix_submission_form_submitted', ['form_id', 'submitted_at'], unique=False
        )
        batch_op.create_index(
            'ix_submission_form_finished', ['form_id', 'finished_at'], unique=False
        )

    with op.batch_alter_table('timer', schema=None) as batch_op:
        batch_op.create_index('ix_timer_kind_fired', ['kind', 'fired_at'], unique=False)

    with op.batch_alter_table('approval_step', schema=None) as batch_op:
        batch_op.create_index('ix_approval_step_started_at', ['started_at'], unique=False)
        batch_op.create_index('ix_approval_step_finished_at', ['finished_at'], unique=False)

    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.create_index('ix_task_decided_at', ['decided_at'], unique=False)


def downgrade():
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_index('ix_task_decided_at')

    with op.batch_alter_table('approval_step', schema=None) as batch_op:
        batch_op.drop_index('ix_approval_step_finished_at')
        batch_op.drop_index('ix_approval_step_started_at')

    with op.batch_alter_table('timer', schema=None) as batch_op:
        batch_op.drop_index('ix_timer_kind_fired')

    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.drop_index('ix_submission_form_finished')
        batch_op.drop_index('ix_submission_form_submitted')
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite 3.35+ drops a plain column in place. A batch operation would copy the table,
        # which its children's foreign keys refuse once it holds requests.
        op.execute('ALTER TABLE submission DROP COLUMN finished_at')
    else:
        op.drop_column('submission', 'finished_at')
