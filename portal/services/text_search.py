"""Finding records by what was written in them, and the order the records search lists them in.

Every string value a person submitted (vendor, invoice number, line descriptions, notes, file
names) is in `submission.search_text`, which the database keeps itself (migration
e19b0c0d0e01). A search for words finds the records that contain each word anywhere, in any
case: "Acme" finds "Acme Office Supplies GmbH", "ACME-1042" finds the invoice numbered so.

- PostgreSQL: `search_text ILIKE '%word%'` for each word, answered by a GIN trigram index.
- SQLite: the FTS5 table submission_fts with the trigram tokenizer, `MATCH '"word"'`.

Trigram indexes need three characters; a shorter word is still looked for, by reading the
text of the records the other filters leave.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Integer, and_, func, select, text

from portal.domain.refusal import Refused
from portal.extensions import db
from portal.models import Form, Submission, User

MAX_LENGTH = 200
MAX_WORDS = 8
#: The shortest word a trigram index can answer.
INDEXED_LENGTH = 3


class TextRefused(Refused, ValueError):
    """Search words that cannot be looked for; the message says why."""


def words(phrase: str) -> list[str]:
    """The words of a search, each looked for on its own (all must be found)."""
    phrase = " ".join((phrase or "").split())
    if len(phrase) > MAX_LENGTH:
        raise TextRefused(f"Search for at most {MAX_LENGTH} characters.")
    found = list(dict.fromkeys(phrase.split(" "))) if phrase else []
    if len(found) > MAX_WORDS:
        raise TextRefused(f"Search for at most {MAX_WORDS} words at a time.")
    return found


def condition(phrase: str) -> ColumnElement[bool] | None:
    """Submissions whose submitted text contains every word of `phrase`; None for no words."""
    found = words(phrase)
    if not found:
        return None
    if db.session.get_bind().dialect.name == "sqlite":
        return _sqlite(found)
    return and_(*(Submission.search_text.ilike(_like(word), escape="\\") for word in found))


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _sqlite(found: list[str]) -> ColumnElement[bool]:
    indexed = [word for word in found if len(word) >= INDEXED_LENGTH]
    conditions = []
    if indexed:
        # Each word a quoted phrase: the trigram tokenizer matches it as a substring.
        match = " ".join('"' + word.replace('"', '""') + '"' for word in indexed)
        matching = (
            text("SELECT rowid FROM submission_fts WHERE submission_fts MATCH :match")
            .bindparams(match=match)
            .columns(rowid=Integer)
        )
        conditions.append(Submission.id.in_(select(matching.subquery().c.rowid)))
    for word in found:
        if len(word) < INDEXED_LENGTH:
            conditions.append(
                func.lower(Submission.search_text).contains(word.lower(), autoescape=True)
            )
    return and_(*conditions)


#: The columns the records list can be sorted by: the key in the URL -> the column.
SORTABLE = {
    "request": Submission.id,
    "form": Form.title,
    "submitter": User.name,
    "amount": Submission.amount,
    "status": Submission.status,
    "submitted": Submission.submitted_at,
}


@dataclass(frozen=True)
class Sort:
    """How the records list is ordered: a SORTABLE key, ascending or not (newest first)."""

    key: str = "submitted"
    descending: bool = True

    @classmethod
    def parse(cls, value: str | None) -> Sort:
        """From `?sort=amount` (ascending) or `?sort=-amount` (descending); anything else is
        the usual order, newest first."""
        value = (value or "").strip()
        key = value.removeprefix("-")
        if key not in SORTABLE:
            return cls()
        return cls(key, value.startswith("-"))

    @property
    def param(self) -> str:
        return ("-" if self.descending else "") + self.key

    def toggled(self, key: str) -> str:
        """The ?sort value a column's heading links to: its other direction if it is the sort
        now, else its natural first direction (numbers and dates largest first)."""
        if key == self.key:
            return ("" if self.descending else "-") + key
        return ("-" if key in ("amount", "submitted", "request") else "") + key

    def aria(self, key: str) -> str | None:
        """The heading's aria-sort value, for the column sorted by."""
        if key != self.key:
            return None
        return "descending" if self.descending else "ascending"

    def apply(self, query):
        """`query` (of Submission) ordered by this sort, ties broken by the request number."""
        column = SORTABLE[self.key]
        if self.key == "form":
            query = query.join(Form, Form.id == Submission.form_id)
        elif self.key == "submitter":
            query = query.join(User, User.id == Submission.submitter_id)
        ordered = column.desc() if self.descending else column.asc()
        tie = Submission.id.desc() if self.descending else Submission.id.asc()
        if self.key == "amount":
            ordered = ordered.nulls_last()
        return query.order_by(None).order_by(ordered, tie)
