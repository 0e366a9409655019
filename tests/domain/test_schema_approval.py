"""The `approval` section of form schemas: its faults, and the ChainSpec it builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.domain import schema
from portal.domain.chain import AssigneeSpec, ChainSpec, Decision, PickKind, StepSpec
from portal.domain.schema import load, load_text
from tests.fixtures.schemas import faults as schema_faults

SHIPPED = Path(__file__).resolve().parents[2] / "form_schemas"

NAME_RULE = "must be lower-case letters, digits and underscores, starting with a letter"
EMAIL = "'^[^@\\\\s]+@[^@\\\\s]+$'"
ONE_KIND = "an assignee names exactly one of 'user', 'group', 'manager', 'field' or 'lookup'"
PICK_NEEDS_GROUP = "'pick' chooses among a group's members, so it needs 'group'"

#: Fields of every kind an approval section can refer to.
FIELDS = [
    {"type": "text", "name": "title", "label": "Title"},
    {"type": "email", "name": "approver", "label": "Approver"},
    {"type": "textarea", "name": "notes", "label": "Notes"},
    {"type": "integer", "name": "total", "label": "Total"},
    {"type": "boolean", "name": "urgent", "label": "Urgent"},
    {"type": "date", "name": "due", "label": "Due"},
    {"type": "select", "name": "cost_centre", "label": "Cost centre", "choices": ["CC-1", "CC-2"]},
    {
        "type": "radio",
        "name": "system",
        "label": "System",
        "choices": [{"value": "erp", "label": "ERP"}, {"value": "crm", "label": "CRM"}],
    },
    {"type": "multi_select", "name": "envs", "label": "Environments", "choices": ["dev", "prod"]},
    {
        "type": "line_items",
        "name": "lines",
        "label": "Lines",
        "fields": [{"type": "integer", "name": "amount", "label": "Amount"}],
    },
    {"type": "section", "title": "More"},
]


def step(name: str = "manager", **options) -> dict:
    """A step asking group `finance` unless `assignees` says otherwise."""
    return {"name": name, "title": name.title(), "assignees": [{"group": "finance"}], **options}


def asking(*assignees: dict) -> dict:
    return step(assignees=list(assignees))


def approval(*steps: dict, **top) -> dict:
    return {"fallback_group": "finance", "steps": list(steps) or [step()], **top}


def document(section: dict | list | None) -> dict:
    doc = {"title": "Test form", "fields": FIELDS}
    if section is not None:
        doc["approval"] = section
    return doc


def chain(section: dict) -> ChainSpec:
    """The ChainSpec an approval section builds (it must load)."""
    return load(document(section), "test").approval


def faults(section) -> list[str]:
    """Every fault `load` reports for a form with this approval section."""
    return schema_faults(document(section))


# -- the meta-schema pass ---------------------------------------------------------------------

META_FAULTS = {
    "approval that is not an object": ([], ["approval: [] is not of type 'object'"]),
    "missing fallback_group": (
        {"steps": [step()]},
        ["approval: 'fallback_group' is a required property"],
    ),
    "missing steps": (
        {"fallback_group": "finance"},
        ["approval: 'steps' is a required property"],
    ),
    "missing both": (
        {},
        [
            "approval: 'fallback_group' is a required property",
            "approval: 'steps' is a required property",
        ],
    ),
    "no steps": (approval(steps=[]), ["approval.steps: [] should be non-empty"]),
    "fallback group that is not a name": (
        approval(fallback_group="Finance Team"),
        [f"approval.fallback_group: 'Finance Team' {NAME_RULE}"],
    ),
    "unknown key in the section": (
        approval(fallback="finance"),
        ["approval: unknown key 'fallback'"],
    ),
    "unknown after_changes": (
        approval(after_changes="continue"),
        ["approval.after_changes: 'continue' is not one of ['restart', 'resume']"],
    ),
    "unknown form signature": (
        approval(signature="pin"),
        ["approval.signature: 'pin' is not one of ['password']"],
    ),
    "unknown step key": (
        approval(step(polcy="all")),
        ["approval.steps[0]: unknown key 'polcy'"],
    ),
    "step without assignees": (
        approval({"name": "manager", "title": "Manager"}),
        ["approval.steps[0]: 'assignees' is a required property"],
    ),
    "step without a title": (
        approval({"name": "manager", "assignees": [{"manager": 1}]}),
        ["approval.steps[0]: 'title' is a required property"],
    ),
    "step with an empty title": (
        approval(step(title="")),
        ["approval.steps[0].title: '' should be non-empty"],
    ),
    "step name that is not a name": (
        approval(step("Manager approval")),
        [f"approval.steps[0].name: 'Manager approval' {NAME_RULE}"],
    ),
    "step with no assignees": (
        approval(step(assignees=[])),
        ["approval.steps[0].assignees: [] should be non-empty"],
    ),
    "unknown policy": (
        approval(step(policy="most")),
        ["approval.steps[0].policy: 'most' is not one of ['any', 'all']"],
    ),
    "quorum given as a word": (
        approval(step(policy="quorum")),
        ["approval.steps[0].policy: 'quorum' is not one of ['any', 'all']"],
    ),
    "quorum below one": (
        approval(step(policy={"quorum": 0})),
        ["approval.steps[0].policy.quorum: 0 is less than the minimum of 1"],
    ),
    "quorum above a hundred": (
        approval(step(policy={"quorum": 101})),
        ["approval.steps[0].policy.quorum: 101 is greater than the maximum of 100"],
    ),
    "quorum that is not a whole number": (
        approval(step(policy={"quorum": "2"})),
        ["approval.steps[0].policy.quorum: '2' is not of type 'integer'"],
    ),
    "policy object without quorum": (
        approval(step(policy={})),
        ["approval.steps[0].policy: 'quorum' is a required property"],
    ),
    "policy object with another key": (
        approval(step(policy={"quorum": 2, "of": 3})),
        ["approval.steps[0].policy: unknown key 'of'"],
    ),
    "when that is not text": (
        approval(step(when=True)),
        ["approval.steps[0].when: True is not of type 'string'"],
    ),
    "unknown step signature": (
        approval(step(signature="yes")),
        ["approval.steps[0].signature: 'yes' is not one of ['password']"],
    ),
    "empty sign_as": (
        approval(step(sign_as="")),
        ["approval.steps[0].sign_as: '' should be non-empty"],
    ),
    "assignee naming two kinds": (
        approval(asking({"group": "finance", "manager": 1})),
        [f"approval.steps[0].assignees[0]: {ONE_KIND}"],
    ),
    "assignee naming a user and a field": (
        approval(asking({"user": "ann@example.com", "field": "approver"})),
        [f"approval.steps[0].assignees[0]: {ONE_KIND}"],
    ),
    "assignee naming no kind": (
        approval(asking({})),
        [
            "approval.steps[0].assignees[0]: {} should be non-empty",
            f"approval.steps[0].assignees[0]: {ONE_KIND}",
        ],
    ),
    "pick without group": (
        approval(asking({"pick": "round_robin"})),
        [
            f"approval.steps[0].assignees[0]: {ONE_KIND}",
            f"approval.steps[0].assignees[0]: {PICK_NEEDS_GROUP}",
        ],
    ),
    "pick with a user": (
        approval(asking({"user": "ann@example.com", "pick": "round_robin"})),
        [f"approval.steps[0].assignees[0]: {PICK_NEEDS_GROUP}"],
    ),
    "unknown pick": (
        approval(asking({"group": "finance", "pick": "random"})),
        [
            "approval.steps[0].assignees[0].pick: 'random' is not one of "
            "['all', 'round_robin', 'fewest_open']"
        ],
    ),
    "unknown assignee key": (
        approval(asking({"group": "finance", "role": "clerk"})),
        ["approval.steps[0].assignees[0]: unknown key 'role'"],
    ),
    "manager level zero": (
        approval(asking({"manager": 0})),
        ["approval.steps[0].assignees[0].manager: 0 is less than the minimum of 1"],
    ),
    "manager level six": (
        approval(asking({"manager": 6})),
        ["approval.steps[0].assignees[0].manager: 6 is greater than the maximum of 5"],
    ),
    "manager level that is not a number": (
        approval(asking({"manager": True})),
        ["approval.steps[0].assignees[0].manager: True is not of type 'integer'"],
    ),
    "user that is not an email": (
        approval(asking({"user": "ann"})),
        [f"approval.steps[0].assignees[0].user: 'ann' does not match {EMAIL}"],
    ),
    "user with a space": (
        approval(asking({"user": "ann @example.com"})),
        [f"approval.steps[0].assignees[0].user: 'ann @example.com' does not match {EMAIL}"],
    ),
    "user with two at signs": (
        approval(asking({"user": "ann@x@example.com"})),
        [f"approval.steps[0].assignees[0].user: 'ann@x@example.com' does not match {EMAIL}"],
    ),
    "group that is not a name": (
        approval(asking({"group": "Finance"})),
        [f"approval.steps[0].assignees[0].group: 'Finance' {NAME_RULE}"],
    ),
    "lookup without users": (
        approval(asking({"lookup": {"field": "system"}})),
        ["approval.steps[0].assignees[0].lookup: 'users' is a required property"],
    ),
    "lookup with no users": (
        approval(asking({"lookup": {"field": "system", "users": {}}})),
        ["approval.steps[0].assignees[0].lookup.users: {} should be non-empty"],
    ),
    "lookup user that is not an email": (
        approval(asking({"lookup": {"field": "system", "users": {"erp": "fiona"}}})),
        [f"approval.steps[0].assignees[0].lookup.users.erp: 'fiona' does not match {EMAIL}"],
    ),
    "lookup with another key": (
        approval(
            asking({"lookup": {"field": "system", "users": {"erp": "a@b.c"}, "default": "x"}})
        ),
        ["approval.steps[0].assignees[0].lookup: unknown key 'default'"],
    ),
    "faults in two steps": (
        approval(step("a", policy={"quorum": 0}), step("b", assignees=[{"manager": 9}])),
        [
            "approval.steps[0].policy.quorum: 0 is less than the minimum of 1",
            "approval.steps[1].assignees[0].manager: 9 is greater than the maximum of 5",
        ],
    ),
}


@pytest.mark.parametrize(("section", "expected"), META_FAULTS.values(), ids=META_FAULTS.keys())
def test_meta_schema_fault_in_approval_is_reported_at_its_path(section, expected):
    assert faults(section) == expected


def test_thirty_steps_at_most():
    assert chain(approval(*(step(f"s{i}") for i in range(30)))).steps[-1].name == "s29"
    [fault] = faults(approval(*(step(f"s{i}") for i in range(31))))
    assert fault.startswith("approval.steps: [{'name': 's0', ")
    assert fault.endswith("] is too long")


def test_meta_schema_faults_in_approval_come_with_the_semantic_ones():
    section = approval(step("a", when="nope"), step("a", policy="most"))
    assert faults(section) == [
        "approval.steps[1].policy: 'most' is not one of ['any', 'all']",
        "approval.steps[0].when: unknown name 'nope' (at column 1)",
        "approval.steps[1].name: 'a' is already used by approval.steps[0]",
    ]


def test_meta_schema_assignee_kinds_and_picks_match_the_engine():
    kinds = [rule["required"][0] for rule in schema.meta_schema()["$defs"]["assignee"]["oneOf"]]
    assert kinds == ["user", "group", "manager", "field", "lookup"]
    picks = schema.meta_schema()["$defs"]["assignee"]["properties"]["pick"]["enum"]
    assert picks == [kind.value for kind in PickKind]


# -- the semantic pass ------------------------------------------------------------------------

FIELD_RULE = (
    "must name an email, text, select or radio field that holds the approver's email address"
)
LOOKUP_RULE = "must name a select or radio field"

SEMANTIC_FAULTS = {
    "duplicate step name": (
        approval(step("a"), step("b"), step("a")),
        ["approval.steps[2].name: 'a' is already used by approval.steps[0]"],
    ),
    "step name used three times": (
        approval(step("a"), step("a"), step("a")),
        [
            "approval.steps[1].name: 'a' is already used by approval.steps[0]",
            "approval.steps[2].name: 'a' is already used by approval.steps[0]",
        ],
    ),
    "when that does not parse": (
        approval(step(when="total >")),
        ["approval.steps[0].when: the expression ends too soon (at column 8)"],
    ),
    "when naming an unknown field": (
        approval(step(when="totl > 100")),
        ["approval.steps[0].when: unknown name 'totl' (at column 1)"],
    ),
    "when giving a number": (
        approval(step(when="total + 1")),
        ["approval.steps[0].when: must give a boolean, but gives a number"],
    ),
    "when giving a list": (
        approval(step(when="lines.amount > 5")),
        ["approval.steps[0].when: must give a boolean, but gives a list of boolean"],
    ),
    "auto_approve_if that does not parse": (
        approval(step(auto_approve_if="total < < 5")),
        ["approval.steps[0].auto_approve_if: unexpected '<' (at column 9)"],
    ),
    "auto_approve_if giving text": (
        approval(step(auto_approve_if="title")),
        ["approval.steps[0].auto_approve_if: must give a boolean, but gives a string"],
    ),
    "auto_approve_if giving a list": (
        approval(step(auto_approve_if="envs")),
        ["approval.steps[0].auto_approve_if: must give a boolean, but gives a list of string"],
    ),
    "when and auto_approve_if both wrong": (
        approval(step(when="nope", auto_approve_if="total")),
        [
            "approval.steps[0].when: unknown name 'nope' (at column 1)",
            "approval.steps[0].auto_approve_if: must give a boolean, but gives a number",
        ],
    ),
    "field assignee naming nothing": (
        approval(asking({"field": "boss"})),
        [f"approval.steps[0].assignees[0].field: 'boss' {FIELD_RULE}"],
    ),
    "field assignee naming a textarea": (
        approval(asking({"field": "notes"})),
        [f"approval.steps[0].assignees[0].field: 'notes' {FIELD_RULE}"],
    ),
    "field assignee naming a number": (
        approval(asking({"field": "total"})),
        [f"approval.steps[0].assignees[0].field: 'total' {FIELD_RULE}"],
    ),
    "field assignee naming a multi_select": (
        approval(asking({"field": "envs"})),
        [f"approval.steps[0].assignees[0].field: 'envs' {FIELD_RULE}"],
    ),
    "field assignee naming a table": (
        approval(asking({"field": "lines"})),
        [f"approval.steps[0].assignees[0].field: 'lines' {FIELD_RULE}"],
    ),
    "lookup on a missing field": (
        approval(asking({"lookup": {"field": "office", "users": {"x": "a@example.com"}}})),
        [f"approval.steps[0].assignees[0].lookup.field: 'office' {LOOKUP_RULE}"],
    ),
    "lookup on a text field": (
        approval(asking({"lookup": {"field": "title", "users": {"x": "a@example.com"}}})),
        [f"approval.steps[0].assignees[0].lookup.field: 'title' {LOOKUP_RULE}"],
    ),
    "lookup on a multi_select": (
        approval(asking({"lookup": {"field": "envs", "users": {"dev": "a@example.com"}}})),
        [f"approval.steps[0].assignees[0].lookup.field: 'envs' {LOOKUP_RULE}"],
    ),
    "lookup keys that are not choices": (
        approval(
            asking(
                {
                    "lookup": {
                        "field": "cost_centre",
                        "users": {"CC-1": "a@example.com", "CC-9": "b@example.com", "cc-2": "c@x"},
                    }
                }
            )
        ),
        [
            "approval.steps[0].assignees[0].lookup.users: 'CC-9' is not one of the choices of "
            "'cost_centre'",
            "approval.steps[0].assignees[0].lookup.users: 'cc-2' is not one of the choices of "
            "'cost_centre'",
        ],
    ),
    "lookup key that is a choice label": (
        approval(asking({"lookup": {"field": "system", "users": {"ERP": "a@example.com"}}})),
        [
            "approval.steps[0].assignees[0].lookup.users: 'ERP' is not one of the choices of "
            "'system'"
        ],
    ),
    "faults in two assignees of two steps": (
        approval(
            step("a", assignees=[{"group": "finance"}, {"field": "total"}]),
            step("b", assignees=[{"lookup": {"field": "due", "users": {"x": "a@b.c"}}}]),
        ),
        [
            f"approval.steps[0].assignees[1].field: 'total' {FIELD_RULE}",
            f"approval.steps[1].assignees[0].lookup.field: 'due' {LOOKUP_RULE}",
        ],
    ),
}


@pytest.mark.parametrize(
    ("section", "expected"), SEMANTIC_FAULTS.values(), ids=SEMANTIC_FAULTS.keys()
)
def test_semantic_fault_in_approval_is_reported_at_its_path(section, expected):
    assert faults(section) == expected


@pytest.mark.parametrize("kind", ["approver", "title", "cost_centre", "system"])
def test_field_assignee_may_name_any_single_line_text_field(kind):
    assert chain(approval(asking({"field": kind}))).steps[0].assignees == (
        AssigneeSpec(field=kind),
    )


@pytest.mark.parametrize(
    "condition",
    [
        "urgent",
        "total > 1000 and not urgent",
        "'prod' in envs",
        "due < today()",
        "sum(lines.amount) > 5",
    ],
)
def test_conditions_over_any_kind_of_field_load(condition):
    spec = chain(approval(step(when=condition, auto_approve_if=condition)))
    assert str(spec.steps[0].when) == condition
    assert str(spec.steps[0].auto_approve_if) == condition


# -- the ChainSpec it builds -------------------------------------------------------------------


def test_form_without_approval_has_no_chain():
    assert load(document(None), "test").approval is None


def test_minimal_section_builds_the_defaults():
    spec = chain(approval(step("manager", assignees=[{"manager": 1}])))
    assert spec == ChainSpec(
        steps=(
            StepSpec(
                name="manager",
                title="Manager",
                assignees=(AssigneeSpec(manager=1),),
                policy="any",
                quorum=1,
                when=None,
                auto_approve_if=None,
                signature=False,
                sign_as="",
                path="approval.steps[0]",
            ),
        ),
        fallback_group="finance",
        resume_after_changes=False,
    )


@pytest.mark.parametrize(
    ("after_changes", "resume"), [(None, False), ("restart", False), ("resume", True)]
)
def test_after_changes_sets_resume(after_changes, resume):
    top = {"after_changes": after_changes} if after_changes else {}
    assert chain(approval(**top)).resume_after_changes is resume


@pytest.mark.parametrize(
    ("policy", "built", "quorum"),
    [(None, "any", 1), ("any", "any", 1), ("all", "all", 1), ({"quorum": 3}, "quorum", 3)],
)
def test_policy_and_quorum(policy, built, quorum):
    options = {"policy": policy} if policy is not None else {}
    spec = chain(approval(step(**options))).steps[0]
    assert (spec.policy, spec.quorum) == (built, quorum)


def test_form_signature_applies_to_every_step():
    spec = chain(approval(step("a"), step("b", signature="password"), signature="password"))
    assert [s.signature for s in spec.steps] == [True, True]


def test_step_signature_applies_to_that_step_only():
    spec = chain(approval(step("a"), step("b", signature="password"), step("c")))
    assert [s.signature for s in spec.steps] == [False, True, False]


def test_steps_keep_their_order_titles_and_paths():
    spec = chain(approval(step("manager"), step("finance", title="Finance check"), step("cfo")))
    assert [(s.name, s.title, s.path) for s in spec.steps] == [
        ("manager", "Manager", "approval.steps[0]"),
        ("finance", "Finance check", "approval.steps[1]"),
        ("cfo", "Cfo", "approval.steps[2]"),
    ]
    assert spec.step("finance").title == "Finance check"


def test_every_kind_of_assignee_is_built():
    spec = chain(
        approval(
            asking(
                {"user": "Ann.Lee@Example.COM"},
                {"group": "finance"},
                {"group": "finance", "pick": "round_robin"},
                {"group": "it", "pick": "fewest_open"},
                {"manager": 2},
                {"field": "approver"},
                {"lookup": {"field": "system", "users": {"erp": "Fiona@Example.com"}}},
            )
        )
    )
    assert spec.steps[0].assignees == (
        AssigneeSpec(user="ann.lee@example.com"),
        AssigneeSpec(group="finance", pick=PickKind.ALL),
        AssigneeSpec(group="finance", pick=PickKind.ROUND_ROBIN),
        AssigneeSpec(group="it", pick=PickKind.FEWEST_OPEN),
        AssigneeSpec(manager=2),
        AssigneeSpec(field="approver"),
        AssigneeSpec(lookup_field="system", lookup=(("erp", "fiona@example.com"),)),
    )


def test_lookup_keeps_every_choice_in_order_with_emails_lower_cased():
    users = {"crm": "Bob@Example.com", "erp": "FIONA@EXAMPLE.COM"}
    spec = chain(approval(asking({"lookup": {"field": "system", "users": users}})))
    assert spec.steps[0].assignees[0].lookup == (
        ("crm", "bob@example.com"),
        ("erp", "fiona@example.com"),
    )


def test_conditions_are_parsed_expressions_that_evaluate():
    spec = chain(approval(step(when="total >= 1000", auto_approve_if="not urgent")))
    built = spec.steps[0]
    assert built.when.evaluate({"total": 1500}) is True
    assert built.when.evaluate({"total": 999}) is False
    assert built.auto_approve_if.evaluate({"urgent": True}) is False


# -- what a step means and says ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("sign_as", "decision", "meaning"),
    [
        ("Finance", Decision.APPROVE, "Approved as Finance"),
        ("Finance", Decision.REJECT, "Rejected as Finance"),
        ("Finance", Decision.REQUEST_CHANGES, "Changes requested as Finance"),
        (None, Decision.APPROVE, "Approved as Budget check"),
        (None, Decision.REJECT, "Rejected as Budget check"),
    ],
)
def test_meaning_names_sign_as_or_else_the_title(sign_as, decision, meaning):
    options = {"title": "Budget check"} | ({"sign_as": sign_as} if sign_as else {})
    spec = chain(approval(step("budget", **options))).steps[0]
    assert spec.sign_as == (sign_as or "")
    assert spec.meaning(decision) == meaning


@pytest.mark.parametrize(
    ("assignee", "text"),
    [
        ({"user": "ann@example.com"}, "ann@example.com"),
        ({"group": "finance"}, "everyone in group finance"),
        ({"group": "finance", "pick": "all"}, "everyone in group finance"),
        ({"group": "finance", "pick": "round_robin"}, "one of (in turn) group finance"),
        ({"group": "finance", "pick": "fewest_open"}, "the least busy of group finance"),
        ({"manager": 1}, "the submitter's manager"),
        ({"manager": 3}, "the submitter's manager (3 levels up)"),
        ({"field": "approver"}, "the person named in “approver”"),
        (
            {"lookup": {"field": "system", "users": {"erp": "a@example.com"}}},
            "the owner of the chosen “system”",
        ),
    ],
)
def test_assignee_describes_who_is_asked(assignee, text):
    assert chain(approval(asking(assignee))).steps[0].assignees[0].describe() == text


# -- the shipped schemas ----------------------------------------------------------------------


def shipped(name: str) -> ChainSpec:
    path = SHIPPED / f"{name}.json"
    return load_text(path.read_text("utf-8"), name, source=str(path)).approval


def test_access_request_chain():
    spec = shipped("access_request")
    assert spec.fallback_group == "it"
    assert spec.resume_after_changes is True
    assert [(s.name, s.policy, s.quorum) for s in spec.steps] == [
        ("manager", "any", 1),
        ("system_owner", "any", 1),
        ("security_review", "quorum", 2),
        ("provisioning", "any", 1),
    ]
    assert str(spec.step("security_review").when) == (
        "access_level == 'admin' or 'production' in environments"
    )
    assert spec.step("system_owner").assignees[0].lookup_field == "system"
    assert dict(spec.step("system_owner").assignees[0].lookup)["erp"] == "fiona@example.com"
    assert spec.step("provisioning").assignees == (
        AssigneeSpec(group="it", pick=PickKind.FEWEST_OPEN),
    )
    assert spec.step("security_review").meaning(Decision.APPROVE) == "Approved as Security"
    assert not any(s.signature for s in spec.steps)


def test_expense_claim_chain():
    spec = shipped("expense_claim")
    assert spec.fallback_group == "finance"
    assert spec.resume_after_changes is False
    assert [s.name for s in spec.steps] == ["manager", "reimbursement"]
    assert str(spec.step("manager").auto_approve_if) == "total < 50"
    assert spec.step("manager").assignees == (AssigneeSpec(manager=1),)
    assert [s.signature for s in spec.steps] == [False, True]
    assert spec.step("reimbursement").meaning(Decision.REJECT) == "Rejected as Finance"
    assert spec.step("manager").meaning(Decision.APPROVE) == "Approved as Manager approval"


def test_purchase_request_chain():
    spec = shipped("purchase_request")
    assert spec.resume_after_changes is True
    assert [s.name for s in spec.steps] == ["manager", "budget_check", "cfo"]
    assert str(spec.step("manager").auto_approve_if) == "total < 100 and budgeted"
    assert str(spec.step("budget_check").when) == "total >= 2500 or not budgeted"
    assert str(spec.step("cfo").when) == "total > 25000"
    assert spec.step("budget_check").assignees == (
        AssigneeSpec(group="finance", pick=PickKind.ROUND_ROBIN),
    )


def test_vendor_invoice_chain():
    spec = shipped("vendor_invoice")
    assert spec.resume_after_changes is False
    assert [s.name for s in spec.steps] == [
        "cost_centre_owner",
        "new_vendor_check",
        "finance",
        "cfo",
    ]
    owner = spec.step("cost_centre_owner").assignees[0]
    assert owner.lookup_field == "cost_centre"
    assert dict(owner.lookup) == {
        "CC-100": "bob@example.com",
        "CC-200": "bob@example.com",
        "CC-300": "ivan@example.com",
        "CC-400": "bob@example.com",
        "CC-500": "carol@example.com",
    }
    assert str(spec.step("new_vendor_check").when) == "vendor_is_new"
    assert spec.step("finance").policy == "any"
    assert spec.step("cfo").meaning(Decision.APPROVE) == "Approved as CFO"
