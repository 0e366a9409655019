"""The form builder's meeting with the database: what a form starts from, which names its
published versions use, the people and groups to choose from, and checking a document with the
same checks publishing uses. The operations themselves are pure (portal/domain/builder.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import or_, select

from portal.domain import builder, schema
from portal.domain.builder import Applied, BuilderRefused, Place
from portal.domain.schema import FormSpec, SchemaInvalid
from portal.extensions import db
from portal.models import Form, Group, User
from portal.services import forms as form_service

#: A new form from blank: a title and no fields yet (the builder asks for the first one).
BLANK = {"title": "New request", "fields": []}
#: How many people or groups a search-as-you-type list offers at once.
SEARCH_LIMIT = 12


@dataclass(frozen=True)
class Start:
    """What the builder opens: the form (None when new), its text and the version it is from."""

    form: Form | None
    text: str
    based_on: int | None


def start(slug: str, template: str | None = None) -> Start:
    """Open form `slug`'s current version, or start a new one from blank or from `template`."""
    form = form_service.find_form(slug)
    if form is not None and form.current_version is not None:
        return Start(form, form.current_version.schema_text, form.current_version.number)
    if template:
        found = form_service.find_form(template)
        if found is not None and found.current_version is not None:
            return Start(form, found.current_version.schema_text, None)
    return Start(form, builder.write(BLANK), None)


def templates() -> list[Form]:
    """The published forms a new form can start from."""
    return [form for form, _ in form_service.overview() if form.current_version is not None]


def published_names(slug: str) -> frozenset[str]:
    """Field and column names any published version of `slug` stores answers under."""
    form = form_service.find_form(slug)
    names: set[str] = set()
    for version in form.versions if form is not None else []:
        try:
            document = schema.decode(version.schema_text)
        except SchemaInvalid:
            continue
        for spec in document.get("fields", []):
            if isinstance(spec, dict) and isinstance(spec.get("name"), str):
                names.add(spec["name"])
                for column in spec.get("fields", []) if spec.get("type") == "line_items" else []:
                    if isinstance(column, dict) and isinstance(column.get("name"), str):
                        names.add(column["name"])
    return frozenset(names)


@dataclass
class State:
    """What the builder page shows for a document: it, its checks and the preview."""

    text: str
    document: dict | None  # None when the text is not a JSON object
    selected: str
    preview: form_service.Preview
    errors: dict[str, list[str]] = field(default_factory=dict)  # JSON path -> messages
    message: str = ""
    refusal: str = ""

    @property
    def spec(self) -> FormSpec | None:
        return self.preview.spec

    def faults_at(self, path: str) -> list[str]:
        """Messages about exactly `path` (a control)."""
        return self.errors.get(path, [])

    def faults_within(self, path: str) -> list[str]:
        """Messages about `path` or anything inside it (an item of a list)."""
        return [
            message
            for where, messages in self.errors.items()
            if where == path or where.startswith((path + ".", path + "["))
            for message in messages
        ]


def state(text: str, slug: str, selected: str = "form", message: str = "", refusal: str = ""):
    """Check `text` as publishing would and gather what the builder shows for it."""
    preview = form_service.preview(text, slug)
    try:
        document = schema.decode(text)
    except SchemaInvalid:
        document = None
    errors: dict[str, list[str]] = {}
    for error, _line in preview.errors:
        errors.setdefault(error.path, []).append(builder.fault_words(error.path, error.message))
    if document is not None:
        try:
            builder.item(document, Place.parse(selected))
        except BuilderRefused:
            selected = "form"
    return State(text, document, selected, preview, errors, message, refusal)


def apply(text: str, slug: str, op: str, values: dict[str, list[str]]) -> State:
    """Apply one builder operation to the text; a refusal leaves the text as it was."""
    selected = (values.get("selected") or ["form"])[0]
    try:
        document = schema.decode(text)
    except SchemaInvalid as exc:
        return state(text, slug, "form", refusal=_first(exc))
    try:
        applied: Applied = builder.apply(document, op, values, published_names(slug))
    except BuilderRefused as refusal:
        return state(text, slug, selected, refusal=str(refusal))
    new_text = text if applied.document == document else builder.write(applied.document)
    return state(new_text, slug, applied.selected, applied.message)


def _first(exc: SchemaInvalid) -> str:
    return "The JSON cannot be read, so the builder cannot show it: " + "; ".join(
        error.message for error in exc.errors
    )


def changes(slug: str, text: str) -> list[str]:
    """What publishing `text` would change from the version in use, in words."""
    form = form_service.find_form(slug)
    older = None
    if form is not None and form.current_version is not None:
        older = schema.decode(form.current_version.schema_text)
    try:
        newer = schema.decode(text)
    except SchemaInvalid:
        return []
    return builder.changes_in_words(older, newer)


def search_people(query: str) -> list[User]:
    """Active people whose name or email contains `query`, for a search-as-you-type list."""
    words = query.strip().lower()
    statement = select(User).where(User.is_active.is_(True)).order_by(User.name)
    if words:
        pattern = f"%{_escape(words)}%"
        statement = statement.where(
            or_(User.email.ilike(pattern, escape="\\"), User.name.ilike(pattern, escape="\\"))
        )
    return list(db.session.scalars(statement.limit(SEARCH_LIMIT)))


def search_groups(query: str, limit: int = SEARCH_LIMIT) -> list[Group]:
    """Groups whose name or title contains `query`, for a search-as-you-type list."""
    words = query.strip().lower()
    statement = select(Group).order_by(Group.name)
    if words:
        pattern = f"%{_escape(words)}%"
        statement = statement.where(
            or_(Group.name.ilike(pattern, escape="\\"), Group.title.ilike(pattern, escape="\\"))
        )
    return list(db.session.scalars(statement.limit(limit)))


def _escape(text: str) -> str:
    return re.sub(r"([%_\\])", r"\\\1", text)


def publish(text: str, slug: str, user: User, note: str, based_on: int | None):
    """Publish the builder's document as the next version, with every check publishing has."""
    source = f"builder: {note}" if note else "builder"
    return form_service.publish_checked(text, slug, user, source, based_on)
