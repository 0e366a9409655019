"""A hypothesis state machine over the real chain services: random submits, decisions (by the
assignee and by people who must be refused), withdrawals, resubmissions, delegation, admin
reassignment, time passing, sweeps and jobs (some run twice), with every invariant checked
after every step.

Each example starts from an empty database with a small organisation and two forms whose
chains have a manager step (reminders, escalation that adds the manager's manager, skipped on
timeout), an `any` finance step (escalation that moves the task to the CFO), a conditional
quorum step (rejects on timeout) and an `all` IT step (approves on timeout); one form restarts
after changes, the other resumes. Jobs go through the real Redis (the queue is worked through
in this process, as a worker would) and emails through a real SMTP server, as in the other
service tests.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import uuid
from collections import Counter, defaultdict

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from portal import audit, clock, jobs, queue
from portal.domain.chain import Decision, DecisionRefused, StepState, TaskState
from portal.extensions import db
from portal.models import (
    ApprovalStep,
    AuditEvent,
    EmailMessage,
    EmailState,
    FormVersion,
    OutboxMessage,
    Submission,
    SubmissionStatus,
    Task,
    Timer,
    User,
)
from portal.services import account, approvals, forms, submissions, users
from portal.services.submissions import Files, SubmissionRefused
from tests.conftest import _empty_tables
from tests.fixtures.forms import ACTOR

MONDAY_9 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)  # 09:00 in Berlin

#: email: (name, groups, manager's email)
PEOPLE = {
    "carol@example.com": ("Carol Chen", ["cfo"], None),
    "bob@example.com": ("Bob Okafor", ["managers"], "carol@example.com"),
    "alice@example.com": ("Alice Martin", ["staff"], "bob@example.com"),
    "sam@example.com": ("Sam Patel", ["staff"], "bob@example.com"),
    "fiona@example.com": ("Fiona Walsh", ["finance"], "carol@example.com"),
    "frank@example.com": ("Frank Meyer", ["finance"], "carol@example.com"),
    "bea@example.com": ("Bea Board", ["board"], "carol@example.com"),
    "ben@example.com": ("Ben Board", ["board"], "carol@example.com"),
    "bill@example.com": ("Bill Board", ["board", "finance"], "carol@example.com"),
    "ivan@example.com": ("Ivan Novak", ["it"], "carol@example.com"),
    "iris@example.com": ("Iris Berg", ["it"], "carol@example.com"),
    "ada@example.com": ("Ada Byrne", ["admin"], None),
}
SUBMITTERS = ["alice@example.com", "sam@example.com", "bob@example.com", "fiona@example.com"]


def chain_form(after_changes: str) -> dict:
    """A small form whose chain has every kind of step the engine knows."""
    return {
        "title": f"Chain check ({after_changes})",
        "fields": [
            {"type": "text", "name": "purpose", "label": "Purpose", "required": True},
            {"type": "integer", "name": "amount", "label": "Amount", "required": True},
        ],
        "approval": {
            "fallback_group": "finance",
            "after_changes": after_changes,
            "steps": [
                {
                    "name": "manager",
                    "title": "Manager",
                    "assignees": [{"manager": 1}],
                    "due": "2h",
                    "remind": {"at": "50%"},
                    "escalate": {"to": {"manager": 1}, "mode": "add"},
                    "on_timeout": {"action": "skip", "after": "3h"},
                },
                {
                    "name": "finance",
                    "title": "Finance",
                    "policy": "any",
                    "assignees": [{"group": "finance"}],
                    "due": "2h",
                    "escalate": {"to": {"group": "cfo"}, "mode": "move"},
                },
                {
                    "name": "board",
                    "title": "Board",
                    "when": "amount > 1000",
                    "policy": {"quorum": 2},
                    "assignees": [{"group": "board"}],
                    "due": "3h",
                    "on_timeout": {"action": "reject"},
                },
                {
                    "name": "it",
                    "title": "IT",
                    "policy": "all",
                    "assignees": [{"group": "it"}],
                    "due": "4h",
                    "on_timeout": {"action": "approve", "after": "1h"},
                },
            ],
        },
    }


FORMS = {"restart": chain_form("restart"), "resume": chain_form("resume")}
DECIDED = {TaskState.APPROVED, TaskState.REJECTED, TaskState.CHANGES_REQUESTED}
OPEN_STATUSES = {SubmissionStatus.IN_REVIEW}
pick = st.integers(min_value=0, max_value=10_000)
#: RQ's keys for a queue: rq:<kind>:<queue name>.
REGISTRIES = ("queue", "scheduled", "failed", "finished", "started", "deferred", "canceled")


def needed(policy: str, quorum: int, seats: int) -> int:
    return {"any": 1, "all": seats}.get(policy, quorum)


class ChainMachine(RuleBasedStateMachine):
    """The services driven at random; the database checked against the rules after each step."""

    app = None
    mailbox = None
    examples = 0

    def __init__(self):
        super().__init__()
        ChainMachine.examples += 1
        app = self.app
        app.config["RQ_QUEUE"] = f"baton-chain-{uuid.uuid4().hex[:8]}"
        jobs.use_app(app)
        db.session.remove()
        _empty_tables()
        self.mailbox.clear()
        self._frozen = clock.frozen_at(MONDAY_9)
        self.advance = self._frozen.__enter__()
        self.people: dict[str, int] = {}
        for email, (name, groups, manager) in PEOPLE.items():
            user, _ = users.save_user(email, name, "correct horse battery", groups, manager)
            db.session.flush()
            self.people[email] = user.id
        self.versions = {}
        for slug, schema in FORMS.items():
            published = forms.publish(json.dumps(schema), f"chain_{slug}", ACTOR, f"{slug}.json")
            self.versions[slug] = published.version.id
        db.session.commit()
        self.outbox_seen: set[int] = set()

    def teardown(self):
        db.session.rollback()
        # Everything this example left in Redis: its queue, registries and jobs (CI shares Redis).
        connection, name = queue.connection(self.app), self.app.config["RQ_QUEUE"]
        timers = db.session.scalars(select(Timer.id)).all()
        db.session.rollback()
        keys = [f"rq:{kind}:{name}" for kind in REGISTRIES]
        keys += [f"rq:job:{name}-outbox-{n}" for n in self.outbox_seen]
        keys += [f"rq:job:{name}-timer-{n}" for n in timers]
        for start in range(0, len(keys), 500):
            connection.delete(*keys[start : start + 500])
        connection.srem("rq:queues", f"rq:queue:{name}")
        self._frozen.__exit__(None, None, None)

    # -- helpers ------------------------------------------------------------------------------

    def user(self, email: str) -> User:
        return db.session.get(User, self.people[email])

    def all_of(self, model, *order):
        return list(db.session.scalars(select(model).order_by(*(order or (model.id,)))))

    def audit_count(self) -> int:
        return db.session.scalar(select(func.count()).select_from(AuditEvent))

    def refused(self, call) -> str | None:
        """Run a service call and commit; on refusal roll back, check nothing changed, say why."""
        before = self.audit_count()
        try:
            call()
        except (DecisionRefused, SubmissionRefused, account.SettingsRefused) as refusal:
            db.session.rollback()
            assert self.audit_count() == before, "a refused call left audit events behind"
            return str(refusal)
        db.session.commit()
        self.note_outbox()
        return None

    def note_outbox(self) -> None:
        self.outbox_seen.update(db.session.scalars(select(OutboxMessage.id)))
        db.session.rollback()

    def raw(self, purpose: str, amount: int) -> dict:
        return {"purpose": purpose, "amount": str(amount)}

    # -- rules --------------------------------------------------------------------------------

    @initialize(amounts=st.sampled_from([(150, 4000), (4000, 900), (900, 150)]))
    def two_requests_in_review(self, amounts):
        """Every example starts with a request of each form in review."""
        for form, amount, who in zip(sorted(FORMS), amounts, SUBMITTERS, strict=False):
            self.submit(who, form, amount, worker_keeps_up=False)
        self.run_queued_jobs()

    @precondition(lambda self: len(self.all_of(Submission)) < 4)
    @rule(
        who=st.sampled_from(SUBMITTERS),
        form=st.sampled_from(sorted(FORMS)),
        amount=st.sampled_from([150, 900, 4000]),
        worker_keeps_up=st.sampled_from([True, True, False]),
    )
    def submit(self, who, form, amount, worker_keeps_up):
        version = db.session.get(FormVersion, self.versions[form])
        submission, evaluation = submissions.submit(
            self.user(who), version, self.raw(f"{form} {amount}", amount), Files()
        )
        assert submission is not None, evaluation.errors
        db.session.commit()
        self.note_outbox()
        if worker_keeps_up:
            self.run_queued_jobs()

    @precondition(lambda self: any(t.is_open for t in self.all_of(Task)))
    @rule(rounds=st.integers(min_value=1, max_value=2))
    def every_assignee_approves(self, rounds):
        """Approvers doing their job: each open task approved by its assignee, `rounds` times
        over (a decision opens the next step's tasks at once)."""
        for _ in range(rounds):
            for task_id in [t.id for t in self.all_of(Task) if t.is_open]:
                task = db.session.get(Task, task_id)
                if task.is_open:  # an earlier approval may have settled its step
                    why = self.refused(
                        lambda t=task: approvals.decide(t.assignee, t.id, Decision.APPROVE)
                    )
                    assert why is None, why

    @precondition(lambda self: self.all_of(Task))
    @rule(
        index=pick,
        open_only=st.sampled_from([True, True, True, False]),
        by_assignee=st.sampled_from([True, True, True, False]),
        other=pick,
        decision=st.sampled_from(
            ["approve", "request_changes", "reject", "approve", "request_changes"]
            + ["reject_without_comment"]
        ),
    )
    def decide(self, index, open_only, by_assignee, other, decision):
        tasks = self.all_of(Task)
        if open_only and any(t.is_open for t in tasks):
            tasks = [t for t in tasks if t.is_open]
        task = tasks[index % len(tasks)]
        was_open = task.state == TaskState.OPEN
        if by_assignee:
            actor = task.assignee
        else:
            others = sorted(set(self.people.values()) - {task.assignee_id})
            actor = db.session.get(User, others[other % len(others)])
        comment = "" if decision in ("approve", "reject_without_comment") else "Not like this."
        choice = Decision.REJECT if decision == "reject_without_comment" else Decision(decision)
        task_id = task.id
        db.session.rollback()
        why = self.refused(lambda: approvals.decide(actor, task_id, choice, comment))
        if not by_assignee:
            assert why == "This task is not assigned to you.", why
        elif decision == "reject_without_comment" and was_open:
            assert why == "Add a comment that says why you reject it.", why
        else:
            assert (why is None) == was_open, (why, was_open)

    @precondition(lambda self: self.all_of(Submission))
    @rule(index=pick, by_submitter=st.booleans(), other=pick)
    def withdraw(self, index, by_submitter, other):
        found = self.all_of(Submission)
        submission = found[index % len(found)]
        status = submission.status
        if by_submitter:
            actor = submission.submitter
        else:
            others = sorted(set(self.people.values()) - {submission.submitter_id})
            actor = db.session.get(User, others[other % len(others)])
        why = self.refused(lambda: approvals.withdraw(actor, submission))
        if not by_submitter:
            assert why == "Only the person who submitted a request can withdraw it.", why
        else:
            may = status in (SubmissionStatus.IN_REVIEW, SubmissionStatus.CHANGES_REQUESTED)
            assert (why is None) == may, (why, status)

    @precondition(lambda self: self.all_of(Submission))
    @rule(
        index=pick,
        amount=st.sampled_from([150, 4000]),
        sent_back_only=st.sampled_from([True, True, False]),
        worker_keeps_up=st.sampled_from([True, False]),
    )
    def resubmit(self, index, amount, sent_back_only, worker_keeps_up):
        found = self.all_of(Submission)
        sent_back = [s for s in found if s.status == SubmissionStatus.CHANGES_REQUESTED]
        if sent_back_only and sent_back:
            found = sent_back
        submission = found[index % len(found)]
        status, count = submission.status, submission.submit_count
        version = submission.form_version

        def call():
            done, evaluation = submissions.submit(
                submission.submitter,
                version,
                self.raw("changed", amount),
                Files(),
                submission=submission,
            )
            assert done is not None, evaluation.errors

        why = self.refused(call)
        assert (why is None) == (status == SubmissionStatus.CHANGES_REQUESTED), (why, status)
        if why is None:
            db.session.expire_all()
            assert db.session.get(Submission, submission.id).submit_count == count + 1
            if worker_keeps_up:
                self.run_queued_jobs()

    @rule(
        person=pick,
        holder_only=st.sampled_from([True, True, False]),
        delegate=st.sampled_from(sorted(PEOPLE)),
    )
    def go_away_and_hand_over(self, person, holder_only, delegate):
        everyone = sorted(PEOPLE)
        holders = sorted({t.assignee.email for t in self.all_of(Task) if t.is_open})
        choices = holders if holder_only and holders else everyone
        person = choices[person % len(choices)]
        user, stand_in = self.user(person), self.user(delegate)
        today = clock.today(self.app.config["BATON_TIMEZONE"])
        held = [t.id for t in approvals.open_tasks_for(user)]

        def call():
            account.save_settings(user, today, today + dt.timedelta(days=1), stand_in.id, False)
            approvals.hand_over(user)

        why = self.refused(call)
        assert (why is None) == (person != delegate), why
        if why is None:
            for task_id in held:
                task = db.session.get(Task, task_id)
                # Handed over, or kept for a reason the docs give (own request, already asked).
                assert task.state != TaskState.OPEN or task.assignee_id == user.id

    @rule(person=st.sampled_from(sorted(PEOPLE)))
    def come_back(self, person):
        user = self.user(person)
        assert self.refused(lambda: account.save_settings(user, None, None, None, False)) is None

    @precondition(lambda self: self.all_of(Task))
    @rule(index=pick, person=st.sampled_from(sorted(PEOPLE)))
    def admin_reassigns(self, index, person):
        tasks = self.all_of(Task)
        task = tasks[index % len(tasks)]
        admin, user = self.user("ada@example.com"), self.user(person)
        task_id, was_open = task.id, task.state == TaskState.OPEN
        db.session.rollback()
        why = self.refused(lambda: approvals.reassign(admin, task_id, user.id, "on leave"))
        if not was_open:
            assert why is not None

    @rule(
        minutes=st.sampled_from([20, 61, 125, 300]),
        cron_and_worker_keep_up=st.sampled_from([True, True, False]),
    )
    def time_passes(self, minutes, cron_and_worker_keep_up):
        self.advance(dt.timedelta(minutes=minutes))
        if cron_and_worker_keep_up:
            self.sweep()
            self.run_queued_jobs()

    @rule()
    def sweep(self):
        contextvars.Context().run(jobs.sweep)
        self.note_outbox()

    @rule()
    def run_queued_jobs(self):
        """Work through the RQ queue (what a worker does, without its start-up and shut-down)."""
        q = queue.queue(self.app)
        while job_ids := q.get_job_ids():
            for job_id in job_ids:
                q.remove(job_id)
                job = q.fetch_job(job_id)
                if job is not None:
                    # In a context of its own, as in a worker: its own app context and session.
                    contextvars.Context().run(job.func, *job.args, **job.kwargs)
                    q.connection.delete(job.key)  # as RQ does with result_ttl=0
        self.note_outbox()
        db.session.expire_all()
        left = db.session.scalars(select(OutboxMessage.id)).all()
        db.session.rollback()
        assert not left, f"outbox rows left after the queue drained: {left}"

    @precondition(lambda self: self.outbox_seen)
    @rule(index=pick)
    def run_an_outbox_job_again(self, index):
        """A job delivered twice (or late): done work must not be done again."""
        seen = sorted(self.outbox_seen)
        contextvars.Context().run(jobs.run_outbox, seen[index % len(seen)])
        self.note_outbox()

    @rule(index=pick)
    def fire_a_due_timer_again(self, index):
        """A due timer's job run again (swept and scheduled both ran)."""
        due = db.session.scalars(
            select(Timer.id).where(Timer.fire_at <= clock.now()).order_by(Timer.id)
        ).all()
        db.session.rollback()
        if due:
            contextvars.Context().run(jobs.fire_timer, due[index % len(due)])
            self.note_outbox()

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def chains_hold(self):
        db.session.expire_all()
        try:
            self._check_submissions()
            self._check_tasks()
            self._check_emails_and_timers()
            self._check_audit()
        finally:
            db.session.rollback()

    def _check_submissions(self):
        all_steps, all_tasks = defaultdict(list), defaultdict(list)
        for step in self.all_of(ApprovalStep, ApprovalStep.round, ApprovalStep.position):
            all_steps[step.submission_id].append(step)
        for task in self.all_of(Task):
            all_tasks[task.submission_id].append(task)
        for submission in self.all_of(Submission):
            spec = submission.form_version.spec.approval
            steps, tasks = all_steps[submission.id], all_tasks[submission.id]
            rounds = {s.round for s in steps}
            number = max(rounds, default=0)
            assert rounds == set(range(1, number + 1)), f"rounds {rounds}"
            assert number <= submission.submit_count
            current = [s for s in steps if s.round == number]
            status = submission.status
            label = f"submission {submission.id} ({status.value}, round {number})"
            for task in tasks:
                assert task.assignee_id != submission.submitter_id, f"{label}: own task"
                if task.state == TaskState.OPEN:
                    assert status in OPEN_STATUSES, f"{label}: open task {task.id}"
                    assert task.round == number, f"{label}: open task of an old round"
                    step = next(s for s in current if s.name == task.step)
                    assert step.state == StepState.ACTIVE, f"{label}: open task, step {step.state}"
            in_motion = [s for s in current if s.state in (StepState.ACTIVE, StepState.BLOCKED)]
            assert len(in_motion) <= 1, f"{label}: two steps in motion"
            for step in current:
                self._check_step(label, spec.step(step.name), step, tasks)
            states = {s.state for s in current}
            if status == SubmissionStatus.IN_REVIEW:
                if number == submission.submit_count:  # its round has started
                    assert len(in_motion) == 1, f"{label}: in review with nothing in motion"
                    assert not states & {StepState.REJECTED, StepState.CHANGES_REQUESTED}
            elif status == SubmissionStatus.APPROVED:
                assert number == submission.submit_count
                assert states <= {StepState.APPROVED, StepState.SKIPPED}, f"{label}: {states}"
            elif status == SubmissionStatus.REJECTED:
                assert StepState.REJECTED in states, f"{label}: {states}"
            elif status == SubmissionStatus.CHANGES_REQUESTED:
                assert StepState.CHANGES_REQUESTED in states, f"{label}: {states}"
            elif status == SubmissionStatus.WITHDRAWN:
                assert not states & {StepState.ACTIVE, StepState.BLOCKED, StepState.WAITING}
            if status.is_final:
                assert submission.finished_at is not None, label

    def _check_step(self, label, spec, step, tasks):
        """A step's state is the one its tasks' decisions imply under its policy."""
        mine = [t for t in tasks if t.round == step.round and t.step == step.name]
        seats: dict[str, list[Task]] = defaultdict(list)
        for task in mine:
            seats[task.slot or task.key].append(task)
        decided = {}
        for seat, members in seats.items():
            decisions = [t.state for t in members if t.state in DECIDED]
            assert len(decisions) <= 1, f"{label}: two decisions for one place in {step.name}"
            if decisions:
                decided[seat] = decisions[0]
        open_seats = [s for s, m in seats.items() if s not in decided and any(t.is_open for t in m)]
        outcomes = list(decided.values())
        approved = outcomes.count(TaskState.APPROVED)
        rejected = outcomes.count(TaskState.REJECTED)
        changes = outcomes.count(TaskState.CHANGES_REQUESTED)
        want = needed(spec.policy, spec.quorum, len(decided) + len(open_seats))
        timed_out = step.reason.startswith("timed out")
        carried_over = not mine and step.round > 1  # a resumed round keeps earlier outcomes
        where = f"{label}, step {step.name} ({step.state.value}, {step.reason!r})"
        if step.state == StepState.ACTIVE:
            assert open_seats, f"{where}: active with no open task"
            assert not changes and approved < want, where
            if spec.policy == "any":
                assert not rejected, where
            else:
                assert approved + len(open_seats) >= want, where
        elif step.state == StepState.APPROVED and not (timed_out or carried_over):
            assert approved >= want and not changes, where
        elif step.state == StepState.REJECTED and not timed_out:
            assert rejected and not changes and approved < want, where
        elif step.state == StepState.CHANGES_REQUESTED:
            assert changes == 1, where
        elif step.state in (StepState.WAITING, StepState.SKIPPED, StepState.BLOCKED):
            assert not mine or step.state == StepState.SKIPPED and timed_out, where
        if step.state != StepState.ACTIVE:
            assert not any(t.is_open for t in mine), f"{where}: open task on a settled step"
        assigned = Counter(t.assignee_id for t in mine if t.state in DECIDED)
        assert max(assigned.values(), default=0) <= 1, f"{where}: one person decided twice"

    def _check_tasks(self):
        tasks = self.all_of(Task)
        open_by = Counter(
            (t.submission_id, t.round, t.step, t.assignee_id) for t in tasks if t.is_open
        )
        assert max(open_by.values(), default=0) <= 1, "a person holds two open tasks on a step"
        events = defaultdict(list)
        for action, details in db.session.execute(
            select(AuditEvent.action, AuditEvent.details)
            .where(AuditEvent.action.in_(["task_decided", "task_cancelled", "task_opened"]))
            .order_by(AuditEvent.chain, AuditEvent.seq)
        ):
            events[details["task"]].append(action)
        for task in tasks:
            seen = events[task.id]
            assert seen[:1] == ["task_opened"] and seen.count("task_opened") == 1, (task.id, seen)
            closing = seen[1:]
            if task.state in DECIDED:
                assert closing == ["task_decided"], (task.id, seen)
                assert task.decision is not None and task.decided_at is not None
                assert task.state.value == {"approve": "approved", "reject": "rejected"}.get(
                    task.decision.value, "changes_requested"
                )
            elif task.state == TaskState.CANCELLED:
                assert closing == ["task_cancelled"] and task.decision is None, (task.id, seen)
            else:
                assert closing == [] and task.decision is None, (task.id, seen)

    def _check_emails_and_timers(self):
        emails = self.all_of(EmailMessage)
        assigned = Counter(e.task_id for e in emails if e.kind == "task_assigned")
        for task in self.all_of(Task):
            assert assigned[task.id] == 1, f"task {task.id}: {assigned[task.id]} assignment emails"
        keys = {e.key for e in emails}
        for timer_id, fired_at, cancelled_at, outcome, task_state in db.session.execute(
            select(Timer.id, Timer.fired_at, Timer.cancelled_at, Timer.outcome, Task.state).join(
                Task, Timer.task_id == Task.id
            )
        ):
            assert fired_at is None or cancelled_at is None, f"timer {timer_id} fired, cancelled"
            if fired_at is None and cancelled_at is None:
                assert task_state == TaskState.OPEN, f"timer {timer_id} pending on a closed task"
            if outcome.startswith("reminded"):
                assert f"timer:{timer_id}:reminder" in keys, f"timer {timer_id}: no email"
        sent = [e for e in emails if e.state == EmailState.SENT]
        recorded = Counter(
            details["email"]
            for details in db.session.scalars(
                select(AuditEvent.details).where(AuditEvent.action == "email_sent")
            )
        )
        for email in sent:
            assert recorded[email.id] == 1, f"email {email.id} recorded {recorded[email.id]} times"
        assert sum(recorded.values()) == len(sent)
        delivered = Counter(m["Message-ID"] for m in self.mailbox.messages)
        assert max(delivered.values(), default=0) <= 1, "an email reached the mail server twice"
        assert len(self.mailbox.messages) == len(sent)
        for submission in self.all_of(Submission):
            status = submission.status
            if status != SubmissionStatus.IN_REVIEW and status != SubmissionStatus.WITHDRAWN:
                key = f"submission:{submission.id}:{submission.submit_count}:{status.value}"
                assert any(e.key == key for e in emails), f"no outcome email {key}"

    def _check_audit(self):
        chains = db.session.scalars(select(AuditEvent.chain).distinct()).all()
        for chain in chains:
            verification = audit.verify(chain)
            assert verification.ok, verification


ChainMachine.TestCase.settings = settings(
    derandomize=True,
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture
def chain_machine(app, mailbox, run_jobs):
    ChainMachine.app, ChainMachine.mailbox = app, mailbox
    yield ChainMachine
    ChainMachine.app = ChainMachine.mailbox = None


@pytest.mark.slow
def test_chain_services_keep_their_invariants_under_random_steps(chain_machine):
    run_state_machine_as_test(chain_machine, settings=chain_machine.TestCase.settings)
    assert chain_machine.examples > 0
