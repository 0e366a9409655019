"""What if: six hand-built histories replayed through drafts, every figure worked out by hand.

Form "Travel request": manager approval (any) -> finance approval (two people, everyone must
approve) -> CFO approval (only when amount > 1000). Times in hours after submission.

| request | amount | what happened                                                              |
|---------|--------|-----------------------------------------------------------------------------|
| A (1)   | 500    | manager 2h; finance 24h (s1 at 8h, s2 at 24h); CFO skipped. Approved: 26h. |
| B (2)   | 5000   | manager 4h; finance 10h (s2 at 3h, s1 at 10h); CFO 6h. Approved: 20h.      |
| C (3)   | 8000   | manager 1h; finance 5h (s2 2h, s1 5h); CFO rejects after 3h. Rejected: 9h. |
| D (4)   | 3000   | manager sends back after 6h; resubmitted 18h later; manager 2h; finance    |
|         |        | 24h (s2 12h, s1 24h); CFO 6h. Approved: 56h.                               |
| E (5)   | 2000   | manager 1h; finance 2h (s2 1h, s1 2h); CFO rejects after 4h. Rejected: 7h. |
| F (6)   | 300    | manager 1h; finance: s1 approves at 5h, s2 rejects at 30h. Rejected: 31h.  |

Tasks (answers given): manager 7, finance 12, CFO 4: 23 in all.
Cycle times: 7, 9, 20, 26, 31, 56 hours: median 23, 90th percentile 31 + 0.5 * 25 = 43.5.
"""

from __future__ import annotations

import copy

import pytest

from portal.domain import replay, schema
from portal.domain.chain import Decision, StepState
from portal.domain.replay import Plan, RecordedDecision, RecordedVisit, RequestHistory, Waits

H = 3_600_000  # an hour in milliseconds
START = 1_767_225_600_000  # 1 Jan 2026 00:00 UTC
APPROVE, REJECT, BACK = Decision.APPROVE, Decision.REJECT, Decision.REQUEST_CHANGES

TRAVEL = {
    "title": "Travel request",
    "amount_field": "amount",
    "fields": [
        {"type": "money", "name": "amount", "label": "Amount", "currency": "EUR"},
    ],
    "approval": {
        "fallback_group": "finance",
        "after_changes": "restart",
        "steps": [
            {"name": "manager", "title": "Manager approval", "assignees": [{"manager": 1}]},
            {
                "name": "finance",
                "title": "Finance approval",
                "policy": "all",
                "assignees": [{"group": "finance"}],
            },
            {
                "name": "cfo",
                "title": "CFO approval",
                "when": "amount > 1000",
                "assignees": [{"group": "cfo"}],
            },
        ],
    },
}
STATE = {APPROVE: StepState.APPROVED, REJECT: StepState.REJECTED, BACK: StepState.CHANGES_REQUESTED}


class Request:
    """Walks one request's history step by step; `done()` gives the RequestHistory."""

    def __init__(self, number: int, amount: int):
        self.number, self.amount = number, amount
        self.at, self.round, self.visits = START + number * 1000 * H, 1, []
        self.submitted_at = self.at

    def step(self, name: str, *answers: tuple[str, Decision, float]) -> Request:
        """People answered: (seat, decision, hours after the step started); the last settles."""
        decisions = tuple(RecordedDecision(seat, d, self.at + int(h * H)) for seat, d, h in answers)
        end = max(d.at for d in decisions)
        settling = max(decisions, key=lambda d: d.at).decision
        if any(d.decision == REJECT for d in decisions):
            settling = REJECT
        seats = tuple(sorted({d.seat for d in decisions}))
        self.visits.append(
            RecordedVisit(self.round, name, STATE[settling], self.at, end, seats, decisions)
        )
        self.at = end
        return self

    def skipped(self, name: str) -> Request:
        self.visits.append(RecordedVisit(self.round, name, StepState.SKIPPED, self.at, self.at))
        return self

    def resubmitted(self, after_hours: float) -> Request:
        self.round += 1
        self.at += int(after_hours * H)
        return self

    def done(self, status: str) -> RequestHistory:
        return RequestHistory(
            self.number,
            {"amount": self.amount},
            self.submitted_at,
            status,
            self.at,
            tuple(self.visits),
            float(self.amount),
        )


def one(hours, decision=APPROVE, seat="m"):
    return (seat, decision, hours)


HISTORIES = [
    Request(1, 500)
    .step("manager", one(2))
    .step("finance", ("s1", APPROVE, 8), ("s2", APPROVE, 24))
    .skipped("cfo")
    .done("approved"),
    Request(2, 5000)
    .step("manager", one(4))
    .step("finance", ("s2", APPROVE, 3), ("s1", APPROVE, 10))
    .step("cfo", one(6, seat="c"))
    .done("approved"),
    Request(3, 8000)
    .step("manager", one(1))
    .step("finance", ("s2", APPROVE, 2), ("s1", APPROVE, 5))
    .step("cfo", one(3, REJECT, "c"))
    .done("rejected"),
    Request(4, 3000)
    .step("manager", one(6, BACK))
    .resubmitted(18)
    .step("manager", one(2))
    .step("finance", ("s2", APPROVE, 12), ("s1", APPROVE, 24))
    .step("cfo", one(6, seat="c"))
    .done("approved"),
    Request(5, 2000)
    .step("manager", one(1))
    .step("finance", ("s2", APPROVE, 1), ("s1", APPROVE, 2))
    .step("cfo", one(4, REJECT, "c"))
    .done("rejected"),
    Request(6, 300)
    .step("manager", one(1))
    .step("finance", ("s1", APPROVE, 5), ("s2", REJECT, 30))
    .done("rejected"),
]
TITLES = {"manager": "Manager approval", "finance": "Finance approval", "cfo": "CFO approval"}


def draft(change=None) -> dict:
    document = copy.deepcopy(TRAVEL)
    if change:
        change(document["approval"]["steps"])
    return document


def run(document, **plan) -> replay.Report:
    spec = schema.load(document, "travel").approval
    return replay.run(Plan(spec, **plan), Waits.of(HISTORIES), HISTORIES, TITLES)


def hours(report, which):
    median, p90 = report.cycle(which)
    return median / 3600, p90 / 3600


def tasks(report):
    return {step.name: (step.before, step.after) for step in report.ordered_steps()}


def test_the_unchanged_chain_reproduces_the_history_exactly():
    report = run(draft())
    assert report.requests == 6
    assert report.route_changes == 0 and report.changed == []
    assert report.risky == 0
    assert tasks(report) == {"manager": (7, 7), "finance": (12, 12), "cfo": (4, 4)}
    assert sorted(report.cycles_after) == sorted(report.cycles_before)
    assert sorted(report.cycles_before) == [h * H for h in (7, 9, 20, 26, 31, 56)]
    assert hours(report, "before") == hours(report, "after") == (23, 43.5)
    assert report.outcomes_after == report.outcomes_before
    assert report.hours_saved == 0
    assert report.caveats() == []


def test_each_request_keeps_its_route_outcome_and_cycle_when_nothing_changes():
    spec = schema.load(draft(), "travel").approval
    waits = Waits.of(HISTORIES)
    for history in HISTORIES:
        found = replay.replay(Plan(spec), waits, history)
        assert found.route_after == found.route_before
        assert found.outcome_after == history.status
        assert found.cycle_after == history.cycle
        assert found.tasks_after == found.tasks_before


def test_raising_the_cfo_threshold_skips_it_below_and_flags_the_rejection_it_lets_through():
    def raise_threshold(steps):
        steps[2]["when"] = "amount > 6000"

    report = run(draft(raise_threshold))
    # B (5000), D (3000) and E (2000) no longer see the CFO; C (8000) still does.
    assert tasks(report) == {"manager": (7, 7), "finance": (12, 12), "cfo": (4, 1)}
    assert report.hours_saved == pytest.approx(3 * 10 / 60)
    assert report.route_changes == 3
    assert sorted(item.id for item in report.changed) == [2, 4, 5]
    # After: A 26, B 14, C 9, D 50, E 3 (approved now), F 31.
    assert hours(report, "after") == (20, pytest.approx(31 + 0.5 * 19))
    assert report.outcomes_after["approved"] == 4
    assert [item.id for item in report.risks] == [5]
    (risk,) = report.risks[0].risks
    assert risk.step == "cfo" and risk.recorded == StepState.REJECTED
    assert risk.replayed == "skipped it (its condition was not true)"


def test_removing_finance_saves_its_twelve_answers_and_lets_one_rejection_through():
    def remove_finance(steps):
        del steps[1]

    report = run(draft(remove_finance))
    assert tasks(report) == {"manager": (7, 7), "cfo": (4, 4), "finance": (12, 0)}
    assert [step.in_draft for step in report.ordered_steps()] == [True, True, False]
    assert report.hours_saved == pytest.approx(12 * 10 / 60)
    assert report.route_changes == 6
    # After: A 2, B 10, C 4, D 32, E 5, F 1 (approved now).
    assert sorted(report.cycles_after) == [h * H for h in (1, 2, 4, 5, 10, 32)]
    assert hours(report, "after") == (4.5, 21)
    assert [item.id for item in report.risks] == [6]
    assert report.risks[0].risks[0].replayed == "no longer has the step"
    assert report.changed[0].after == "Manager approval ✓ → approved"


def test_an_auto_approve_rule_skips_the_manager_and_replays_a_sent_back_request_in_one_round():
    def auto_approve(steps):
        steps[0]["auto_approve_if"] = "amount < 4000"

    report = run(draft(auto_approve))
    # A, D, E and F are approved by the rule; D went back to its submitter in fact.
    assert tasks(report) == {"manager": (7, 2), "finance": (12, 12), "cfo": (4, 4)}
    assert report.hours_saved == pytest.approx(5 * 10 / 60)
    assert sorted(item.id for item in report.changed) == [1, 4, 5, 6]
    # D: round 1 took 6h to the send-back; finance (24h) and CFO (6h) come from round 2: 30h.
    assert sorted(report.cycles_after) == [h * H for h in (6, 9, 20, 24, 30, 30)]
    assert hours(report, "after") == (22, 30)
    assert [item.id for item in report.risks] == [4]
    assert report.risks[0].risks[0].recorded == StepState.CHANGES_REQUESTED
    assert report.risks[0].risks[0].replayed == "approved it by rule"
    caveats = " ".join(report.caveats())
    assert "1 request went back to the submitter in fact" in caveats
    assert "another round" in caveats


def test_a_new_step_waits_a_drawn_wait_of_the_similar_step_the_same_every_time():
    def add_legal(steps):
        steps.append(
            {
                "name": "legal",
                "title": "Legal review",
                "when": "amount > 4000",
                "assignees": [{"group": "legal"}],
            }
        )

    titles = TITLES | {"legal": "Legal review"}
    spec = schema.load(draft(add_legal), "travel").approval
    waits = Waits.of(HISTORIES)
    plan = Plan(spec, similar={"legal": "cfo"})
    report = replay.run(plan, waits, HISTORIES, titles)
    # Only B (5000) reaches legal: C (8000) is rejected by the CFO first.
    assert tasks(report)["legal"] == (0, 1)
    assert report.hours_saved == pytest.approx(-10 / 60)
    drawn = waits.draw(plan, "legal", 2)
    assert drawn in {3 * H, 4 * H, 6 * H}  # one of the CFO's recorded waits
    assert waits.draw(plan, "legal", 2) == drawn
    assert sorted(report.cycles_after) == sorted(
        [h * H for h in (7, 9, 26, 31, 56)] + [20 * H + drawn]
    )
    assert [item.id for item in report.changed] == [2]
    caveats = report.caveats()
    assert caveats[0] == (
        "Legal review has no answer on record for 1 request: each waits a time drawn from "
        "4 recorded waits (waits of CFO approval) and is approved."
    )
    assert "fewer than 20" in caveats[1]

    rejecting = replay.run(
        Plan(spec, similar={"legal": "cfo"}, assume={"legal": REJECT}), waits, HISTORIES, titles
    )
    assert rejecting.outcomes_after["rejected"] == 4
    assert rejecting.risky == 0


def test_finance_deciding_on_the_first_answer_halves_its_tasks_and_lets_f_through():
    def first_answer(steps):
        steps[1]["policy"] = "any"

    report = run(draft(first_answer))
    assert tasks(report) == {"manager": (7, 7), "finance": (12, 6), "cfo": (4, 4)}
    assert report.hours_saved == pytest.approx(1.0)
    # A 10, B 13, C 6, D 44, E 6; F approved on s1's answer after 5h: 6.
    assert sorted(report.cycles_after) == [h * H for h in (6, 6, 6, 10, 13, 44)]
    assert hours(report, "after") == (8, 28.5)
    assert [item.id for item in report.changed] == [6]
    assert [item.id for item in report.risks] == [6]
    assert report.risks[0].risks[0].replayed == "approved it (the first answer decides)"


def test_a_stricter_policy_assumes_the_answers_never_given():
    one_answer = [
        Request(7, 500)
        .step("manager", one(1))
        .step("finance", ("s1", APPROVE, 3))
        .skipped("cfo")
        .done("approved")
    ]
    # In fact s2 was asked too but the step was settled (policy any) before s2 answered.
    visit = one_answer[0].visits[1]
    history = RequestHistory(
        7,
        {"amount": 500},
        one_answer[0].submitted_at,
        "approved",
        one_answer[0].finished_at,
        (
            one_answer[0].visits[0],
            RecordedVisit(**{**visit.__dict__, "seats": ("s1", "s2")}),
        )
        + one_answer[0].visits[2:],
    )
    spec = schema.load(draft(), "travel").approval  # finance: everyone must approve
    report = replay.run(Plan(spec), Waits.of([history]), [history], TITLES)
    assert tasks(report)["finance"] == (1, 2)
    assert report.assumed == 1
    assert report.cycles_after == report.cycles_before == [4 * H]
    assert "assumes they approve" in " ".join(report.caveats())


def test_the_report_as_json_has_every_figure():
    found = run(draft(lambda steps: steps[2].update(when="amount > 6000"))).as_dict()
    assert found["requests"] == 6
    assert found["tasks_before"] == 23 and found["tasks_after"] == 20
    assert found["hours_saved"] == 0.5
    assert found["routes_changed"] == 3
    assert found["risks"] == [
        {
            "request": 5,
            "steps": [
                {
                    "step": "cfo",
                    "title": "CFO approval",
                    "in_fact": "rejected",
                    "replay": "skipped it (its condition was not true)",
                }
            ],
        }
    ]
    assert found["cycle_time_seconds"]["after"]["median"] == 20 * 3600


CHANGES = {
    "none": None,
    "threshold": lambda steps: steps[2].update(when="amount > 6000"),
    "remove": lambda steps: steps.pop(1),
    "rule": lambda steps: steps[0].update(auto_approve_if="amount < 4000"),
    "policy": lambda steps: steps[1].update(policy="any"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_one_engine_run_per_shape_gives_each_request_its_own_figures(change):
    spec = schema.load(draft(CHANGES[change]), "travel").approval
    waits = Waits.of(HISTORIES)
    traces: dict = {}
    # Each history twice, the copy's times stretched: same shape, its own times.
    stretched = [
        RequestHistory(
            h.id + 100,
            h.values,
            h.submitted_at,
            h.status,
            h.submitted_at + 2 * (h.finished_at - h.submitted_at),
            tuple(
                RecordedVisit(
                    v.round,
                    v.step,
                    v.state,
                    h.submitted_at + 2 * (v.started_at - h.submitted_at),
                    h.submitted_at + 2 * (v.finished_at - h.submitted_at),
                    v.seats,
                    tuple(
                        RecordedDecision(
                            d.seat, d.decision, h.submitted_at + 2 * (d.at - h.submitted_at)
                        )
                        for d in v.decisions
                    ),
                )
                for v in h.visits
            ),
        )
        for h in HISTORIES
    ]
    for history in HISTORIES + stretched:
        shared = replay.replay(Plan(spec), waits, history, traces)
        alone = replay.replay(Plan(spec), waits, history)
        assert shared == alone
    # The stretched copies reused their originals' runs.
    assert len(traces) == len({replay.shape(Plan(spec), h) for h in HISTORIES}) <= len(HISTORIES)


def test_a_condition_the_draft_keeps_is_taken_from_the_record_round_by_round():
    # G asked 5,000 first; the CFO sent it back and it came again at 500 (the data on record).
    g = (
        Request(7, 500)
        .step("manager", one(1))
        .step("finance", ("s1", APPROVE, 2), ("s2", APPROVE, 3))
        .step("cfo", one(4, BACK, "c"))
        .resubmitted(10)
        .step("manager", one(1))
        .step("finance", ("s1", APPROVE, 2), ("s2", APPROVE, 2))
        .skipped("cfo")
        .done("approved")
    )
    sources = {
        "manager": (None, None),
        "finance": (None, None),
        "cfo": ("amount > 1000", None),
    }
    recorded = RequestHistory(**{**g.__dict__, "conditions": sources})
    spec = schema.load(draft(), "travel").approval
    waits = Waits.of([recorded])
    kept = replay.replay(Plan(spec), waits, recorded)
    assert kept.route_after == kept.route_before
    assert kept.cycle_after == kept.cycle_before == 21 * H
    # Without the record of what the condition gave, the data as last submitted decides.
    guessed = replay.replay(Plan(spec), waits, g)
    assert guessed.route_after != guessed.route_before
    assert [risk.step for risk in guessed.risks] == ["cfo"]
    # A draft that changes the condition decides it again, on the data on record.
    raised = schema.load(
        draft(lambda steps: steps[2].update(when="amount > 6000")), "travel"
    ).approval
    assert replay.replay(Plan(raised), waits, recorded).route_after == guessed.route_after


def test_a_request_with_its_submitter_in_fact_is_no_caveat_when_the_replay_agrees():
    waiting = Request(8, 500).step("manager", one(3, BACK)).done("changes_requested")
    spec = schema.load(draft(), "travel").approval
    report = replay.run(Plan(spec), Waits.of([waiting]), [waiting], TITLES)
    assert report.outcomes_after == report.outcomes_before == {"changes_requested": 1}
    assert report.left_open == 0 and report.caveats() == []
