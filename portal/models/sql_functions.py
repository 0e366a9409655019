"""SQL functions that read the same on SQLite and PostgreSQL, for queries that compute figures.

Each is a SQLAlchemy construct compiled per dialect, so a service writes `epoch(column)` once.
"""

from __future__ import annotations

from sqlalchemy import Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement


class epoch(FunctionElement):  # noqa: N801 - reads as the SQL function it stands for
    """Seconds since 1970 of a timestamp column, as a float, on SQLite and PostgreSQL."""

    type = Float()
    inherit_cache = True


@compiles(epoch)
def _epoch_sqlite(element, compiler, **kw):
    # SQLite keeps UTC timestamps as text; julianday reads them, 2440587.5 is 1970-01-01.
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(epoch, "postgresql")
def _epoch_postgresql(element, compiler, **kw):
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) AS FLOAT)"


class greatest(FunctionElement):  # noqa: N801
    type = Float()
    inherit_cache = True


class least(FunctionElement):  # noqa: N801
    type = Float()
    inherit_cache = True


@compiles(greatest)
def _greatest_sqlite(element, compiler, **kw):
    return f"max({compiler.process(element.clauses, **kw)})"


@compiles(least)
def _least_sqlite(element, compiler, **kw):
    return f"min({compiler.process(element.clauses, **kw)})"


@compiles(greatest, "postgresql")
def _greatest_postgresql(element, compiler, **kw):
    return f"GREATEST({compiler.process(element.clauses, **kw)})"


@compiles(least, "postgresql")
def _least_postgresql(element, compiler, **kw):
    return f"LEAST({compiler.process(element.clauses, **kw)})"
