"""Forms and their versions, kept per process and forgotten when an admin changes anything.

Every form page asks for its form by slug and for the form's current version, and every
decision for the version its request was made with. Forms change only when an admin publishes,
archives or restores, and versions never change at all, so each process keeps a copy and each
transaction puts it into its session without a query (`Session.merge` with `load=False`).

Whether the copies are still right is asked once per transaction, by the head of the admin
audit chain: every change an admin makes (a publish, an archive, a webhook) records an event
on that chain, in the same transaction, so its head hash moves exactly when something kept here
may have changed, in whichever process it was made. The signed-in person's row brings the head
along with it (portal.services.sign_ins.load), so on a page that costs nothing; elsewhere it is
one primary-key read. A transaction that itself records an admin event reads from the database
for the rest of its life and keeps nothing, since what it sees may yet be rolled back.
"""

from __future__ import annotations

import threading

from flask import current_app, has_request_context
from sqlalchemy import inspect, select
from sqlalchemy.orm import joinedload, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from portal import audit
from portal.extensions import db, hold, transaction_cache
from portal.models import AuditChain, Form, FormVersion

_lock = threading.Lock()


class _Kept:
    """What one process keeps, for one head of the admin chain."""

    def __init__(self, key: str):
        self.key = key
        self.forms: dict[str, Form] = {}  # by slug, each with its current version
        self.extra: dict[str, object] = {}  # other modules' answers (see `kept`)


def note_key(head_hash: str | None) -> None:
    """The admin chain's head as read by the current transaction (audit.admin_head_column)."""
    transaction_cache()[audit.ADMIN_HEAD] = head_hash or ""


def _key() -> str | None:
    """The admin chain's head to check kept copies by, or None if the transaction changed it
    itself. Read once per request (with the signed-in person) or along with an audit head this
    transaction locked; elsewhere (a job, the CLI, a test's own session, whose transactions can
    be long) read again at every call, as a query without the cache would be."""
    cache = transaction_cache()
    if cache.get(audit.ADMIN_CHANGED):
        return None
    if audit.ADMIN_HEAD in cache:
        return cache[audit.ADMIN_HEAD]
    with db.session.no_autoflush:
        found = db.session.scalar(
            select(AuditChain.head_hash).where(AuditChain.chain == audit.ADMIN_CHAIN)
        )
    if has_request_context():
        cache[audit.ADMIN_HEAD] = found or ""
    return found or ""


def _current() -> _Kept | None:
    key = _key()
    if key is None:
        return None
    store = current_app.extensions
    kept = store.get("baton.catalog")
    if kept is None or kept.key != key:
        with _lock:
            kept = store.get("baton.catalog")
            if kept is None or kept.key != key:
                kept = store["baton.catalog"] = _Kept(key)
    return kept


def kept(name: str, compute):
    """`compute()`, worked out once per process for each state of the forms (the Insight menu
    asks which groups the current chains name on every page)."""
    kept_now = _current()
    if kept_now is None:
        return compute()
    if name not in kept_now.extra:
        kept_now.extra[name] = compute()
    return kept_now.extra[name]


def find_form(slug: str) -> Form | None:
    """The form called `slug`, its current version loaded, in the session."""
    kept_now = _current()
    copy = kept_now.forms.get(slug) if kept_now else None
    if copy is None:
        form = db.session.scalars(
            select(Form)
            .where(Form.slug == slug)
            .options(joinedload(Form.current_version))
            .execution_options(populate_existing=True)  # as it is now, if the session has it
        ).first()
        if form is None or kept_now is None:
            return form
        kept_now.forms[slug] = _detached_form(form)
        if form.current_version is not None:
            _keep_version(form.current_version)
        hold(form)
        return form
    merged = db.session.merge(copy, load=False)
    hold(merged)
    return merged


def version(version_id: int) -> FormVersion | None:
    """The form version with this id, in the session (held there for the transaction).

    Versions never change, so they are kept per process whatever the admin chain says; the
    form comes with only what never changes either (its id and slug, which the parsed spec
    needs), and the rest of it is read if asked for.
    """
    copy = current_app.extensions.get("baton.versions", {}).get(version_id)
    if copy is None:
        found = db.session.scalars(
            select(FormVersion)
            .where(FormVersion.id == version_id)
            .options(joinedload(FormVersion.form))
        ).first()
        if found is None:
            return None
        _keep_version(found)
        hold(found)
        return found
    merged = db.session.merge(copy, load=False)
    hold(merged)
    return merged


def _keep_version(found: FormVersion) -> None:
    copy = _copy(found)
    set_committed_value(copy, "form", _copy(found.form, only=("id", "slug")))
    current_app.extensions.setdefault("baton.versions", {})[found.id] = copy


def _detached_form(form: Form) -> Form:
    copy = _copy(form)
    current = form.current_version
    version_copy = None
    if current is not None:
        version_copy = _copy(current)
        set_committed_value(version_copy, "form", copy)
    set_committed_value(copy, "current_version", version_copy)
    return copy


def _copy(row, only: tuple[str, ...] | None = None):
    """A detached copy of a loaded row's columns (or `only` these), for merging into other
    sessions; a column left out is read when it is first asked for."""
    mapper = inspect(row).mapper
    copy = mapper.class_manager.new_instance()
    for attribute in mapper.column_attrs:
        if only is None or attribute.key in only:
            set_committed_value(copy, attribute.key, getattr(row, attribute.key))
    make_transient_to_detached(copy)
    return copy
