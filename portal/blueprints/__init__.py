"""One area per audience; each area's routes.py holds thin views over portal.services."""

from werkzeug.routing import IntegerConverter

#: The largest row id: id columns are 32-bit integers on PostgreSQL.
MAX_ROW_ID = 2**31 - 1


class RowIdConverter(IntegerConverter):
    """`<int:...>` in a URL names a row, so it is never larger than an id column holds: a larger
    number is a 404 like any other id that is not there, not a database error."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):
        super().__init__(map, fixed_digits, min, MAX_ROW_ID if max is None else max, signed)
