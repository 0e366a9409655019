"""Plain words for people: every condition, assignee, step state and event in labels."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.domain.chain import AssigneeSpec, PickKind, StepState
from portal.domain.expressions import parse
from portal.domain.schema import load
from portal.presentation import wording
from tests.fixtures.forms import shipped_schema


@pytest.fixture(scope="module")
def invoice():
    return load(shipped_schema("vendor_invoice"), "vendor_invoice")


@pytest.mark.parametrize(
    ("source", "values", "words"),
    [
        ("total > 10000", {"currency": "EUR"}, "only when the invoice total is above EUR 10,000"),
        ("total > 10000", {}, "only when the invoice total is above 10,000"),
        (
            "10000 <= total",
            {"currency": "GBP"},
            "only when the invoice total is at least GBP 10,000",
        ),
        ("total < 99.50", {"currency": "EUR"}, "only when the invoice total is below EUR 99.5"),
        ("vendor_is_new", {}, "only when this is a new vendor"),
        ("not vendor_is_new", {}, "unless this is a new vendor"),
        ("vendor_is_new == false", {}, "unless this is a new vendor"),
        (
            "total > 100 and not vendor_is_new",
            {"currency": "EUR"},
            "only when the invoice total is above EUR 100"
            " and it is not so that this is a new vendor",
        ),
        (
            "vendor_is_new and total >= 5000",
            {"currency": "EUR"},
            "only when this is a new vendor and the invoice total is at least EUR 5,000",
        ),
        ("po_number == null", {}, "only when the purchase order number is empty"),
        ("po_number", {}, "only when the purchase order number is given"),
        ("currency == 'USD'", {}, "only when the currency is USD – US dollar"),
        ("sum(lines.quantity) > 3", {}, "only in the cases this form's rules set out"),
    ],
)
def test_conditions_are_said_with_the_forms_labels(invoice, source, values, words):
    assert wording.condition(parse(source), invoice, values) == words


def test_a_choice_is_named_by_its_label(invoice):
    cost_centre = invoice.field("cost_centre")
    choice = cost_centre.choices[0]
    words = wording.condition(parse(f"cost_centre in ['{choice.value}']"), invoice)
    assert words == f"only when the cost centre is {choice.label}"


def test_no_condition_says_nothing(invoice):
    assert wording.condition(None, invoice) == ""


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (AssigneeSpec(group="finance"), "everyone in the finance group"),
        (
            AssigneeSpec(group="procurement", pick=PickKind.ROUND_ROBIN),
            "one person from the procurement group, in turn",
        ),
        (
            AssigneeSpec(group="it", pick=PickKind.FEWEST_OPEN),
            "the least busy person in the it group",
        ),
        (AssigneeSpec(manager=1), "the submitter's manager"),
        (AssigneeSpec(manager=2), "the submitter's manager, 2 levels up"),
        (AssigneeSpec(lookup_field="cost_centre"), "the approver for the chosen cost centre"),
        (AssigneeSpec(user="carol@example.com"), "Carol Chen"),
    ],
)
def test_assignees_are_said_in_words(invoice, spec, words):
    said = wording.assignee(spec, invoice, {"carol@example.com": "Carol Chen"})
    assert said == words
    assert "“" not in said and "_" not in said


def test_the_shipped_chain_names_no_field(invoice):
    for step in invoice.approval.steps:
        for spec in step.assignees:
            said = wording.assignee(spec, invoice)
            assert "cost_centre" not in said and "“" not in said
        if step.when is not None:
            said = wording.condition(step.when, invoice, {"currency": "EUR"})
            assert str(step.when) not in said


@pytest.mark.parametrize(
    ("state", "status", "will_run", "words"),
    [
        (StepState.WAITING, "in_review", True, "Later"),
        (StepState.WAITING, "in_review", False, "Not needed"),
        (StepState.WAITING, "rejected", True, "Not reached"),
        (StepState.WAITING, "withdrawn", True, "Not reached"),
        (StepState.WAITING, "changes_requested", True, "Not reached"),
        (StepState.CANCELLED, "rejected", True, "Not reached"),
        (StepState.CANCELLED, "approved", True, "Not needed"),
        (StepState.SKIPPED, "approved", False, "Not needed"),
        (StepState.ACTIVE, "in_review", True, "Waiting for a decision"),
        (StepState.CHANGES_REQUESTED, "changes_requested", True, "Changes requested"),
    ],
)
def test_a_step_that_will_not_run_is_never_waiting(state, status, will_run, words):
    assert wording.step_status(state, status, will_run)[0] == words


@pytest.mark.parametrize(
    ("text", "person"),
    [
        ("system (start_chain job)", "Baton"),
        ("system (escalation: the manager)", "Baton"),
        ("system", "Baton"),
        ("bob@example.com", "Bob Okafor"),
        ("someone@example.com", "someone@example.com"),
    ],
)
def test_system_actors_are_baton(text, person):
    assert wording.actor(text, {"bob@example.com": "Bob Okafor"}) == person


@pytest.mark.parametrize(
    ("count", "words"), [(0, "0 events"), (1, "1 event"), (2, "2 events"), (1500, "1,500 events")]
)
def test_counts_take_the_right_plural(count, words):
    assert wording.plural(count, "event") == words


@pytest.mark.parametrize(
    ("action", "details", "words"),
    [
        ("changes_requested", {}, "Changes requested"),
        ("rejected", {}, "Request rejected"),
        ("round_started", {"round": 1}, "Sent for approval"),
        ("round_started", {"round": 2}, "Sent for approval again (round 2)"),
        (
            "task_opened",
            {"step": "cost_centre_owner", "assignee": "bob@example.com"},
            "Cost-centre owner approval: Bob Okafor asked to decide",
        ),
        (
            "task_decided",
            {"step": "finance", "decision": "request_changes"},
            "Finance approval: Changes requested",
        ),
        ("step_skipped", {"step": "new_vendor_check"}, "New vendor check not needed"),
        ("step_finished", {"step": "cfo", "outcome": "approved"}, "CFO approval approved"),
        ("task_opened", {"step": "no_such_step"}, "A step: someone asked to decide"),
    ],
)
def test_events_are_said_without_names_of_steps_or_jobs(invoice, action, details, words):
    said = wording.event(action, details, invoice, {"bob@example.com": "Bob Okafor"})
    assert said == words
    assert "_" not in said


def test_label_phrase_keeps_acronyms(invoice):
    field = invoice.field("vendor_tax_id")
    assert wording.label_phrase(field) == "the vendor VAT / tax ID"


@pytest.mark.parametrize(
    ("source", "values", "answer"),
    [
        (None, {}, True),
        ("total > 10000", {"total": Decimal("12000")}, True),
        ("total > 10000", {"total": Decimal("900")}, False),
        ("total > 10000", {"total": None}, None),
        ("vendor_is_new", {"vendor_is_new": False}, False),
    ],
)
def test_whether_a_step_runs_is_known_only_from_filled_in_values(source, values, answer):
    assert wording.runs(parse(source) if source else None, values) is answer
    assert wording.will_run(parse(source) if source else None, values) is (answer is not False)
