"""Development tools: the mailbox `make run` fills. Registered only when BATON_ENV=development."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.utils import getaddresses
from pathlib import Path

from flask import Blueprint, abort, current_app, make_response, render_template
from flask_login import current_user
from markupsafe import Markup, escape

from portal.web import CONTENT_SECURITY_POLICY

bp = Blueprint("devtools", __name__, url_prefix="/dev")
_NAME = re.compile(r"[0-9T]+-[0-9a-f]{8}\.eml")
_URL = re.compile(r"https?://[^\s<>\"]+")


def _folder() -> Path:
    return Path(current_app.config["DEV_MAILBOX"])


def _read(path: Path):
    return message_from_bytes(path.read_bytes(), policy=policy.default)


def _for_reader(email) -> bool:
    """Admins read every message; anyone else only those addressed to them. Messages carry
    personal action links: someone reading another person's could decide in their name."""
    if current_user.in_group("admin"):
        return True
    recipients = getaddresses([str(value) for value in email.get_all("To", [])])
    return current_user.email.lower() in {address.lower() for _, address in recipients}


@bp.get("/mailbox")
def mailbox():
    """The messages the development mailbox received for the reader (all, for admins)."""
    folder = _folder()
    paths = sorted(folder.glob("*.eml"), reverse=True) if folder.exists() else []
    messages = [(path.name, email) for path in paths if _for_reader(email := _read(path))]
    return render_template("devtools/mailbox.html", messages=messages[:200], folder=folder)


@bp.get("/mailbox/<name>")
def message(name: str):
    """One message: its text with working links, and its HTML as the recipient would see it."""
    if not _NAME.fullmatch(name):
        abort(404)
    path = _folder() / name
    if not path.exists():
        abort(404)
    email = _read(path)
    if not _for_reader(email):
        abort(404)
    text_part = email.get_body(preferencelist=("plain",))
    html_part = email.get_body(preferencelist=("html",))
    text = text_part.get_content() if text_part else ""
    linked = Markup(
        _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', str(escape(text)))
    )
    response = make_response(
        render_template(
            "devtools/message.html",
            name=name,
            email=email,
            text=linked,
            html=html_part.get_content() if html_part else "",
        )
    )
    # The email's own inline styles, in its sandboxed frame (which inherits this policy).
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
        "style-src 'self'", "style-src 'self' 'unsafe-inline'"
    )
    return response
