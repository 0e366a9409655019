"""records text search: every submitted text value, indexed by the database

Revision ID: e19b0c0d0e01
Revises: f23a0c0d0e01
Create Date: 2026-12-07 14:20:00

Compliance officers look a request up by a vendor's name or an invoice number. The column
submission.search_text holds every string value of the submission's data (line items and file
names included), kept by a trigger in the database itself, so every writer keeps it true: the
services, the demo generator, the copies of bench/scale.py, a hand-written UPDATE.

- PostgreSQL: a BEFORE INSERT OR UPDATE OF data trigger sets search_text from the JSONB (a
  copied row that brings its own search_text keeps it: the data is the same), and a GIN
  trigram index (pg_trgm) answers `search_text ILIKE '%acme%'` without reading every row.
- SQLite: AFTER triggers set search_text and keep an FTS5 table with the trigram tokenizer
  (submission_fts, rowid = submission id) in step, which answers `MATCH '"acme"'`.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e19b0c0d0e01'
down_revision = 'f23a0c0d0e01'
branch_labels = None
depends_on = None

POSTGRESQL_UP = [
    # A trusted extension since PostgreSQL 13: the database's owner may create it.
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """
    CREATE FUNCTION baton_search_text(doc jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT string_agg(value #>> '{}', ' ')
      FROM jsonb_path_query(doc, 'strict $.** ? (@.type() == "string")') AS value
    $$
    """,
    """
    CREATE FUNCTION baton_submission_search_text() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' AND NEW.search_text IS NOT NULL THEN
        RETURN NEW;  -- a copy of a row (bench/scale.py) brings the text of the same data
      END IF;
      NEW.search_text := baton_search_text(NEW.data);
      RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER submission_search_text
    BEFORE INSERT OR UPDATE OF data ON submission
    FOR EACH ROW EXECUTE FUNCTION baton_submission_search_text()
    """,
    "UPDATE submission SET search_text = baton_search_text(data) WHERE data IS NOT NULL",
    "CREATE INDEX ix_submission_search_text ON submission USING gin (search_text gin_trgm_ops)",
]
POSTGRESQL_DOWN = [
    "DROP INDEX IF EXISTS ix_submission_search_text",
    "DROP TRIGGER IF EXISTS submission_search_text ON submission",
    "DROP FUNCTION IF EXISTS baton_submission_search_text()",
    "DROP FUNCTION IF EXISTS baton_search_text(jsonb)",
]

#: Every string value of a submission's data, as SQLite's json_tree walks it.
SQLITE_TEXT = "(SELECT group_concat(value, ' ') FROM json_tree({doc}) WHERE type = 'text')"
SQLITE_UP = [
    "CREATE VIRTUAL TABLE submission_fts USING fts5(body, tokenize = 'trigram')",
    f"""
    CREATE TRIGGER submission_search_insert AFTER INSERT ON submission
    WHEN new.data IS NOT NULL
    BEGIN
      UPDATE submission SET search_text = {SQLITE_TEXT.format(doc='new.data')} WHERE id = new.id;
      INSERT INTO submission_fts (rowid, body)
        VALUES (new.id, {SQLITE_TEXT.format(doc='new.data')});
    END
    """,
    f"""
    CREATE TRIGGER submission_search_update AFTER UPDATE OF data ON submission
    BEGIN
      UPDATE submission SET search_text = {SQLITE_TEXT.format(doc='new.data')} WHERE id = new.id;
      DELETE FROM submission_fts WHERE rowid = old.id;
      INSERT INTO submission_fts (rowid, body)
        SELECT new.id, {SQLITE_TEXT.format(doc='new.data')} WHERE new.data IS NOT NULL;
    END
    """,
    """
    CREATE TRIGGER submission_search_delete AFTER DELETE ON submission
    BEGIN
      DELETE FROM submission_fts WHERE rowid = old.id;
    END
    """,
    f"UPDATE submission SET search_text = {SQLITE_TEXT.format(doc='data')} WHERE data IS NOT NULL",
    "INSERT INTO submission_fts (rowid, body) "
    "SELECT id, search_text FROM submission WHERE search_text IS NOT NULL",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS submission_search_insert",
    "DROP TRIGGER IF EXISTS submission_search_update",
    "DROP TRIGGER IF EXISTS submission_search_delete",
    "DROP TABLE IF EXISTS submission_fts",
]


def upgrade():
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_text', sa.Text(), nullable=True))
    dialect = op.get_bind().dialect.name
    for statement in {'postgresql': POSTGRESQL_UP, 'sqlite': SQLITE_UP}.get(dialect, []):
        op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    for statement in {'postgresql': POSTGRESQL_DOWN, 'sqlite': SQLITE_DOWN}.get(dialect, []):
        op.execute(statement)
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.drop_column('search_text')
