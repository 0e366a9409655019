"""The floor bench/web.py measures Baton against: the least an app on the same stack must do for
the same two requests.

Flask, Flask-Login with the user loaded from PostgreSQL, Flask-WTF with CSRF, Flask-SQLAlchemy,
a Jinja page of about the same size as Baton's vendor invoice form. The POST validates about
ten fields (three line items included), stores the PDF by its SHA-256, and inserts the record
and one audit row in one transaction. What it leaves out is what Baton is for: form schemas,
rules, approval chains, hash-chained audit, the outbox, per-record access checks.

Two ways of rendering the form, as the benchmark's two floors (FLOOR_KEEP_FIELDS):
- unset: the fields are rendered on every request (what a plain Flask-WTF app does);
- "1": the fields' HTML is rendered once per process and kept, as Baton keeps a blank form's
  fields; only the CSRF token and the page around them are rendered per request.

    .venv/bin/python -m bench.floor init    # tables and the one user, in DATABASE_URL
    gunicorn -c python:portal.processes.gunicorn_conf 'bench.floor:create_app()'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from decimal import Decimal
from pathlib import Path

from flask import Flask, abort, current_app, redirect, render_template, request, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from markupsafe import Markup
from sqlalchemy import JSON, ForeignKey, Numeric, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import (
    DateField,
    DecimalField,
    EmailField,
    FieldList,
    FileField,
    Form,
    FormField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

EMAIL = "floor@example.com"
PASSWORD = "baton-demo"
CURRENCIES = ["EUR", "USD", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "JPY"]
COST_CENTRES = [(f"CC-{n}00", f"CC-{n}00 · cost centre {n}") for n in range(1, 10)]
MAX_PDF_BYTES = 10 * 1024 * 1024


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()


class FloorUser(UserMixin, db.Model):
    __tablename__ = "floor_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))


class FloorFile(db.Model):
    __tablename__ = "floor_file"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int]


class FloorRecord(db.Model):
    __tablename__ = "floor_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("floor_user.id"))
    data: Mapped[dict] = mapped_column(JSON)
    amount: Mapped[Decimal] = mapped_column(Numeric(20, 4))
    file_sha256: Mapped[str] = mapped_column(ForeignKey("floor_file.sha256"))
    created_at: Mapped[dt.datetime]


class FloorAudit(db.Model):
    __tablename__ = "floor_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("floor_record.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("floor_user.id"))
    action: Mapped[str] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[dt.datetime]


class LineForm(Form):
    description = StringField("Description", [DataRequired(), Length(max=200)])
    quantity = DecimalField("Quantity", [DataRequired(), NumberRange(min=0)])
    unit_price = DecimalField("Unit price", [DataRequired(), NumberRange(min=0)])


class InvoiceForm(FlaskForm):
    vendor_name = StringField("Vendor name", [DataRequired(), Length(max=200)])
    vendor_email = EmailField(
        "Vendor email",
        [DataRequired(), Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message="Not an email address.")],
    )
    invoice_number = StringField("Invoice number", [DataRequired(), Length(max=64)])
    invoice_date = DateField("Invoice date", [DataRequired()])
    due_date = DateField("Due date", [DataRequired()])
    currency = SelectField("Currency", choices=CURRENCIES)
    cost_centre = SelectField("Cost centre", choices=COST_CENTRES)
    po_number = StringField("PO number", [Optional(), Length(max=64)])
    lines = FieldList(FormField(LineForm), min_entries=3, max_entries=50)
    notes = TextAreaField("Notes", [Optional(), Length(max=2000)])
    invoice_file = FileField("Invoice (PDF)")


def create_app() -> Flask:
    """The floor app, on DATABASE_URL (PostgreSQL in the benchmark)."""
    app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"))
    url = os.environ.get("DATABASE_URL", "sqlite:///floor.db")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    app.config.update(
        SECRET_KEY=os.environ.get("SECRET_KEY", "floor"),
        SQLALCHEMY_DATABASE_URI=url,
        # As Baton's engine: a pooled connection is recycled, not pinged before each use.
        SQLALCHEMY_ENGINE_OPTIONS={"pool_recycle": 1800},
        FILES=str(Path(os.environ.get("BATON_INSTANCE", ".")) / "floor-files"),
        KEEP_FIELDS=os.environ.get("FLOOR_KEEP_FIELDS") == "1",
        WTF_CSRF_TIME_LIMIT=None,
    )
    os.makedirs(app.config["FILES"], exist_ok=True)
    db.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "login"
    app.add_url_rule("/health", "health", lambda: {"status": "ok"})
    app.add_url_rule("/login", "login", login, methods=["GET", "POST"])
    app.add_url_rule("/forms/vendor_invoice/new", "form", invoice, methods=["GET", "POST"])
    app.add_url_rule("/records/<int:record_id>", "record", record)
    app.extensions["floor.fields"] = None
    return app


@login_manager.user_loader
def _load_user(user_id: str) -> FloorUser | None:
    return db.session.get(FloorUser, int(user_id))


def login():
    """Sign in (the benchmark does it once, to get its session cookie)."""
    if request.method == "POST":
        user = db.session.scalars(
            db.select(FloorUser).where(FloorUser.email == request.form.get("email", ""))
        ).first()
        if user and check_password_hash(user.password_hash, request.form.get("password", "")):
            login_user(user)
            return redirect(url_for("form"))
        abort(403)
    return render_template("login.html")


def invoice():
    """The invoice form (GET), or its submission (POST)."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    form = InvoiceForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_template("form.html", form=form, fields=None), 422
        upload = request.files.get("invoice_file")
        body = upload.read(MAX_PDF_BYTES + 1) if upload else b""
        if not body.startswith(b"%PDF-") or len(body) > MAX_PDF_BYTES:
            form.invoice_file.errors = ["Attach the invoice as a PDF."]
            return render_template("form.html", form=form, fields=None), 422
        digest = hashlib.sha256(body).hexdigest()
        stored = Path(current_app.config["FILES"]) / digest
        if not stored.exists():
            stored.write_bytes(body)
        data = {
            key: value
            for key, value in form.data.items()
            if key not in ("csrf_token", "invoice_file")
        }
        amount = sum((line["quantity"] * line["unit_price"] for line in data["lines"]), Decimal(0))
        now = dt.datetime.now(dt.UTC)
        if db.session.get(FloorFile, digest) is None:
            db.session.add(FloorFile(sha256=digest, size=len(body)))
        saved = FloorRecord(
            user_id=current_user.id,
            data=_jsonable(data),
            amount=amount,
            file_sha256=digest,
            created_at=now,
        )
        db.session.add(saved)
        db.session.flush()
        db.session.add(
            FloorAudit(
                record_id=saved.id,
                user_id=current_user.id,
                action="submitted",
                details=str(saved.id),
                occurred_at=now,
            )
        )
        db.session.commit()
        return redirect(url_for("record", record_id=saved.id))
    return render_template("form.html", form=form, fields=_fields(form))


def record(record_id: int):
    return {"id": record_id}


def _fields(form: InvoiceForm) -> Markup | None:
    """The fields' HTML kept per process (FLOOR_KEEP_FIELDS=1), or None to render them."""
    if not current_app.config["KEEP_FIELDS"]:
        return None
    kept = current_app.extensions["floor.fields"]
    if kept is None:
        kept = Markup(render_template("_fields.html", form=form))
        current_app.extensions["floor.fields"] = kept
    return kept


def _jsonable(value):
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, (Decimal, dt.date)):
        return str(value)
    return value


def init() -> None:
    """Create the floor's tables and its one user in DATABASE_URL (dropping earlier ones)."""
    app = create_app()
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.session.add(
            FloorUser(
                email=EMAIL, name="Floor Person", password_hash=generate_password_hash(PASSWORD)
            )
        )
        db.session.commit()
