"""Demo history: many requests with a realistic past, made by the real engine, for Insight and
benchmarks.

`flask --app app baton seed-demo --submissions N` calls `generate`. Each request is submitted
at a realistic moment of the chosen span and then lives its whole life: approvers answer after
delays that depend on the person and the step, mostly in working hours; some request changes
or reject; late tasks are reminded, escalated and timed out; some submitters withdraw; some
resubmit after a send-back; requests of the last days are still waiting now.

Nothing here writes a row of its own. Every event goes through the function the web, the API
and the worker use for it (`Engine`): `portal.services.submissions.submit`,
`approvals.start_chain` (as the start_chain job runs it), `approvals.decide`,
`approvals.withdraw`, and `deadlines.fire` (as the worker's fire_timer job runs it), with
`portal.clock` moved to the moment the event happens. So the rows and the audit events are
the engine's own, and a change in the engine shows in the next demo database (the parity test,
tests/demo/test_history.py, runs the same decisions both ways and compares every event).

The history is in the past, so none of its emails may go out and none of its jobs may run:
before each batch commits, the emails the engine wrote for the batch's requests and every
outbox row the batch wrote are deleted, in the same transaction, and the RQ jobs the commit
would schedule (timers) are dropped; timers still pending on open tasks stay in the database,
where the worker's sweep fires them when they fall due, as for any open task. Commits once per
batch (this is a command, like a job body; the services it drives only flush).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import math
import random
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from argon2.exceptions import VerificationError
from sqlalchemy import and_, delete, func, select

from portal import audit, clock, outbox, uploads
from portal.domain.chain import Decision, DecisionRefused, TaskState
from portal.domain.schema import FieldKind, FormSpec
from portal.domain.values import FileValue
from portal.extensions import db
from portal.models import (
    ApprovalStep,
    Attachment,
    AuditChain,
    AuditEvent,
    EmailMessage,
    Form,
    FormVersion,
    Submission,
    SubmissionStatus,
    Task,
    Timer,
    User,
)
from portal.services import approvals, deadlines, submissions, users
from portal.services import forms as form_service

logger = logging.getLogger(__name__)

SCHEMAS = Path(__file__).resolve().parents[2] / "form_schemas"
#: The tables that hold a generated request once its batch is committed, in an order their
#: foreign keys accept (what portal.demo.copies copies). Emails and outbox rows are not kept.
TABLES = [
    ("submission", Submission),
    ("attachment", Attachment),
    ("approval_step", ApprovalStep),
    ("task", Task),
    ("timer", Timer),
    ("audit_event", AuditEvent),
    ("audit_chain", AuditChain),
]
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
    batch_size: int = 500,
    progress: Callable[[int, int], None] | None = None,
) -> Summary:
    """Make `count` requests with their history over the last `days` days; commits per batch.

    The demo users must exist (seed-demo makes them first); the extra demo people are created
    here with `password` (the one the generated approvers sign with), and the shipped forms
    are published if they are not yet.
    """
    started = clock.now()
    _ensure_people(password)
    forms = _ensure_forms()
    db.session.commit()
    generator = _Generator(forms, days=days, seed=seed, now=started, password=password)
    summary = Summary()
    done = 0
    with Engine.running() as engine:
        for moments in _batches(generator.arrivals(count), batch_size):
            made = [generator.request(moment, engine) for moment in moments]
            engine.forget_messages(made)
            _count(summary, made)
            db.session.commit()
            done += len(moments)
            if progress:
                progress(done, count)
    summary.seconds = (clock.now() - started).total_seconds()
    return summary


def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _count(summary: Summary, made: list[int]) -> None:
    """Add what the batch of requests `made` holds to `summary`."""
    mine = Submission.id.in_(made)
    summary.requests += len(made)
    summary.audit_events += db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.submission_id.in_(made))
    )
    summary.tasks += db.session.scalar(
        select(func.count()).select_from(Task).where(Task.submission_id.in_(made))
    )
    summary.timers += db.session.scalar(
        select(func.count()).select_from(Timer).join(Task).where(Task.submission_id.in_(made))
    )
    for status, number in db.session.execute(
        select(Submission.status, func.count()).where(mine).group_by(Submission.status)
    ):
        summary.by_status[status.value] = summary.by_status.get(status.value, 0) + number


# -- the engine, driven -----------------------------------------------------------------------


class Engine:
    """Events of a request, each through the service the web, the API or the worker uses for
    it, with the clock at the moment the event happens. Flushes; the caller commits."""

    def __init__(self, advance: Callable[[dt.timedelta], None]):
        self._advance = advance

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[Engine]:
        """An engine whose events move `portal.clock` (restored afterwards).

        The services' log lines (one per submission, timer, ...) are for live operations; for
        a replayed past they would be thousands of lines of noise, so only errors pass."""
        services = logging.getLogger("portal.services")
        level, hasher = services.level, users.hasher
        services.setLevel(logging.ERROR)
        users.hasher = _RememberingHasher(hasher)
        try:
            with clock.frozen_at(clock.now()) as advance:
                yield cls(advance)
        finally:
            services.setLevel(level)
            users.hasher = hasher

    def at(self, moment: dt.datetime) -> None:
        """Move the clock to `moment`."""
        self._advance(moment - clock.now())

    def submit(
        self,
        moment: dt.datetime,
        user: User,
        version: FormVersion,
        raw: dict,
        submission: Submission | None = None,
    ) -> Submission:
        """Submit (or resubmit) the form as the web does; raw file fields hold FileValues."""
        self.at(moment)
        files = submissions.Files()
        for spec_field in version.spec.inputs:
            if spec_field.kind == FieldKind.FILE:
                value = raw.get(spec_field.name)
                files.raw[spec_field.name] = [] if not value else list(_listed(value))
        typed = {name: value for name, value in raw.items() if name not in files.raw}
        submitted, evaluation = submissions.submit(user, version, typed, files, submission)
        if submitted is None:
            raise ValueError(f"demo data for {version.form.slug} is invalid: {evaluation.errors}")
        return submitted

    def start_chain(self, moment: dt.datetime, submission_id: int) -> None:
        """What the start_chain job does (its outbox row goes with `forget_messages`)."""
        self.at(moment)
        approvals.start_chain(submission_id)

    def decide(
        self,
        moment: dt.datetime,
        task: Task,
        decision: Decision,
        comment: str,
        *,
        channel: str,
        password: str | None,
    ) -> bool:
        """The task's assignee decides; False if the engine refused (nothing changed)."""
        self.at(moment)
        try:
            approvals.decide(
                task.assignee, task.id, decision, comment, password=password, channel=channel
            )
        except DecisionRefused as refusal:
            logger.info("demo decision on task %s refused: %s", task.id, refusal)
            return False
        return True

    def withdraw(self, moment: dt.datetime, submission: Submission) -> None:
        """The submitter withdraws the request."""
        self.at(moment)
        approvals.withdraw(submission.submitter, submission)

    def fire(self, moment: dt.datetime, timer_id: int) -> str:
        """What the worker's fire_timer job does with a timer."""
        self.at(moment)
        return deadlines.fire(timer_id)

    def forget_messages(self, submission_ids: list[int]) -> None:
        """Delete what would reach people or workers after the commit: the emails of these
        requests, and every outbox row this transaction wrote (the history is in the past).
        The RQ jobs the commit would schedule go with them."""
        outbox.take_back()
        for start in range(0, len(submission_ids), 1000):
            chunk = submission_ids[start : start + 1000]
            db.session.execute(delete(EmailMessage).where(EmailMessage.submission_id.in_(chunk)))


class _RememberingHasher:
    """The password hasher, checking each (hash, password) pair once and remembering the answer.

    argon2 is slow on purpose (most of a second on a busy machine): checked at every signed
    decision, it was the largest cost of a replayed history. Nothing else changes: the first
    check of each person's signature is the real one, and a wrong password stays wrong."""

    def __init__(self, real):
        self._real = real
        self._answers: dict[tuple[str, str], bool | VerificationError] = {}

    def verify(self, hashed: str, password: str) -> bool:
        key = (hashed, password)
        if key not in self._answers:
            try:
                self._answers[key] = self._real.verify(hashed, password)
            except VerificationError as refusal:
                self._answers[key] = refusal
        answer = self._answers[key]
        if isinstance(answer, VerificationError):
            raise answer
        return answer

    def __getattr__(self, name):
        return getattr(self._real, name)


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


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
    """One small PDF, stored once, attached wherever a form asks for a file: a real one-page
    invoice (portal/demo/sample-invoice.pdf), so the attachment previews have a page to show."""
    body = SAMPLE_PDF.read_bytes()
    upload = uploads.read(io.BytesIO(body), "scan.pdf", len(body))
    uploads.store(upload)
    upload.contents.close()
    return upload.value


#: The demo's attachment: a one-page sample invoice (made with WeasyPrint, 12 KB).
SAMPLE_PDF = Path(__file__).with_name("sample-invoice.pdf")


# -- the simulation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _FormInfo:
    """What the simulation needs of a published form, read once."""

    slug: str
    version_id: int
    spec: FormSpec

    @classmethod
    def of(cls, form: Form) -> _FormInfo:
        return cls(form.slug, form.current_version.id, form.current_version.spec)


@dataclass
class _Person:
    id: int
    email: str
    manager_id: int | None
    pace: float
    groups: frozenset[str]


class _Generator:
    def __init__(
        self, forms: dict[str, Form], *, days: int, seed: int, now: dt.datetime, password: str
    ):
        self.rng = random.Random(seed)
        self.forms = {slug: _FormInfo.of(form) for slug, form in forms.items()}
        self.days = days
        self.now = now
        self.password = password
        self.zone = clock.local_zone()
        self.file = _demo_file()
        self.people: dict[int, _Person] = {}
        for user in db.session.scalars(select(User).where(User.is_active.is_(True))):
            pace = PACE.get(user.email) or math.exp(random.Random(user.email).gauss(0, 0.35))
            person = _Person(
                user.id, user.email, user.manager_id, pace, frozenset(user.group_names)
            )
            self.people[user.id] = person
        staff = sorted((p for p in self.people.values() if "staff" in p.groups), key=lambda p: p.id)
        self.submitters = staff
        if not self.submitters:
            raise ValueError("there are no members of the staff group to submit requests")
        # Some people submit far more than others.
        self.submitter_weights = [
            math.exp(random.Random(p.email).gauss(0, 0.6)) for p in self.submitters
        ]
        self.pool: dict[tuple[str, dt.date], list[dict]] = {}

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

    def request(self, submitted_at: dt.datetime, engine: Engine) -> int:
        """Submit one request at `submitted_at` and live its life up to now; its id."""
        slug = self.rng.choices(list(FORM_MIX), weights=list(FORM_MIX.values()))[0]
        form = self.forms[slug]
        submitter = self.rng.choices(self.submitters, weights=self.submitter_weights)[0]
        day = submitted_at.astimezone(self.zone).date()
        raw = self.raw_for(slug, form.spec, day)
        return _Life(self, engine, form, submitter, raw).run(submitted_at)

    def raw_for(self, slug: str, spec: FormSpec, day: dt.date) -> dict:
        """What a person types into the form on `day` (valid: the form's own rules check it
        when it is submitted)."""
        variants = self.pool.setdefault((slug, day), [])
        if len(variants) < 12:
            variants.append(_RAW[slug](self.rng, day, self.file))
            return variants[-1]
        return self.rng.choice(variants)

    def plan(self, slug: str, task) -> _Plan:
        """What the person asked will do about `task` (its row), and when (drawn when it
        opens)."""
        person = self.people[task.assignee_id]
        typical = STEP_HOURS.get((slug, task.step), 6) * person.pace
        if task.origin == "escalated":
            typical *= 0.5
        hours = self.lognormal(typical, 0.95)
        if self.rng.random() < 0.03:  # forgotten, until reminders and escalations catch up
            hours *= 6
        at = self.working_delay(task.created_at, hours)
        approve, reject, _ = OUTCOMES.get(task.step, OUTCOMES["default"])
        draw = self.rng.random()
        if draw < approve:
            decision, comment = Decision.APPROVE, ""
        elif draw < approve + reject:
            decision = Decision.REJECT
            comment = self.rng.choice(COMMENTS[Decision.REJECT])
        else:
            decision = Decision.REQUEST_CHANGES
            comment = self.rng.choice(COMMENTS[Decision.REQUEST_CHANGES])
        channel = "email" if self.rng.random() < 0.55 else "web"
        return _Plan(at, decision, comment, channel)


@dataclass
class _Plan:
    """What the person asked will do, and when (drawn when the task opens)."""

    at: dt.datetime
    decision: Decision
    comment: str
    channel: str


class _Life:
    """One request from submission to its outcome (or to now), through the engine."""

    def __init__(
        self, generator: _Generator, engine: Engine, form: _FormInfo, submitter: _Person, raw
    ):
        self.g = generator
        self.engine = engine
        self.form = form
        self.submitter = submitter
        self.raw = raw
        self.plans: dict[int, _Plan] = {}  # by task id, open tasks only
        self.withdraw_at: dt.datetime | None = None

    def run(self, submitted_at: dt.datetime) -> int:
        g = self.g
        self.version = db.session.get(FormVersion, self.form.version_id)
        self.user = db.session.get(User, self.submitter.id)
        self.submission = self.engine.submit(submitted_at, self.user, self.version, self.raw)
        if g.rng.random() < 0.025:
            self.withdraw_at = submitted_at + dt.timedelta(hours=g.lognormal(20, 1.0))
        self.start(submitted_at)
        moment = submitted_at
        while True:
            status = self.submission.status
            if status == SubmissionStatus.IN_REVIEW:
                event = self.next_event()
                if event is None or event[0] >= g.now:
                    break
                moment = event[0]
                event[1]()
            elif status == SubmissionStatus.CHANGES_REQUESTED:
                self.withdraw_at = None  # the plan to withdraw was for the request in review
                choice = g.rng.random()
                moment = g.working_delay(moment, g.lognormal(6, 1.0))
                if choice >= 0.95 or moment >= g.now:
                    break
                if choice < 0.87:
                    # The changes asked for, as typed on the day (dates of a form are often
                    # checked against it).
                    day = moment.astimezone(g.zone).date()
                    self.raw = g.raw_for(self.form.slug, self.form.spec, day)
                    self.engine.submit(moment, self.user, self.version, self.raw, self.submission)
                    self.start(moment)
                else:
                    self.withdraw(moment)
            else:
                break
        return self.submission.id

    def start(self, submitted_at: dt.datetime) -> None:
        # The start_chain job runs a moment after the submit.
        started = submitted_at + dt.timedelta(seconds=self.g.rng.uniform(0.3, 5))
        self.engine.start_chain(started, self.submission.id)

    def pending(self) -> list:
        """The request's open tasks, each with its pending timers (one row per timer, or one
        row without a timer): one light query, not the tasks and then their timers."""
        timer = and_(
            Timer.task_id == Task.id, Timer.fired_at.is_(None), Timer.cancelled_at.is_(None)
        )
        return db.session.execute(
            select(
                Task.id,
                Task.key,
                Task.step,
                Task.assignee_id,
                Task.origin,
                Task.created_at,
                Timer.id.label("timer_id"),
                Timer.fire_at,
            )
            .outerjoin(Timer, timer)
            .where(Task.submission_id == self.submission.id, Task.state == TaskState.OPEN)
            .order_by(Task.id, Timer.id)
        ).all()

    def next_event(self):
        found = []
        rows = self.pending()
        plans = {}
        for row in rows:
            if row.id not in plans:
                plans[row.id] = self.plans.get(row.id) or self.g.plan(self.form.slug, row)
            if row.timer_id is not None:
                # The worker fires a timer within moments of its time (a lag drawn from the
                # task's key, not its id, so the same seed tells the same story anywhere).
                lag = dt.timedelta(seconds=1 + zlib.crc32(row.key.encode()) % 19)
                found.append((row.fire_at + lag, 1, row.timer_id))
        self.plans = plans
        for task_id, plan in plans.items():
            found.append((plan.at, 0, task_id))
        if self.withdraw_at is not None:
            found.append((self.withdraw_at, 2, 0))
        if not found:
            return None
        at, kind, what = min(found)
        if kind == 0:
            return at, lambda: self.decide(what, at)
        if kind == 1:
            return at, lambda: self.engine.fire(at, what)
        return at, lambda: self.withdraw(at)

    def decide(self, task_id: int, at: dt.datetime) -> None:
        plan = self.plans.pop(task_id)
        self.engine.decide(
            at,
            db.session.get(Task, task_id),
            plan.decision,
            plan.comment,
            channel=plan.channel,
            password=self.g.password,
        )

    def withdraw(self, at: dt.datetime) -> None:
        self.withdraw_at = None
        self.engine.withdraw(at, self.submission)


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
