"""Agent steps in the pure domain: `output`, `review` and `agent_limit` in schemas and the chain."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.domain.chain import (
    AssigneesNeeded,
    Chain,
    ChainState,
    Decision,
    DecisionRefused,
    OutputRefused,
    ReviewersNeeded,
    StepBlocked,
    StepSkipped,
    TaskDecided,
    TaskOpened,
    TaskRecommended,
    TaskState,
    assignees_found,
    decide,
    reviewers_found,
    start,
)
from tests.domain.test_schema_approval import approval, chain, faults, step

SUBMITTER, AGENT, FIONA, FRANK = 1, 7, 8, 9
SANCTIONS = step(
    "sanctions",
    assignees=[{"group": "agents"}],
    output={
        "sanctions_hit": "boolean",
        "score": {"type": "number", "minimum": 0, "maximum": 100, "description": "risk score"},
        "note": {"type": "string", "required": False, "max_length": 20},
    },
)
REVIEWED = {**SANCTIONS, "review": {"group": "finance"}, "agent_limit": "total <= 5000"}
LATER = step("compliance", when="steps.sanctions.output.sanctions_hit")
GOOD = {"sanctions_hit": False, "score": Decimal("12.5")}


def running(section: dict, total: int = 1000) -> tuple:
    """The chain spec, the chain with the agent's task open, and the form's values."""
    spec = chain(section)
    values = {"total": Decimal(total)}
    begun = start(spec, Chain(SUBMITTER), values)
    asked = assignees_found(spec, begun.chain, "sanctions", [AGENT])
    return spec, asked.chain, values


# -- the schema ---------------------------------------------------------------------------------


def test_output_and_guardrails_load_into_the_step():
    spec = chain(approval(REVIEWED, LATER))
    sanctions = spec.step("sanctions")
    assert [key.name for key in sanctions.output.keys] == ["sanctions_hit", "score", "note"]
    assert sanctions.output.key("note").required is False
    assert sanctions.review_group == "finance"
    assert str(sanctions.agent_limit) == "total <= 5000"
    assert sanctions.output.json_schema()["required"] == ["sanctions_hit", "score"]
    assert sanctions.output.key("score").describe() == ("score: a number from 0 to 100; risk score")


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("steps.sanctions.output.missing", "unknown name 'steps.sanctions.output.missing'"),
        ("steps.nowhere.output.score > 3", "unknown name 'steps.nowhere.output.score'"),
        ("steps.sanctions.output.score", "must give a boolean, but gives a number"),
        ("steps.sanctions.output.score == 'x'", "'==' compares a number with a string"),
    ],
)
def test_a_later_step_reads_only_known_outputs_with_their_types(condition, expected):
    found = faults(approval(SANCTIONS, step("compliance", when=condition)))
    assert len(found) == 1
    assert found[0].startswith("approval.steps[1].when: ")
    assert expected in found[0]


def test_a_step_cannot_read_its_own_or_a_later_steps_output():
    found = faults(approval(step("first", when="steps.sanctions.output.sanctions_hit"), SANCTIONS))
    assert found == [
        "approval.steps[0].when: unknown name 'steps.sanctions.output.sanctions_hit' (at column 1)"
    ]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"output": {"x": "float"}}, "approval.steps[0].output.x"),
        ({"output": {"Bad-Name": "boolean"}}, "approval.steps[0].output"),
        ({"output": {"x": {"type": "boolean", "minimum": 1}}}, "approval.steps[0].output.x"),
        ({"output": {"x": {"type": "number", "minimum": 5, "maximum": 1}}}, "output.x.minimum"),
        ({"agent_limit": "total < 10"}, "needs 'review'"),
        ({"review": {"group": "finance"}, "agent_limit": "total"}, "must give a boolean"),
        ({"review": {}}, "approval.steps[0].review"),
    ],
)
def test_faults_in_agent_keys_are_reported_at_their_path(changes, expected):
    found = faults(approval(step("sanctions", **changes)))
    assert found, "the schema should have been refused"
    assert any(expected in line for line in found), found


# -- the chain ----------------------------------------------------------------------------------


def test_an_agents_output_is_what_a_later_steps_when_reads():
    spec, running_chain, values = running(approval(SANCTIONS, LATER))
    clean = decide(
        spec,
        running_chain,
        "1.sanctions.7",
        Decision.APPROVE,
        "no hits",
        values,
        agent=True,
        output=GOOD,
    )
    assert isinstance(clean.actions[0], TaskDecided)
    assert (
        StepSkipped("compliance", "not needed: “steps.sanctions.output.sanctions_hit” is not true")
        in clean.actions
    )
    assert clean.chain.state == ChainState.APPROVED
    hit = decide(
        spec,
        running_chain,
        "1.sanctions.7",
        Decision.APPROVE,
        "a near match",
        values,
        agent=True,
        output={"sanctions_hit": True, "score": 80},
    )
    assert AssigneesNeeded("compliance") in hit.actions
    assert hit.chain.outputs["sanctions"] == {"sanctions_hit": True, "score": 80}


@pytest.mark.parametrize(
    ("output", "errors"),
    [
        (None, {"output": ["the step asks for an output; send it with the decision"]}),
        ([1], {"output": ["must be a JSON object"]}),
        ({"score": 1}, {"output.sanctions_hit": ["is required"]}),
        (
            {"sanctions_hit": "no", "score": 1},
            {"output.sanctions_hit": ["'no' is not true or false"]},
        ),
        ({"sanctions_hit": False, "score": 101}, {"output.score": ["101 is more than 100 allows"]}),
        ({**GOOD, "extra": 1}, {"output.extra": ["is not part of this output"]}),
        ({**GOOD, "note": "x" * 21}, {"output.note": ["is longer than 20 characters"]}),
    ],
)
def test_a_bad_output_is_refused_naming_its_path(output, errors):
    spec, running_chain, values = running(approval(SANCTIONS))
    with pytest.raises(OutputRefused) as refused:
        decide(
            spec,
            running_chain,
            "1.sanctions.7",
            Decision.APPROVE,
            "ok",
            values,
            agent=True,
            output=output,
        )
    assert refused.value.errors == errors
    assert refused.value.status == 422


def test_an_agent_must_give_a_rationale():
    spec, running_chain, values = running(approval(SANCTIONS))
    with pytest.raises(DecisionRefused, match="rationale"):
        decide(
            spec,
            running_chain,
            "1.sanctions.7",
            Decision.APPROVE,
            " ",
            values,
            agent=True,
            output=GOOD,
        )


def test_a_person_deciding_an_output_step_gives_no_output():
    spec, running_chain, values = running(approval(SANCTIONS, LATER))
    done = decide(spec, running_chain, "1.sanctions.7", Decision.APPROVE, "", values)
    assert done.chain.state == ChainState.APPROVED  # the `when` reads an empty output: false


def test_within_the_agent_limit_the_agent_decides():
    spec, running_chain, values = running(approval(REVIEWED), total=5000)
    done = decide(
        spec,
        running_chain,
        "1.sanctions.7",
        Decision.APPROVE,
        "clean",
        values,
        agent=True,
        output=GOOD,
    )
    assert done.chain.state == ChainState.APPROVED


def test_above_the_agent_limit_the_decision_is_a_recommendation_a_person_confirms():
    spec, running_chain, values = running(approval(REVIEWED, step("cfo")), total=5001)
    recommended = decide(
        spec,
        running_chain,
        "1.sanctions.7",
        Decision.APPROVE,
        "clean",
        values,
        agent=True,
        output=GOOD,
    )
    assert [type(a) for a in recommended.actions] == [TaskRecommended, ReviewersNeeded]
    assert recommended.chain.task("1.sanctions.7").state == TaskState.RECOMMENDED
    assert recommended.chain.state == ChainState.IN_REVIEW
    asked = reviewers_found(
        spec, recommended.chain, "1.sanctions.7", [SUBMITTER, AGENT, FIONA, FRANK]
    )
    opened = [a.task for a in asked.actions if isinstance(a, TaskOpened)]
    assert [(t.assignee, t.reviews, t.slot) for t in opened] == [
        (FIONA, "1.sanctions.7", "1.sanctions.7"),
        (FRANK, "1.sanctions.7", "1.sanctions.7"),
    ]
    confirmed = decide(spec, asked.chain, opened[0].key, Decision.APPROVE, "", values)
    assert AssigneesNeeded("cfo") in confirmed.actions
    assert confirmed.chain.task(opened[1].key).state == TaskState.CANCELLED


def test_a_reviewer_can_override_the_recommendation():
    spec, running_chain, values = running(approval(REVIEWED), total=9000)
    recommended = decide(
        spec,
        running_chain,
        "1.sanctions.7",
        Decision.APPROVE,
        "clean",
        values,
        agent=True,
        output=GOOD,
    )
    asked = reviewers_found(spec, recommended.chain, "1.sanctions.7", [FIONA])
    key = asked.chain.tasks[-1].key
    overridden = decide(spec, asked.chain, key, Decision.REJECT, "the vendor is listed", values)
    assert overridden.chain.state == ChainState.REJECTED


def test_nobody_to_review_blocks_the_step():
    spec, running_chain, values = running(approval(REVIEWED), total=9000)
    recommended = decide(
        spec,
        running_chain,
        "1.sanctions.7",
        Decision.APPROVE,
        "clean",
        values,
        agent=True,
        output=GOOD,
    )
    blocked = reviewers_found(spec, recommended.chain, "1.sanctions.7", [SUBMITTER, AGENT])
    assert isinstance(blocked.actions[0], StepBlocked)
    assert "nobody in group finance" in blocked.actions[0].reason


def test_an_agent_that_submitted_is_never_asked():
    spec = chain(approval(SANCTIONS))
    begun = start(spec, Chain(AGENT), {"total": Decimal(1)})
    asked = assignees_found(spec, begun.chain, "sanctions", [AGENT])
    assert isinstance(asked.actions[0], StepBlocked)
