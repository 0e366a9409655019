"""The Alembic migrations build exactly the tables the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from portal.extensions import db
from portal.models.submission import kept_by_database


def _modelled(obj, name, type_, reflected, compare_to) -> bool:
    return not (reflected and compare_to is None and kept_by_database(name))


def test_migrations_match_the_models(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": _modelled})
        differences = compare_metadata(context, db.metadata)
    assert differences == []
