"""Flask extensions, created unbound here and attached to the app in create_app."""

from flask_htmx import HTMX
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, select
from sqlalchemy import event as orm_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session

#: Named constraints, so Alembic can alter them on SQLite (batch mode) and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = HTMX()


def insert_unless_present(model, key: str, **values) -> None:
    """INSERT a row unless one with the same `key` is there (ON CONFLICT DO NOTHING, which
    PostgreSQL and SQLite both have): two transactions inserting the same row at once both go
    on, where a plain INSERT would fail the second with a unique violation."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(insert(model).values(**values).on_conflict_do_nothing(index_elements=[key]))


def claim(model, row_id: int):
    """The row, locked for the current transaction; None if it is gone or another transaction
    holds it (FOR UPDATE SKIP LOCKED: a job that finds its row taken leaves it to that job)."""
    return db.session.scalars(
        select(model).where(model.id == row_id).with_for_update(skip_locked=True)
    ).first()


#: session.info key of what the current transaction keeps (see transaction_cache).
TRANSACTION_CACHE = "baton.transaction_cache"


def transaction_cache() -> dict:
    """A dict kept for the current transaction of the session only: rows it has locked and
    read (audit's chain heads), what it need read only once (webhooks' active endpoints).
    Emptied when the transaction ends, whichever way it ends."""
    return db.session.info.setdefault(TRANSACTION_CACHE, {})


def hold(*rows) -> None:
    """Keep `rows` in the session until the transaction ends: the identity map holds rows
    weakly, so a row nobody refers to is dropped, and the next `session.get` or many-to-one
    load of it reads it again."""
    transaction_cache().setdefault("held", []).extend(rows)


@orm_event.listens_for(Session, "after_transaction_end")
def _forget_transaction_cache(session: Session, transaction) -> None:
    # The transaction's end (commit, rollback, close) releases its row locks, and a savepoint's
    # end may undo changes to what was kept: the next transaction reads again. A flush's own
    # inner transaction ends here too, and changes nothing.
    if transaction.parent is None or transaction.nested:
        session.info.pop(TRANSACTION_CACHE, None)
