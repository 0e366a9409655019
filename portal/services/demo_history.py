"""Demo history: many requests with a realistic past, written in bulk, for Insight and benchmarks.

`flask --app app baton seed-demo --submissions N` calls `generate`. Each request is submitted
at a realistic moment of the chosen span and then lives its whole life through the real
approval engine (portal.domain.chain) and deadline planner (portal.domain.sla): approvers answer
after delays that depend on the person and the step, mostly in working hours; some request
changes or reject; late tasks are reminded, escalated and timed out exactly as the worker
would; some submitters withdraw; requests of the last days are still waiting now.

The rows (submission, approval_step, task, timer, attachment) and the audit events are those
the services write for the same events (this module mirrors portal.services.approvals._persist
and portal.services.deadlines), and every submission's audit chain is hashed with
portal.audit's own `event_hash`, so `flask --app app baton audit verify` passes. Only the
writing differs: rows are built in memory and inserted in batches, one transaction per batch,
with ids handed out here. Emails are not written: the history is in the past.

Run it on a database nobody else is writing to: it hands out ids itself.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import math
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select, text

from portal import audit, clock, uploads
from portal.domain import chain as engine
from portal.domain import sla
from portal.domain import values as value_rules
from portal.domain.chain import (
    AssigneeSpec,
    ChainSpec,
    Decision,
    DecisionRefused,
    PickKind,
    StepState,
    TaskState,
)
from portal.domain.schema import FormSpec
from portal.domain.sla import EscalationMode, TimerKind
from portal.domain.values import FileValue
from portal.extensions import db
from portal.models import (
    ApprovalStep,
    Attachment,
    AuditChain,
    AuditEvent,
    Form,
    StoredFile,
    Submission,
    SubmissionStatus,
    Task,
    Timer,
    User,
)
from portal.services import approvals, users
from portal.services import forms as form_service

logger = logging.getLogger(__name__)

SCHEMAS = Path(__file__).resolve().parents[2] / "form_schemas"
#: The shipped forms and their share of the requests.
FORM_MIX = {
    "vendor_invoice": 0.40,
    "expense_claim": 0.25,
    "purchase_request": 0.20,
    "access_request": 0.15,
}
#: More people for a realistic spread (the demo users of `seed-demo` come first):
#: email, name, groups, manager.
PEOPLE = [
    ("maria@example.com", "Maria Rossi", ["managers"], "carol@example.com"),
    ("omar@example.com", "Omar Haddad", ["managers"], "carol@example.com"),
    ("nina@example.com", "Nina Okoro", ["finance"], "carol@example.com"),
    ("theo@example.com", "Theo Lang", ["it"], "carol@example.com"),
    ("paula@example.com", "Paula Costa", ["procurement"], "carol@example.com"),
] + [
    (f"{first.lower()}.{last.lower()}@example.com", f"{first} {last}", ["staff"], manager)
    for (first, last), manager in zip(
        [
            ("Liam", "Byrne"),
            ("Emma", "Novak"),
            ("Noah", "Schmidt"),
            ("Olivia", "Dubois"),
            ("Lucas", "Moreau"),
            ("Mila", "Jansen"),
            ("Elias", "Berg"),
            ("Sofia", "Russo"),
            ("Jonas", "Weber"),
            ("Lea", "Fischer"),
            ("Adam", "Kowalski"),
            ("Hannah", "Larsen"),
            ("Ben", "Kaya"),
            ("Clara", "Silva"),
            ("Felix", "Horvat"),
            ("Ida", "Nilsson"),
            ("Oscar", "Meyer"),
            ("Zoe", "Martin"),
            ("Leon", "Bauer"),
            ("Ella", "Costa"),
            ("Max", "Keller"),
            ("Lina", "Vogel"),
            ("Finn", "Wagner"),
            ("Maja", "Lund"),
        ],
        ["bob@example.com", "maria@example.com", "omar@example.com"] * 8,
        strict=True,
    )
]
#: How quickly people answer: a factor on each step's typical time (1 is typical).
PACE = {
    "bob@example.com": 0.7,
    "carol@example.com": 1.6,
    "fiona@example.com": 1.0,
    "frank@example.com": 1.5,
    "nina@example.com": 1.2,
    "ivan@example.com": 0.5,
    "iris@example.com": 0.8,
    "theo@example.com": 1.1,
    "pat@example.com": 1.8,
    "paula@example.com": 1.3,
    "maria@example.com": 0.9,
    "omar@example.com": 1.4,
}
#: Each step's typical answer, in working hours, when the person asked has a pace of 1.
STEP_HOURS = {
    ("vendor_invoice", "cost_centre_owner"): 5,
    ("vendor_invoice", "new_vendor_check"): 8,
    ("vendor_invoice", "finance"): 26,
    ("vendor_invoice", "cfo"): 7,
    ("expense_claim", "manager"): 6,
    ("expense_claim", "reimbursement"): 12,
    ("purchase_request", "manager"): 5,
    ("purchase_request", "budget_check"): 14,
    ("purchase_request", "cfo"): 9,
    ("access_request", "manager"): 3,
    ("access_request", "system_owner"): 6,
    ("access_request", "security_review"): 10,
    ("access_request", "provisioning"): 4,
}
#: (approve, reject, request changes) by step; other steps use the default.
OUTCOMES = {
    "default": (0.91, 0.03, 0.06),
    "finance": (0.87, 0.05, 0.08),
    "new_vendor_check": (0.80, 0.05, 0.15),
    "cfo": (0.86, 0.12, 0.02),
    "budget_check": (0.84, 0.08, 0.08),
    "security_review": (0.78, 0.14, 0.08),
    "reimbursement": (0.90, 0.03, 0.07),
}
COMMENTS = {
    Decision.REJECT: [
        "Not in this year's budget.",
        "Duplicate of an invoice already paid.",
        "The amount does not match the purchase order.",
        "Not a business need we can support.",
    ],
    Decision.REQUEST_CHANGES: [
        "Please attach the signed quote.",
        "Wrong cost centre: this belongs to CC-300.",
        "Add the purchase order number.",
        "Please split travel and meals into separate lines.",
        "The dates do not match the receipts.",
    ],
}
WORKDAY_START, WORKDAY_END = 8, 18


@dataclass
class Summary:
    """What `generate` made."""

    requests: int = 0
    audit_events: int = 0
    tasks: int = 0
    timers: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def generate(
    count: int,
    *,
    password: str,
    days: int = 365,
    seed: int = 1,
    batch_size: int = 2000,
    progress: Callable[[int, int], None] | None = None,
) -> Summary:
    """Write `count` requests with their history over the last `days` days; commits per batch.

    The demo users must exist (seed-demo makes them first); the extra demo people are created
    here with `password`, and the shipped forms are published if they are not yet.
    """
    started = clock.now()
    _ensure_people(password)
    forms = _ensure_forms()
    db.session.commit()
    generator = _Generator(forms, days=days, seed=seed, now=started)
    summary = Summary()
    done = 0
    for moments in _batches(generator.arrivals(count), batch_size):
        rows = _Rows(generator.ids)
        for moment in moments:
            generator.request(moment, rows)
        rows.write()
        db.session.commit()
        summary.requests += len(moments)
        summary.audit_events += len(rows.tables["audit_event"])
        summary.tasks += len(rows.tables["task"])
        summary.timers += len(rows.tables["timer"])
        for row in rows.tables["submission"]:
            summary.by_status[row["status"].value] = (
                summary.by_status.get(row["status"].value, 0) + 1
            )
        done += len(moments)
        if progress:
            progress(done, count)
    _advance_sequences()
    db.session.commit()
    summary.seconds = (clock.now() - started).total_seconds()
    return summary


def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- setting the stage ------------------------------------------------------------------------


def _ensure_people(password: str) -> None:
    actor = audit.Actor(system="command line", channel="cli")
    for email, name, groups, manager in PEOPLE:
        if users.find_user(email) is None:
            users.save_user(email, name, password, groups, manager, actor)


def _ensure_forms() -> dict[str, Form]:
    missing = [slug for slug in FORM_MIX if form_service.find_form(slug) is None]
    if missing:
        form_service.load_directory(SCHEMAS, audit.Actor(system="seed-demo", channel="cli"))
    found = {}
    for slug in FORM_MIX:
        form = form_service.find_form(slug)
        if (
            form is None
            or form.current_version is None
            or form.current_version.spec.approval is None
        ):
            raise ValueError(f"the form {slug} is not published with an approval chain")
        found[slug] = form
    return found


def _demo_file() -> FileValue:
    """One small PDF, stored once, attached wherever a form asks for a file."""
    body = b"%PDF-1.4\n% Baton demo document\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    upload = uploads.read(io.BytesIO(body), "scan.pdf", len(body))
    uploads.store(current_app.config["UPLOAD_FOLDER"], upload)
    upload.contents.close()
    if db.session.get(StoredFile, upload.value.sha256) is None:
        db.session.add(
            StoredFile(
                sha256=upload.value.sha256, size=upload.value.size, content_type="application/pdf"
            )
        )
        db.session.flush()
    return upload.value


def _advance_sequences() -> None:
    """PostgreSQL: the id sequences must continue after the ids handed out here."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    for table in ("submission", "attachment", "approval_step", "task", "timer", "audit_event"):
        db.session.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f'COALESCE((SELECT MAX(id) FROM "{table}"), 0) + 1, false)'
            )
        )


class _Ids:
    """The next id of each table, handed out here so rows can refer to each other at once."""

    TABLES = {
        "submission": Submission,
        "attachment": Attachment,
        "approval_step": ApprovalStep,
        "task": Task,
        "timer": Timer,
        "audit_event": AuditEvent,
    }

    def __init__(self):
        self.next = {
            name: (db.session.scalar(select(func.max(model.id))) or 0) + 1
            for name, model in self.TABLES.items()
        }

    def take(self, table: str) -> int:
        value = self.next[table]
        self.next[table] = value + 1
        return value


class _Rows:
    """One batch of rows, by table, inserted in an order the foreign keys accept."""

    ORDER = [
        ("submission", Submission),
        ("attachment", Attachment),
        ("approval_step", ApprovalStep),
        ("task", Task),
        ("timer", Timer),
        ("audit_event", AuditEvent),
        ("audit_chain", AuditChain),
    ]

    def __init__(self, ids: _Ids):
        self.ids = ids
        self.tables: dict[str, list[dict]] = {name: [] for name, _ in self.ORDER}

    def add(self, table: str, row: dict) -> dict:
        if table != "audit_chain":
            row["id"] = self.ids.take(table)
        self.tables[table].append(row)
        return row

    def write(self) -> None:
        """Insert every row: COPY on PostgreSQL, executemany on SQLite, in the session's
        transaction. Values go through the columns' own bind processing (or, for COPY, the
        same conversions), so they are stored exactly as the ORM stores them."""
        connection = db.session.connection()
        dialect = connection.dialect
        for name, model in self.ORDER:
            rows = self.tables[name]
            if not rows:
                continue
            columns = [column for column in model.__table__.columns if column.name in rows[0]]
            names = ", ".join(f'"{column.name}"' for column in columns)
            keys = [column.name for column in columns]
            if dialect.name == "postgresql":
                driver = connection.connection.driver_connection
                with driver.cursor() as cursor:
                    with cursor.copy(f'COPY "{name}" ({names}) FROM STDIN') as copy:
                        for row in rows:
                            copy.write_row(
                                [
                                    value if type(value) in _PLAIN else _copy_value(value)
                                    for value in map(row.__getitem__, keys)
                                ]
                            )
                continue
            processors = [
                column.type.dialect_impl(dialect).bind_processor(dialect) for column in columns
            ]
            pairs = list(zip(keys, processors, strict=True))
            connection.exec_driver_sql(
                f'INSERT INTO "{name}" ({names}) VALUES ({", ".join("?" * len(keys))})',
                [
                    tuple(
                        row[key] if process is None or row[key] is None else process(row[key])
                        for key, process in pairs
                    )
                    for row in rows
                ],
            )


#: Types COPY takes as they are (checked first: most values are one of these).
_PLAIN = frozenset({int, str, float, bool, type(None), dt.datetime, dt.date, Decimal})


def _copy_value(value):
    """A value as PostgreSQL's COPY takes it: enums by their value, JSON as text."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


# -- the simulation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _FormInfo:
    """What the simulation needs of a published form, read once."""

    id: int
    slug: str
    version_id: int
    version: int
    spec: FormSpec
    chain: ChainSpec
    files: tuple[str, ...]

    @classmethod
    def of(cls, form: Form) -> _FormInfo:
        spec = form.current_version.spec
        files = tuple(f.name for f in spec.inputs if f.kind.value == "file")
        return cls(
            form.id,
            form.slug,
            form.current_version.id,
            form.current_version.number,
            spec,
            spec.approval,
            files,
        )


@dataclass
class _Person:
    id: int
    email: str
    name: str
    manager_id: int | None
    pace: float
    groups: frozenset[str]


class _Generator:
    def __init__(self, forms: dict[str, Form], *, days: int, seed: int, now: dt.datetime):
        self.rng = random.Random(seed)
        self.forms = {slug: _FormInfo.of(form) for slug, form in forms.items()}
        self.days = days
        self.now = now
        self.zone = ZoneInfo(current_app.config["BATON_TIMEZONE"])
        self.calendar = sla.Calendar(
            zone=current_app.config["BATON_TIMEZONE"],
            holidays=frozenset(current_app.config.get("BATON_HOLIDAYS", ())),
        )
        self.ids = _Ids()
        self.file = _demo_file()
        self.people: dict[int, _Person] = {}
        self.by_email: dict[str, _Person] = {}
        for user in db.session.scalars(select(User).where(User.is_active.is_(True))):
            pace = PACE.get(user.email) or math.exp(random.Random(user.email).gauss(0, 0.35))
            person = _Person(
                user.id, user.email, user.name, user.manager_id, pace, frozenset(user.group_names)
            )
            self.people[user.id] = person
            self.by_email[user.email] = person
        self.groups: dict[str, list[_Person]] = {}
        for person in sorted(self.people.values(), key=lambda p: p.id):
            for group in person.groups:
                self.groups.setdefault(group, []).append(person)
        self.submitters = self.groups.get("staff", [])
        if not self.submitters:
            raise ValueError("there are no members of the staff group to submit requests")
        # Some people submit far more than others.
        self.submitter_weights = [
            math.exp(random.Random(p.email).gauss(0, 0.6)) for p in self.submitters
        ]
        self.cursors: dict[str, int] = {}
        self.pool: dict[tuple[str, dt.date], list[tuple[dict, dict]]] = {}

    # -- when requests arrive

    def arrivals(self, count: int) -> list[dt.datetime]:
        """`count` moments over the span, busier on weekdays and in office hours, growing by
        half over the span; in order."""
        today = self.now.astimezone(self.zone).date()
        first = today - dt.timedelta(days=self.days - 1)
        weights = []
        for offset in range(self.days):
            day = first + dt.timedelta(days=offset)
            growth = 0.8 + 0.5 * offset / max(1, self.days - 1)
            weights.append(growth * (0.08 if day.weekday() >= 5 else 1.0))
        chosen = self.rng.choices(range(self.days), weights=weights, k=count)
        moments = []
        for offset in chosen:
            day = first + dt.timedelta(days=offset)
            hour = min(max(self.rng.gauss(12.5, 2.6), 6.0), 21.5)
            local = dt.datetime.combine(day, dt.time(), self.zone) + dt.timedelta(hours=hour)
            moment = local.astimezone(dt.UTC).replace(microsecond=self.rng.randrange(1_000_000))
            if moment < self.now - dt.timedelta(minutes=5):
                moments.append(moment)
        # A few moments of today that lie ahead are dropped; top up with earlier ones.
        while len(moments) < count:
            moments.append(
                self.now - dt.timedelta(minutes=self.rng.uniform(30, 60 * 24 * self.days))
            )
        return sorted(moments)

    def working_delay(self, start: dt.datetime, hours: float) -> dt.datetime:
        """`start` plus `hours` of working time (weekdays, 08:00 to 18:00 local)."""
        local = start.astimezone(self.zone)
        remaining = dt.timedelta(hours=hours)
        for _ in range(400):
            day_start = local.replace(hour=WORKDAY_START, minute=0, second=0, microsecond=0)
            day_end = local.replace(hour=WORKDAY_END, minute=0, second=0, microsecond=0)
            if local.weekday() >= 5 or local >= day_end:
                local = (day_start + dt.timedelta(days=1)).replace(minute=self.rng.randrange(60))
                continue
            if local < day_start:
                local = day_start.replace(minute=self.rng.randrange(45))
            available = day_end - local
            if remaining <= available:
                return (local + remaining).astimezone(dt.UTC)
            remaining -= available
            local = (day_start + dt.timedelta(days=1)).replace(minute=self.rng.randrange(60))
        return (local + remaining).astimezone(dt.UTC)

    def lognormal(self, median: float, sigma: float = 0.9) -> float:
        return median * math.exp(self.rng.gauss(0, sigma))

    # -- one request

    def request(self, submitted_at: dt.datetime, rows: _Rows) -> None:
        slug = self.rng.choices(list(FORM_MIX), weights=list(FORM_MIX.values()))[0]
        form = self.forms[slug]
        submitter = self.rng.choices(self.submitters, weights=self.submitter_weights)[0]
        day = submitted_at.astimezone(self.zone).date()
        data, values = self.data_for(slug, form.spec, day)
        _Life(self, rows, form, submitter, data, values).run(submitted_at)

    def data_for(self, slug: str, spec: FormSpec, day: dt.date) -> tuple[dict, dict]:
        """Valid data for the form as submitted on `day` (checked by the form's own rules)."""
        variants = self.pool.setdefault((slug, day), [])
        if len(variants) < 12:
            raw = _RAW[slug](self.rng, day, self.file)
            evaluation = value_rules.evaluate(spec, raw, day)
            if not evaluation.ok:
                raise ValueError(f"demo data for {slug} is invalid: {evaluation.errors}")
            variants.append((evaluation.data, value_rules.decode(spec, evaluation.data)))
            return variants[-1]
        return self.rng.choice(variants)


@dataclass
class _Plan:
    """What the person asked will do, and when (drawn when the task opens)."""

    at: dt.datetime
    decision: Decision
    comment: str
    channel: str


class _Life:
    """One request from submission to its outcome (or to now), written as rows and events."""

    def __init__(
        self, generator: _Generator, rows: _Rows, form: _FormInfo, submitter: _Person, data, values
    ):
        self.g = generator
        self.rows = rows
        self.form = form
        self.spec: ChainSpec = form.chain
        self.submitter = submitter
        self.data = data
        self.values = values
        self.chain = engine.Chain(submitter=submitter.id)
        self.steps: dict[tuple[int, str], dict] = {}
        self.tasks: dict[str, dict] = {}  # by key
        self.timers: dict[int, list[dict]] = {}  # by task id, in the order they fire
        self.timing_plans: dict[int, sla.Plan] = {}  # by task id: what its timers follow
        self.fired: dict[int, int] = {}  # by task id: how many of its timers have fired
        self.plans: dict[str, _Plan] = {}  # by task key, open tasks only
        self.withdraw_at: dt.datetime | None = None
        self.seq = 0
        self.head = audit.GENESIS
        self.chain_name = ""

    # -- the story

    def run(self, submitted_at: dt.datetime) -> None:
        g = self.g
        amount, currency = value_rules.amount(self.form.spec, self.data)
        self.submission = self.rows.add(
            "submission",
            {
                "form_id": self.form.id,
                "form_version_id": self.form.version_id,
                "submitter_id": self.submitter.id,
                "status": SubmissionStatus.IN_REVIEW,
                "data": self.data,
                "draft": None,
                "amount": amount,
                "currency": currency,
                "summary": value_rules.summary(self.form.spec, self.data),
                "submit_count": 0,
                "data_hash": None,
                "client_token": None,
                "created_at": submitted_at - dt.timedelta(minutes=g.rng.uniform(2, 40)),
                "updated_at": submitted_at,
                "submitted_at": submitted_at,
                "finished_at": None,
            },
        )
        self.chain_name = audit.submission_chain(self.submission["id"])
        self._attach()
        if g.rng.random() < 0.025:
            self.withdraw_at = submitted_at + dt.timedelta(hours=g.lognormal(20, 1.0))
        self.submit(submitted_at, resubmitted=False)
        moment = submitted_at
        while True:
            state = self.chain.state
            if state == engine.ChainState.IN_REVIEW:
                event = self.next_event()
                if event is None or event[0] >= g.now:
                    break
                moment = event[0]
                event[1]()
            elif state == engine.ChainState.CHANGES_REQUESTED:
                self.withdraw_at = None  # the plan to withdraw was for the request in review
                choice = g.rng.random()
                moment = g.working_delay(moment, g.lognormal(6, 1.0))
                if choice >= 0.95 or moment >= g.now:
                    break
                if choice < 0.87:
                    self.submit(moment, resubmitted=True)
                else:
                    self.withdraw(moment)
            else:
                break
        self.rows.add(
            "audit_chain", {"chain": self.chain_name, "seq": self.seq, "head_hash": self.head}
        )

    def next_event(self):
        found = []
        for key, plan in self.plans.items():
            found.append((plan.at, 0, key))
        for key in self.plans:
            task_id = self.tasks[key]["id"]
            timers = self.timers.get(task_id)
            following = self.fired.get(task_id, 0)
            if timers and following < len(timers):
                # The worker fires a timer within moments of its time (a lag drawn from the
                # task's key, not its id, so the same seed tells the same story anywhere).
                lag = dt.timedelta(seconds=1 + zlib.crc32(key.encode()) % 19)
                found.append((timers[following]["fire_at"] + lag, 1, timers[following]))
        if self.withdraw_at is not None:
            found.append((self.withdraw_at, 2, None))
        if not found:
            return None
        at, kind, what = min(found, key=lambda item: (item[0], item[1]))
        if kind == 0:
            return at, lambda: self.decide(what, at)
        if kind == 1:
            return at, lambda: self.fire(what, at)
        return at, lambda: self.withdraw(at)

    def submit(self, at: dt.datetime, resubmitted: bool) -> None:
        submission = self.submission
        submission["status"] = SubmissionStatus.IN_REVIEW
        submission["submit_count"] += 1
        submission["data_hash"] = approvals.data_hash(self.data, submission["submit_count"])
        submission["updated_at"] = at
        self.record(
            at,
            "resubmitted" if resubmitted else "submitted",
            audit.Actor(self._user(self.submitter)),
            {
                "form": self.form.slug,
                "version": self.form.version,
                "data": self.data,
                "data_hash": submission["data_hash"],
            },
        )
        # The start_chain job runs a moment later.
        started = at + dt.timedelta(seconds=self.g.rng.uniform(0.3, 5))
        transition = engine.start(self.spec, self.chain, self.values, self._today(started))
        self.apply(transition, started, audit.Actor(system="start_chain job", channel="worker"))

    def decide(self, key: str, at: dt.datetime) -> None:
        plan = self.plans.pop(key)
        task = self.tasks[key]
        step = self.spec.step(task["step"])
        person = self.g.people[task["assignee_id"]]
        try:
            transition = engine.decide(
                self.spec,
                self.chain,
                key,
                plan.decision,
                plan.comment,
                self.values,
                self._today(at),
            )
        except DecisionRefused:
            return
        extra = {
            "signature_meaning": step.meaning(plan.decision) if step.signature else None,
            "meaning": step.meaning(plan.decision),
            "channel": plan.channel,
        }
        self.apply(transition, at, audit.Actor(self._user(person), channel=plan.channel), extra)

    def withdraw(self, at: dt.datetime) -> None:
        self.withdraw_at = None
        transition = engine.withdraw(self.chain)
        self.apply(transition, at, audit.Actor(self._user(self.submitter)))

    def fire(self, timer: dict, at: dt.datetime) -> None:
        """What portal.services.deadlines.fire does with a due timer of an open task."""
        task = next(t for t in self.tasks.values() if t["id"] == timer["task_id"])
        step = self.spec.step(task["step"])
        if timer["kind"] == TimerKind.REMINDER:
            assignee = self.g.people[task["assignee_id"]]
            self.record(
                at,
                "reminder_sent",
                audit.Actor(system="reminder timer", channel="worker"),
                {
                    "task": task["id"],
                    "step": task["step"],
                    "to": assignee.email,
                    "number": timer["sequence"],
                    "digest": False,
                },
            )
            outcome = f"reminded {assignee.email}"
            following = sla.next_reminder(self.timing_plans[task["id"]], timer["sequence"], at)
            if following is not None:  # as deadlines._plan_next_reminder writes it
                pending = self.timers[task["id"]]
                pending.append(self.add_timer(task["id"], following))
                # fired ones stay first (next_event counts them); the rest by their time
                fired = self.fired.get(task["id"], 0) + 1
                pending[fired:] = sorted(pending[fired:], key=lambda t: t["fire_at"])
        elif timer["kind"] == TimerKind.ESCALATION:
            outcome = self.escalate(task, step, at)
        else:
            outcome = self.time_out(step, at)
        timer["fired_at"], timer["outcome"] = at, outcome
        self.fired[timer["task_id"]] = self.fired.get(timer["task_id"], 0) + 1

    def escalate(self, task: dict, step, at: dt.datetime) -> str:
        rule = step.timing.escalate
        actor = audit.Actor(system=f"escalation: {rule.describe()}", channel="worker")
        targets, problem = self.escalation_targets(rule, task)
        if not targets:
            self.record(
                at,
                "escalation_failed",
                actor,
                {"task": task["id"], "step": task["step"], "problem": problem},
            )
            return f"escalation found nobody: {problem}"
        keep = rule.mode == EscalationMode.ADD
        due = task["due_at"]
        reason = f"overdue since {due:%Y-%m-%d %H:%M} UTC; escalated ({rule.describe()})"
        reached = []
        base = task
        for target in targets:
            try:
                transition = engine.reassign(
                    self.chain, base["key"], target.id, keep=keep or bool(reached), reason=reason
                )
            except DecisionRefused:
                continue
            before = set(self.tasks)
            self.apply(transition, at, actor, {"origin": "escalated"})
            opened = [self.tasks[key] for key in self.tasks if key not in before]
            if not keep and not reached:
                base = opened[0]
            reached.append(target)
        if not reached:
            self.record(
                at,
                "escalation_failed",
                actor,
                {
                    "task": task["id"],
                    "step": task["step"],
                    "problem": "nobody it names could take the task",
                },
            )
            return "escalation found nobody who could take the task"
        late = self.g.people[task["assignee_id"]]
        self.record(
            at,
            "escalated",
            actor,
            {
                "task": task["id"],
                "step": task["step"],
                "from": late.email,
                "to": [t.email for t in reached],
                "mode": rule.mode.value,
            },
        )
        names = ", ".join(t.email for t in reached)
        return f"{'moved to' if not keep else 'also asked'} {names}"

    def escalation_targets(self, rule, task: dict) -> tuple[list[_Person], str]:
        people = self.g.people
        if rule.manager:
            late = people.get(task["on_behalf_of_id"] or task["assignee_id"])
            person = late
            for level in range(rule.manager):
                person = people.get(person.manager_id) if person.manager_id else None
                if person is None:
                    return [], f"{late.email} has no manager {level + 1} level(s) up"
            candidates = [person]
        elif rule.group:
            candidates = list(self.g.groups.get(rule.group, []))
            if not candidates:
                return [], f"group {rule.group} has no active members"
        else:
            found = self.g.by_email.get(rule.user)
            candidates = [found] if found else []
            if not candidates:
                return [], f"user {rule.user} does not exist"
        asked = {
            t["assignee_id"]
            for t in self.tasks.values()
            if t["step"] == task["step"] and t["state"] == TaskState.OPEN
        }
        eligible = [p for p in candidates if p.id != self.submitter.id and p.id not in asked]
        if not eligible:
            return [], "everyone it names is the submitter, inactive or already asked"
        return eligible, ""

    def time_out(self, step, at: dt.datetime) -> str:
        timeout = step.timing.on_timeout
        rule = f"on_timeout: {timeout.action.value} after {step.timing.due}" + (
            f" + {timeout.after}" if timeout.after else ""
        )
        transition = engine.time_out(
            self.spec,
            self.chain,
            step.name,
            timeout.action.value,
            rule,
            self.values,
            self._today(at),
        )
        if transition.chain is self.chain:
            return "nothing to do: the step was already decided"
        self.apply(transition, at, audit.Actor(system=rule, channel="worker"))
        return f"step {step.name} timed out: {timeout.action.value}"

    # -- portal.services.approvals._apply and _persist, as rows

    def apply(self, transition, at: dt.datetime, actor: audit.Actor, extra: dict | None = None):
        extra = extra or {}
        pending = list(transition.actions)
        chain = transition.chain
        while pending:
            action = pending.pop(0)
            if isinstance(action, engine.AssigneesNeeded):
                self.persist(chain, action, at, actor, extra)
                asks = self.resolve(self.spec.step(action.step), at, actor)
                follow = engine.assignees_found(self.spec, chain, action.step, asks)
                chain = follow.chain
                pending = list(follow.actions) + pending
                continue
            self.persist(chain, action, at, actor, extra)
        self.chain = chain

    def persist(self, chain, action, now: dt.datetime, actor: audit.Actor, extra: dict) -> None:
        def record(name: str, details: dict, who: audit.Actor = actor) -> None:
            self.record(now, name, who, details)

        if isinstance(action, engine.RoundStarted):
            for position, (step_spec, step) in enumerate(
                zip(self.spec.steps, chain.steps, strict=True)
            ):
                self.steps[(action.round, step_spec.name)] = self.rows.add(
                    "approval_step",
                    {
                        "submission_id": self.submission["id"],
                        "round": action.round,
                        "position": position,
                        "name": step_spec.name,
                        "title": step_spec.title,
                        "state": step.state,
                        "reason": step.reason,
                        "started_at": None,
                        "finished_at": now if step.state in engine.DONE_STEPS else None,
                    },
                )
            record("round_started", {"round": action.round, "resumed_at": action.resumed_at})
        elif isinstance(action, engine.StepSkipped):
            self.update_step(chain.round, action.step, StepState.SKIPPED, action.reason, now)
            record("step_skipped", {"step": action.step, "reason": action.reason})
        elif isinstance(action, engine.StepAutoApproved):
            reason = f"approved by rule “{action.rule}”"
            self.update_step(chain.round, action.step, StepState.APPROVED, reason, now)
            record(
                "step_auto_approved",
                {"step": action.step, "rule": action.rule},
                audit.Actor(system=f"auto_approve_if: {action.rule}", channel=actor.channel),
            )
        elif isinstance(action, engine.AssigneesNeeded):
            row = self.steps[(chain.round, action.step)]
            row["state"], row["started_at"] = StepState.ACTIVE, now
            record("step_started", {"step": action.step})
        elif isinstance(action, engine.StepBlocked):
            row = self.steps[(chain.round, action.step)]
            row["state"], row["reason"] = StepState.BLOCKED, action.reason
            record("step_blocked", {"step": action.step, "reason": action.reason})
        elif isinstance(action, engine.TaskOpened):
            self.open_task(chain, action.task, now, extra.get("origin", ""), record)
        elif isinstance(action, engine.TaskDecided):
            task = self.tasks[action.task.key]
            task["state"] = action.task.state
            task["decision"] = action.decision
            task["comment"] = action.comment
            task["decided_at"] = now
            task["channel"] = extra.get("channel") or actor.channel
            task["signature_meaning"] = extra.get("signature_meaning")
            details = {
                "step": task["step"],
                "task": task["id"],
                "decision": action.decision.value,
                "comment": action.comment,
            }
            if extra.get("meaning"):
                details["meaning"] = extra["meaning"]
            if task["signature_meaning"]:
                details["signature_meaning"] = task["signature_meaning"]
            if task["on_behalf_of_id"]:
                details["on_behalf_of"] = self.g.people[task["on_behalf_of_id"]].email
            record("task_decided", details)
            self.cancel_timers(task, "decided", now)
            self.plans.pop(action.task.key, None)
        elif isinstance(action, engine.TaskCancelled):
            task = self.tasks[action.task.key]
            task["state"], task["closed_reason"] = TaskState.CANCELLED, action.reason
            record(
                "task_cancelled",
                {"step": task["step"], "task": task["id"], "reason": action.reason},
            )
            self.cancel_timers(task, action.reason, now)
            self.plans.pop(action.task.key, None)
        elif isinstance(action, engine.StepTimedOut):
            self.steps[(chain.round, action.step)]["reason"] = f"timed out: {action.rule}"
            record(
                "step_timed_out",
                {"step": action.step, "action": action.action, "rule": action.rule},
                audit.Actor(system=action.rule, channel=actor.channel),
            )
        elif isinstance(action, engine.StepFinished):
            self.update_step(chain.round, action.step, action.state, "", now)
            record("step_finished", {"step": action.step, "outcome": action.state.value})
        elif isinstance(action, engine.ChainFinished):
            status = SubmissionStatus(action.state.value)
            if action.state == engine.ChainState.WITHDRAWN:
                for (number, _), row in self.steps.items():
                    if number == chain.round and row["state"] in (
                        StepState.WAITING,
                        StepState.ACTIVE,
                        StepState.BLOCKED,
                    ):
                        row["state"], row["finished_at"] = StepState.CANCELLED, now
            self.submission["status"] = status
            self.submission["updated_at"] = now
            self.submission["finished_at"] = now if status.is_final else None
            record(status.value, {"round": chain.round})

    def update_step(self, number: int, name: str, state, reason: str, now: dt.datetime) -> None:
        row = self.steps[(number, name)]
        row["state"] = state
        row["reason"] = reason or row["reason"]
        row["started_at"] = row["started_at"] or now
        row["finished_at"] = now

    def open_task(self, chain, opened: engine.Task, now: dt.datetime, origin: str, record) -> None:
        if not origin and opened.on_behalf_of:
            origin = "delegated"
        task = self.rows.add(
            "task",
            {
                "submission_id": self.submission["id"],
                "key": opened.key,
                "round": chain.round,
                "step": opened.step,
                "assignee_id": opened.assignee,
                "state": TaskState.OPEN,
                "decision": None,
                "comment": "",
                "signature_meaning": None,
                "channel": None,
                "closed_reason": "",
                "created_at": now,
                "decided_at": None,
                "due_at": None,
                "on_behalf_of_id": opened.on_behalf_of,
                "slot": opened.slot,
                "origin": origin,
            },
        )
        self.tasks[opened.key] = task
        assignee = self.g.people[opened.assignee]
        details = {"step": opened.step, "task": task["id"], "assignee": assignee.email}
        if opened.on_behalf_of:
            details["on_behalf_of"] = self.g.people[opened.on_behalf_of].email
        if origin:
            details["origin"] = origin
        record("task_opened", details)
        step = self.spec.step(opened.step)
        if not step.timing.is_empty:
            plan = sla.plan(step.timing, now, self.g.calendar, escalate=origin != "escalated")
            task["due_at"] = plan.due_at
            self.timing_plans[task["id"]] = plan
            self.timers[task["id"]] = [
                self.add_timer(task["id"], moment) for moment in sla.opening_timers(plan)
            ]
        self.plans[opened.key] = self.plan(opened.step, assignee, now, urgent=origin == "escalated")

    def add_timer(self, task_id: int, moment: sla.Timer) -> dict:
        return self.rows.add(
            "timer",
            {
                "task_id": task_id,
                "kind": moment.kind,
                "sequence": moment.sequence,
                "fire_at": moment.at,
                "fired_at": None,
                "cancelled_at": None,
                "outcome": "",
            },
        )

    def cancel_timers(self, task: dict, reason: str, now: dt.datetime) -> None:
        for timer in self.timers.get(task["id"], ()):
            if timer["fired_at"] is None and timer["cancelled_at"] is None:
                timer["cancelled_at"], timer["outcome"] = now, f"cancelled: {reason}"

    def plan(self, step: str, person: _Person, opened: dt.datetime, urgent: bool) -> _Plan:
        g = self.g
        typical = STEP_HOURS.get((self.form.slug, step), 6) * person.pace
        if urgent:
            typical *= 0.5
        hours = g.lognormal(typical, 0.95)
        if g.rng.random() < 0.03:  # forgotten, until reminders and escalations catch up
            hours *= 6
        at = g.working_delay(opened, hours)
        approve, reject, _ = OUTCOMES.get(step, OUTCOMES["default"])
        draw = g.rng.random()
        if draw < approve:
            decision, comment = Decision.APPROVE, ""
        elif draw < approve + reject:
            decision = Decision.REJECT
            comment = g.rng.choice(COMMENTS[Decision.REJECT])
        else:
            decision = Decision.REQUEST_CHANGES
            comment = g.rng.choice(COMMENTS[Decision.REQUEST_CHANGES])
        channel = "email" if g.rng.random() < 0.55 else "web"
        return _Plan(at, decision, comment, channel)

    # -- who is asked (portal.services.approvals._resolve_step, without absences)

    def resolve(self, step, now: dt.datetime, actor: audit.Actor) -> list[engine.Ask]:
        found: list[int] = []
        problems: list[str] = []
        for assignee in step.assignees:
            people, problem = self.resolve_one(assignee)
            found.extend(people)
            if problem:
                problems.append(problem)
        eligible = [user for user in dict.fromkeys(found) if user != self.submitter.id]
        if found and not eligible:
            problems.append(
                "the only person found is the submitter, who cannot approve their own request"
            )
        if problems:
            fallback = [
                p.id
                for p in self.g.groups.get(self.spec.fallback_group, [])
                if p.id != self.submitter.id
            ]
            reason = "; ".join(problems)
            self.record(
                now,
                "assignee_unresolved",
                audit.Actor(system="assignee resolution", channel=actor.channel),
                {
                    "step": step.name,
                    "problem": reason,
                    "fallback_group": self.spec.fallback_group,
                    "fallback_people": len(fallback),
                },
            )
            row = self.steps[(self.chain_round(), step.name)]
            row["reason"] = f"{reason}; routed to the {self.spec.fallback_group} group"
            eligible = list(dict.fromkeys(eligible + fallback))
        return [engine.Ask(user) for user in eligible]

    def chain_round(self) -> int:
        return max(number for number, _ in self.steps)

    def resolve_one(self, assignee: AssigneeSpec) -> tuple[list[int], str]:
        people, submitter = self.g.people, self.submitter
        if assignee.user:
            person = self.g.by_email.get(assignee.user)
            if person is None:
                return [], f"user {assignee.user} does not exist or is disabled"
            return [person.id], ""
        if assignee.group:
            members = [p for p in self.g.groups.get(assignee.group, []) if p.id != submitter.id]
            if not members:
                return [], f"group {assignee.group} has nobody (other than the submitter) to ask"
            if assignee.pick == PickKind.ALL:
                return [p.id for p in members], ""
            if assignee.pick == PickKind.FEWEST_OPEN:
                return [self.g.rng.choice(members).id], ""
            turn = self.g.cursors.get(assignee.group, -1) + 1
            self.g.cursors[assignee.group] = turn
            return [members[turn % len(members)].id], ""
        if assignee.manager:
            person = submitter
            for level in range(assignee.manager):
                person = people.get(person.manager_id) if person.manager_id else None
                if person is None:
                    return [], f"the submitter has no manager {level + 1} level(s) up"
            return [person.id], ""
        if assignee.field:
            email = self.data.get(assignee.field)
            person = self.g.by_email.get(email) if isinstance(email, str) else None
            if person is None:
                return [], f"the field {assignee.field} names no active user"
            return [person.id], ""
        chosen = self.data.get(assignee.lookup_field)
        email = dict(assignee.lookup).get(chosen) if isinstance(chosen, str) else None
        if email is None:
            return [], f"nobody is set up as owner of {assignee.lookup_field} {chosen!r}"
        person = self.g.by_email.get(email)
        if person is None:
            return (
                [],
                f"{email}, owner of {assignee.lookup_field} {chosen!r}, is not an active user",
            )
        return [person.id], ""

    # -- audit events, hashed as portal.audit.record hashes them

    def record(self, at: dt.datetime, action: str, actor: audit.Actor, details: dict) -> None:
        self.seq += 1
        event = _Event(
            chain=self.chain_name,
            seq=self.seq,
            occurred_at=at,
            submission_id=self.submission["id"],
            actor_id=actor.user.id if actor.user is not None else None,
            actor=actor.label,
            action=action,
            channel=actor.channel,
            details=details,
            ip=None,
            user_agent=None,
            prev_hash=self.head,
        )
        event.hash = audit.event_hash(event)
        self.head = event.hash
        self.rows.add("audit_event", event.row())

    def _user(self, person: _Person) -> _AuditUser:
        return _AuditUser(person.id, person.email)

    def _today(self, at: dt.datetime) -> dt.date:
        return at.astimezone(self.g.zone).date()

    def _attach(self) -> None:
        for name in self.form.files:
            value = self.data.get(name)
            if not value:
                continue
            for item in value if isinstance(value, list) else [value]:
                self.rows.add(
                    "attachment",
                    {
                        "submission_id": self.submission["id"],
                        "field": name,
                        "name": item["name"],
                        "content_type": item["content_type"],
                        "size": item["size"],
                        "sha256": item["sha256"],
                    },
                )


@dataclass
class _AuditUser:
    """Enough of a user for audit.Actor: its id and email."""

    id: int
    email: str


@dataclass
class _Event:
    """An audit event before it is a row: what portal.audit.canonical reads."""

    chain: str
    seq: int
    occurred_at: dt.datetime
    submission_id: int
    actor_id: int | None
    actor: str
    action: str
    channel: str
    details: dict
    ip: str | None
    user_agent: str | None
    prev_hash: str
    hash: str = ""

    def row(self) -> dict:
        return dict(self.__dict__)


# -- what people type into the forms ----------------------------------------------------------

VENDORS = [
    "Acme Office Supplies GmbH",
    "Nordlicht Catering AG",
    "Blue Harbour Logistics",
    "Kestrel Software Ltd",
    "Brightline Print & Design",
    "Meridian Facility Services",
    "Oakridge Legal LLP",
    "Helios Energy Partners",
    "Vantage Cloud Hosting",
    "Lumen Travel Services",
    "Atlas Security GmbH",
    "Greenleaf Cleaning Co.",
]
EXPENSES = [
    "Customer visit to Lyon",
    "Trade fair in Hamburg",
    "Team offsite",
    "Conference in Lisbon",
    "Training course",
    "Client dinner",
]
PURCHASES = [
    ("3 laptops for the new support hires", "hardware"),
    ("Design tool licences", "software"),
    ("Penetration test", "services"),
    ("Standing desks for the 2nd floor", "office"),
    ("Booth at the spring trade fair", "travel"),
    ("Monitoring subscription", "software"),
    ("Replacement network switches", "hardware"),
]


def _money(rng: random.Random, median: float, sigma: float, floor: float = 1.0) -> Decimal:
    return Decimal(str(round(max(floor, median * math.exp(rng.gauss(0, sigma))), 2)))


def _split(total: Decimal, parts: int, rng: random.Random) -> list[Decimal]:
    cuts = sorted(rng.random() for _ in range(parts - 1))
    shares = [b - a for a, b in zip([0.0, *cuts], [*cuts, 1.0], strict=True)]
    amounts = [
        max(Decimal("0.01"), (total * Decimal(str(s))).quantize(Decimal("0.01"))) for s in shares
    ]
    return amounts


def _vendor_invoice(rng: random.Random, day: dt.date, document: FileValue) -> dict:
    total = _money(rng, 1800, 1.15, 20)
    lines = []
    for amount in _split(total, rng.choice([1, 1, 2, 3, 4]), rng):
        quantity = rng.choice([1, 1, 1, 2, 4, 10])
        lines.append(
            {
                "description": rng.choice(
                    ["Services", "Licences", "Equipment", "Consulting", "Supplies"]
                ),
                "quantity": str(quantity),
                "unit_price": str((amount / quantity).quantize(Decimal("0.01")) or Decimal("0.01")),
            }
        )
    vendor = rng.choice(VENDORS)
    is_new = rng.random() < 0.12
    invoice_date = day - dt.timedelta(days=rng.randint(0, 20))
    return {
        "vendor_name": vendor,
        "vendor_email": f"billing@{vendor.split()[0].lower()}.example",
        "vendor_is_new": "on" if is_new else "",
        "vendor_tax_id": f"DE {rng.randint(100000000, 999999999)}" if is_new else "",
        "invoice_number": f"INV-{invoice_date.year}-{rng.randint(1000, 99999)}",
        "invoice_date": invoice_date.isoformat(),
        "due_date": (invoice_date + dt.timedelta(days=rng.choice([14, 30, 30, 60]))).isoformat(),
        "currency": rng.choices(["EUR", "USD", "GBP", "CHF", "SEK"], [80, 8, 6, 4, 2])[0],
        "cost_centre": rng.choices(
            ["CC-100", "CC-200", "CC-300", "CC-400", "CC-500"], [30, 25, 25, 12, 8]
        )[0],
        "po_number": f"PO-{rng.randint(1000, 999999):06d}"
        if total > 4000 or rng.random() < 0.3
        else "",
        "lines": lines,
        "notes": "",
        "invoice_file": document,
    }


def _expense_claim(rng: random.Random, day: dt.date, document: FileValue) -> dict:
    end = day - dt.timedelta(days=rng.randint(0, 10))
    start = end - dt.timedelta(days=rng.randint(0, 4))
    rows = []
    for _ in range(rng.choice([1, 1, 2, 3, 4, 6])):
        spent = start + dt.timedelta(days=rng.randint(0, (end - start).days))
        category = rng.choice(["travel", "lodging", "meals", "mileage", "other"])
        rows.append(
            {
                "date": spent.isoformat(),
                "category": category,
                "description": category.capitalize(),
                "amount": str(_money(rng, 45, 1.0, 2)),
            }
        )
    rebill = rng.random() < 0.2
    return {
        "purpose": rng.choice(EXPENSES),
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "currency": rng.choices(["EUR", "USD", "GBP", "CHF"], [85, 6, 6, 3])[0],
        "expenses": rows,
        "client_rebillable": "on" if rebill else "",
        "client_name": "Globex Corporation" if rebill else "",
        "receipts": [document],
        "notes": "",
        "declaration": "on",
    }


def _purchase_request(rng: random.Random, day: dt.date, document: FileValue) -> dict:
    title, category = rng.choice(PURCHASES)
    total = _money(rng, 1400, 1.25, 5)
    budgeted = rng.random() < 0.75
    quantity = rng.choice([1, 1, 2, 3, 5])
    reason = "Needed for the team's planned work this quarter; without it the work is delayed."
    if not budgeted:
        reason += " It was not in the budget because the need arose after planning was done."
    urgency = rng.choices(["normal", "soon", "urgent"], [70, 22, 8])[0]
    return {
        "title": title,
        "justification": reason,
        "category": category,
        "category_other": "",
        "urgency": urgency,
        "urgency_reason": "The current equipment has failed." if urgency == "urgent" else "",
        "needed_by": (day + dt.timedelta(days=rng.randint(7, 60))).isoformat(),
        "supplier": rng.choice(VENDORS),
        "quote_reference": f"Q-{rng.randint(100, 9999)}",
        "currency": rng.choices(["EUR", "USD", "GBP", "CHF"], [85, 6, 6, 3])[0],
        "cost_centre": rng.choice(["CC-100", "CC-200", "CC-300", "CC-400", "CC-500"]),
        "budgeted": "on" if budgeted else "",
        "items": [
            {
                "item": title,
                "quantity": str(quantity),
                "unit_cost": str((total / quantity).quantize(Decimal("0.01"))),
            }
        ],
        "quotes": [document] if total >= 2000 else [],
    }


def _access_request(rng: random.Random, day: dt.date, document: FileValue) -> dict:
    system = rng.choice(["erp", "crm", "hr", "github", "aws", "vpn"])
    level = rng.choices(["read", "write", "admin"], [50, 37, 13])[0]
    environments = []
    if system in ("github", "aws"):
        environments = rng.choice(
            [["dev"], ["dev", "staging"], ["dev", "staging", "production"], ["production"]]
        )
    start = day + dt.timedelta(days=rng.randint(0, 10))
    end = ""
    if level == "admin":
        end = (start + dt.timedelta(days=rng.randint(14, 90))).isoformat()
    elif rng.random() < 0.3:
        end = (start + dt.timedelta(days=rng.randint(30, 365))).isoformat()
    for_someone = rng.random() < 0.2
    return {
        "request_for": "someone_else" if for_someone else "me",
        "access_for_name": "Jamie Doe" if for_someone else "",
        "access_for_email": "jamie.doe@example.com" if for_someone else "",
        "system": system,
        "access_level": level,
        "environments": environments,
        "production_reason": "On-call duty needs read access to production logs."
        if "production" in environments
        else "",
        "start_date": start.isoformat(),
        "end_date": end,
        "business_reason": "Needed for my work on the current project.",
        "policy_ack": "on",
    }


_RAW = {
    "vendor_invoice": _vendor_invoice,
    "expense_claim": _expense_claim,
    "purchase_request": _purchase_request,
    "access_request": _access_request,
}
