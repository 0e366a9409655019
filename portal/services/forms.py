"""Publishing form schemas as new versions, from files or from the editor."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from portal import audit
from portal.domain import schema
from portal.domain.schema import FormSpec, SchemaError, SchemaInvalid
from portal.extensions import db
from portal.models import Form, FormVersion

logger = logging.getLogger(__name__)
SLUG_PATTERN = r"[a-z][a-z0-9_]{0,62}"


@dataclass(frozen=True)
class Published:
    form: Form
    version: FormVersion
    changed: bool  # False when the schema was the same as the current version


def check(text: str, slug: str, source: str = "") -> FormSpec:
    """Parse and check schema text; raise SchemaInvalid with every fault and its JSON path."""
    if not re.fullmatch(SLUG_PATTERN, slug):
        raise SchemaInvalid(
            [
                SchemaError(
                    "", f"{slug!r} is not a usable form name: use lower-case letters, digits and _"
                )
            ],
            source,
        )
    return schema.load_text(text, slug, source)


def publish(text: str, slug: str, actor: audit.Actor, source: str = "") -> Published:
    """Make `text` the current version of form `slug`, unless it equals the current one."""
    spec = check(text, slug, source)
    document = schema.decode(text, source)
    digest = schema.content_hash(document)
    form = db.session.scalars(select(Form).where(Form.slug == slug).with_for_update()).first()
    if form is None:
        form = Form(slug=slug, title=spec.title)
        db.session.add(form)
        db.session.flush()
    current = form.current_version
    if current is not None and current.schema_hash == digest:
        return Published(form, current, changed=False)
    number = (max((v.number for v in form.versions), default=0)) + 1
    version = FormVersion(
        form=form,
        number=number,
        title=spec.title,
        schema_text=text,
        schema_hash=digest,
        created_by_id=actor.user.id if actor.user else None,
        source=source[:200],
    )
    db.session.add(version)
    db.session.flush()
    form.current_version = version
    form.title = spec.title
    audit.record(
        audit.ADMIN_CHAIN,
        "schema_published",
        actor,
        {"form": slug, "version": number, "schema_hash": digest, "source": source},
    )
    logger.info("form %s: published version %s from %s", slug, number, source or "the editor")
    return Published(form, version, changed=True)


def load_directory(folder: str | Path, actor: audit.Actor) -> list[Published]:
    """Publish every *.json in `folder`; if any file is faulty, publish none, list every fault."""
    folder = Path(folder)
    files = sorted(folder.glob("*.json"))
    if not files:
        raise SchemaInvalid([SchemaError("", f"no *.json form schemas in {folder}")], str(folder))
    texts: dict[str, tuple[str, str]] = {}
    errors: list[str] = []
    for path in files:
        try:
            text = path.read_text("utf-8")
            check(text, path.stem, path.name)
        except SchemaInvalid as exc:
            errors.extend(exc.lines())
            continue
        except UnicodeDecodeError:
            errors.append(f"{path.name}: not UTF-8 text")
            continue
        texts[path.stem] = (text, path.name)
    if errors:
        raise SchemaInvalid([SchemaError("", line) for line in errors])
    return [publish(text, slug, actor, source) for slug, (text, source) in texts.items()]


def find_form(slug: str) -> Form | None:
    return db.session.scalars(select(Form).where(Form.slug == slug)).first()
