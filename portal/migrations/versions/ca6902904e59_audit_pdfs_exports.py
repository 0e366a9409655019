"""audit trail PDFs and exports

Revision ID: ca6902904e59
Revises: 0232209d8220
Create Date: 2026-11-25 18:51:38.777680

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = 'ca6902904e59'
down_revision = '0232209d8220'
branch_labels = None
depends_on = None


APPEND_ONLY = "audit events are append-only: they are never changed or deleted"


def upgrade():
    op.create_table('export',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=False),
    sa.Column('filters', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('submission_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('state', sa.Enum('queued', 'running', 'done', 'failed', name='exportstate', native_enum=False, length=16), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=300), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=True),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user.id'], name=op.f('fk_export_requested_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_export'))
    )
    with op.batch_alter_table('export', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_export_requested_by_id'), ['requested_by_id'], unique=False)

    op.create_table('audit_pdf',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('head_hash', sa.String(length=64), nullable=False),
    sa.Column('events', sa.Integer(), nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('path', sa.String(length=300), nullable=False),
    sa.Column('rendered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('rendered_for_id', sa.Integer(), nullable=True),
    sa.Column('render_seconds', sa.Double(), nullable=True),
    sa.ForeignKeyConstraint(['rendered_for_id'], ['user.id'], name=op.f('fk_audit_pdf_rendered_for_id_user')),
    sa.ForeignKeyConstraint(['submission_id'], ['submission.id'], name=op.f('fk_audit_pdf_submission_id_submission')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_pdf')),
    sa.UniqueConstraint('submission_id', 'head_hash', name=op.f('uq_audit_pdf_submission_id'))
    )
    with op.batch_alter_table('audit_pdf', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_pdf_submission_id'), ['submission_id'], unique=False)

    # The audit log is append-only in the database itself, not only by convention.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION baton_audit_event_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION baton_audit_event_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_event_no_{verb.lower()} BEFORE {verb} ON audit_event "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
            )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION baton_audit_event_append_only()")
    else:
        op.execute("DROP TRIGGER audit_event_no_update")
        op.execute("DROP TRIGGER audit_event_no_delete")
    with op.batch_alter_table('audit_pdf', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_pdf_submission_id'))

    op.drop_table('audit_pdf')
    with op.batch_alter_table('export', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_export_requested_by_id'))

    op.drop_table('export')
