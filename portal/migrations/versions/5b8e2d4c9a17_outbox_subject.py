"""outbox subject: what a job is about ("submission:42"), indexed

Revision ID: 5b8e2d4c9a17
Revises: a7c3e9f1b2d5
Create Date: 2026-12-07 02:50:00

Finding whether a PDF is already being rendered for a submission read every waiting
render_pdf row's arguments. Rows waiting when this runs get their subject from their
arguments, named as portal.jobs.registry names them.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5b8e2d4c9a17'
down_revision = 'a7c3e9f1b2d5'
branch_labels = None
depends_on = None

#: The argument that names each job's subject, as the registry had it when this was written.
SUBJECTS = {
    'start_chain': 'submission_id',
    'send_email': 'email_id',
    'deliver_webhook': 'delivery_id',
    'render_pdf': 'submission_id',
    'build_export': 'export_id',
}


def upgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_outbox_message_subject', ['subject'], unique=False)
    outbox = sa.table(
        'outbox_message',
        sa.column('id', sa.Integer),
        sa.column('job', sa.String),
        sa.column('args', sa.JSON),
        sa.column('subject', sa.String),
    )
    connection = op.get_bind()
    for row in connection.execute(sa.select(outbox.c.id, outbox.c.job, outbox.c.args)).all():
        key = SUBJECTS.get(row.job)
        value = (row.args or {}).get(key) if key else None
        if value is not None:
            connection.execute(
                outbox.update()
                .where(outbox.c.id == row.id)
                .values(subject=f"{key.removesuffix('_id')}:{value}")
            )


def downgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_message_subject')
        batch_op.drop_column('subject')
