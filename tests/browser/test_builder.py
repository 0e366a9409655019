"""An admin builds a capital expense request from blank in the form builder, without the JSON
tab; publishes it; staff submit it and its chain runs as it was built. The JSON the builder
wrote is the one written by hand below."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import Submission
from portal.services import forms as form_service
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_schema_editor import sign_in_as_admin
from tests.browser.test_vendor_invoice import sign_in

#: What the builder must write for the request built below, written by hand.
CAPITAL_EXPENSE = {
    "title": "Capital expense request",
    "fields": [
        {"type": "text", "name": "asset", "label": "Asset", "required": True},
        {"type": "money", "name": "budget", "label": "Budget", "currency": "EUR"},
        {
            "type": "line_items",
            "name": "lines",
            "label": "Lines",
            "fields": [
                {"type": "text", "name": "item", "label": "Item"},
                {"type": "integer", "name": "quantity", "label": "Quantity"},
                {"type": "money", "name": "unit_price", "label": "Unit price", "currency": "EUR"},
            ],
        },
        {
            "type": "money",
            "name": "total",
            "label": "Total",
            "currency": "EUR",
            "compute": "sum(lines.quantity * lines.unit_price)",
        },
        {"type": "boolean", "name": "new_vendor", "label": "New vendor"},
        {
            "type": "text",
            "name": "tax_id",
            "label": "Tax ID",
            "required": True,
            "visible_if": "new_vendor",
        },
        {
            "type": "textarea",
            "name": "justification",
            "label": "Justification",
            "required_if": "total > 50000",
        },
    ],
    "approval": {
        "fallback_group": "admin",
        "steps": [
            {"name": "manager", "title": "Manager", "assignees": [{"manager": 1}]},
            {"name": "senior_manager", "title": "Senior manager", "assignees": [{"manager": 2}]},
            {
                "name": "legal",
                "title": "Legal",
                "assignees": [{"group": "legal"}],
                "when": "new_vendor",
            },
            {
                "name": "board",
                "title": "Board",
                "assignees": [{"group": "board"}],
                "policy": {"quorum": 2},
                "when": "total > 100000",
            },
        ],
    },
}
AXE = Path(__file__).parent / "vendor" / "axe.min.js"


def settled(page) -> None:
    """Wait until htmx has sent, swapped and settled everything."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )


def operate(page, action) -> None:
    """Do `action` (a click, a choice, leaving a box) and wait for the builder to answer."""
    with page.expect_response(lambda response: "/operate" in response.url):
        action()
    settled(page)


def type_into(page, label: str, value: str, within=None) -> None:
    """Type into the box labelled `label`, then leave it: the builder applies it."""
    box = (within or page).get_by_label(label, exact=True)
    box.fill(value)
    operate(page, lambda: box.press("Tab"))


def choose(page, label: str, option: str, within=None) -> None:
    operate(
        page, lambda: (within or page).get_by_label(label, exact=True).select_option(label=option)
    )


def click(page, name: str, within=None) -> None:
    operate(page, lambda: (within or page).get_by_role("button", name=name, exact=True).click())


def add_field(page, palette_name: str, label: str) -> None:
    click(page, f"Add field: {palette_name}")
    type_into(page, "Label", label)
    expect(page.locator(".bentry--selected .bentry__words")).to_have_text(label)


def condition(page, legend: str):
    return page.get_by_role("group", name=legend)


def axe_violations(page) -> list[dict]:
    """Serious and critical axe-core findings on the page as it is now.

    axe-core sets inline styles while it measures, which the portal's CSP refuses, so it runs in
    a browser context made with bypass_csp (see `axe_page`)."""
    page.evaluate(AXE.read_text("utf-8"))
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture
def people(make_user, org):
    """A legal group of one and a board of three, beside the demo organisation."""
    made = {"lena": make_user("lena@example.com", "Lena Vogt", groups=["legal"])}
    for key, name in (("bea", "Bea Torres"), ("ben", "Ben Adler"), ("bo", "Bo Lind")):
        made[key] = make_user(f"{key}@example.com", name, groups=["board"])
    db.session.commit()
    return made


@pytest.mark.slow
def test_admin_builds_a_capital_expense_request_from_blank_and_its_chain_runs_as_built(
    app, page, chromium, live_server, org, ada, people, approvals, screenshot
):
    sign_in_as_admin(page, live_server, ada.email)
    page.get_by_role("link", name="Form builder").click()
    page.get_by_label("Form name").fill("capital_expense")
    page.get_by_label("A blank form").check()
    page.get_by_role("button", name="Open in the builder").click()
    expect(page.get_by_role("heading", name="New form capital_expense")).to_be_visible()
    expect(page.locator(".bfaults")).to_contain_text("the form has no fields yet")

    type_into(page, "Title", "Capital expense request")
    add_field(page, "Short text", "Asset")
    operate(page, lambda: page.get_by_label("An answer is required").check())
    add_field(page, "Amount of money", "Budget")
    add_field(page, "Table of lines", "Lines")
    column_kind = page.get_by_label("New column of")
    column_kind.select_option(label="Whole number")
    click(page, "Add column")
    type_into(page, "Label", "Quantity")
    click(page, "Back to the table Lines")
    page.get_by_label("New column of").select_option(label="Amount of money")
    click(page, "Add column")
    type_into(page, "Label", "Unit price")
    click(page, "Back to the table Lines")
    expect(page.locator(".bcolumns .bentry__words")).to_have_text(
        ["Item", "Quantity", "Unit price"]
    )

    add_field(page, "Amount of money", "Total")
    operate(page, lambda: page.get_by_label("Sum over a table of lines").check())
    choose(page, "×", "Unit price")
    expect(page.locator("#computed")).to_contain_text("sum(lines.quantity * lines.unit_price)")

    add_field(page, "Yes/no tick box", "New vendor")
    add_field(page, "Short text", "Tax ID")
    operate(page, lambda: page.get_by_label("An answer is required").check())
    shown = condition(page, "Show this field when")
    click(page, "Add a condition", shown)
    choose(page, "Field of condition 1", "New vendor", condition(page, "Show this field when"))
    expect(condition(page, "Show this field when")).to_contain_text("In the JSON: new_vendor")

    add_field(page, "Long text", "Justification")
    click(page, "Add a condition", condition(page, "Required only when"))
    required = condition(page, "Required only when")
    choose(page, "Field of condition 1", "Total", required)
    required = condition(page, "Required only when")
    choose(page, "Comparison of condition 1", "is more than", required)
    type_into(page, "Value of condition 1", "50,000", condition(page, "Required only when"))
    expect(condition(page, "Required only when")).to_contain_text("total > 50000")
    preview = page.locator("#preview")
    expect(preview).to_contain_text("Tax ID")
    screenshot("builder-form")

    # The chain: manager, manager's manager, legal for new vendors, 2 of 3 board members above
    # 100,000.
    operate(page, lambda: page.get_by_role("tab", name="Approval chain").click())
    click(page, "Add step")
    type_into(page, "Title", "Manager")
    click(page, "Add step")
    type_into(page, "Title", "Senior manager")
    choose(page, "How many levels up, line 1", "their manager's manager")
    click(page, "Add step")
    type_into(page, "Title", "Legal")
    choose(page, "Who decides, line 1", "a group")
    type_into(page, "Group, line 1", "legal")
    click(page, "Add a condition", condition(page, "Ask this step only when"))
    choose(page, "Field of condition 1", "New vendor", condition(page, "Ask this step only when"))
    click(page, "Add step")
    type_into(page, "Title", "Board")
    choose(page, "Who decides, line 1", "a group")
    type_into(page, "Group, line 1", "board")
    choose(page, "Approvals needed", "a number of them")
    expect(page.get_by_label("How many", exact=True)).to_have_value("2")
    click(page, "Add a condition", condition(page, "Ask this step only when"))
    asked = condition(page, "Ask this step only when")
    choose(page, "Field of condition 1", "Total", asked)
    choose(
        page,
        "Comparison of condition 1",
        "is more than",
        condition(page, "Ask this step only when"),
    )
    type_into(page, "Value of condition 1", "100000", condition(page, "Ask this step only when"))
    plan = preview.locator(".plan")
    expect(plan.locator(".plan__step")).to_have_count(4)
    expect(page.locator("#publish-state")).to_have_text("No problems found: ready to publish.")
    screenshot("builder-chain")

    operate(page, lambda: page.get_by_role("tab", name="JSON").click())
    written = json.loads(page.get_by_label("The schema as JSON").input_value())
    assert written == CAPITAL_EXPENSE

    page.get_by_role("button", name="Review and publish").click()
    changes = page.locator(".review-changes")
    expect(changes).to_contain_text(
        "Added field Tax ID (Short text), shown when New vendor is ticked"
    )
    expect(changes).to_contain_text(
        "Added field Justification (Long text), required when Total is more than EUR 50,000"
    )
    expect(changes).to_contain_text(
        "Added step Board, decided by group board (everyone in the group) (2 approvals needed),"
        " only when Total is more than EUR 100,000"
    )
    screenshot("builder-review")
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_text("Published Capital expense request version 1.")).to_be_visible()
    published = form_service.find_form("capital_expense").current_version
    assert json.loads(published.schema_text) == CAPITAL_EXPENSE

    # Staff submit it: 2 machines at 60,000 from a new vendor.
    staff_context = chromium.new_context(viewport={"width": 1280, "height": 900})
    staff = staff_context.new_page()
    try:
        sign_in(staff, live_server, "alice@example.com")
        staff.goto(f"{live_server}/forms/capital_expense/new")
        staff.get_by_label("Asset").fill("CNC milling machine")
        staff.locator("#budget").fill("150000")
        staff.locator("#lines-0-item").fill("Milling machine")
        staff.locator("#lines-0-quantity").fill("2")
        staff.locator("#lines-0-unit_price").fill("60000")
        expect(staff.locator("#out-total")).to_have_text(re.compile("120,000.00"))
        staff.get_by_label("New vendor").check()
        staff.get_by_label("Tax ID").fill("DE 999 888 777")
        staff.get_by_label("Justification").fill("The old machine cannot hold the tolerances.")
        staff.get_by_role("button", name="Submit").click()
        expect(staff.get_by_text("Submitted. Your request is")).to_be_visible()
    finally:
        staff_context.close()

    submission = db.session.scalars(select(Submission)).one()
    approvals.run_jobs()
    steps = [
        ("manager", ["bob@example.com"]),
        ("senior_manager", ["carol@example.com"]),
        ("legal", ["lena@example.com"]),
    ]
    for step, emails in steps:
        tasks = approvals.open_tasks(submission)
        assert [(t.step, t.assignee.email) for t in tasks] == [(step, e) for e in emails]
        approvals.decide_in_inbox(emails[0], tasks[0], "approve")
    board = approvals.open_tasks(submission)
    assert sorted(t.assignee.email for t in board) == [
        "bea@example.com",
        "ben@example.com",
        "bo@example.com",
    ]
    assert {t.step for t in board} == {"board"}
    approvals.decide_in_inbox(board[0].assignee.email, board[0], "approve")
    assert approvals.submission(submission.id).status == "in_review"  # one of two so far
    approvals.decide_in_inbox(board[1].assignee.email, board[1], "approve")
    assert approvals.submission(submission.id).status == "approved"


@pytest.fixture
def axe_page(chromium, live_server, ada):
    """A tab signed in as Ada in a context where axe-core may run (CSP bypassed)."""
    context = chromium.new_context(
        viewport={"width": 1280, "height": 900}, locale="en-GB", bypass_csp=True
    )
    tab = context.new_page()
    sign_in_as_admin(tab, live_server, ada.email)
    yield tab
    context.close()


def test_builder_pages_have_no_serious_accessibility_faults(
    axe_page, live_server, org, vendor_invoice
):
    page = axe_page
    page.goto(f"{live_server}/admin/build/new")
    assert axe_violations(page) == []
    page.goto(f"{live_server}/admin/build/vendor_invoice")
    assert axe_violations(page) == []
    operate(
        page, lambda: page.get_by_role("button", name=re.compile("^This is a new vendor")).click()
    )
    operate(page, lambda: page.get_by_role("button", name=re.compile("^Vendor VAT")).click())
    assert axe_violations(page) == []
    operate(page, lambda: page.get_by_role("button", name=re.compile("^Invoice lines")).click())
    assert axe_violations(page) == []
    operate(page, lambda: page.get_by_role("tab", name="Approval chain").click())
    assert axe_violations(page) == []
    operate(
        page,
        lambda: page.get_by_role("button", name=re.compile("^Cost-centre owner approval")).click(),
    )
    assert axe_violations(page) == []
    operate(page, lambda: page.get_by_role("tab", name="JSON").click())
    assert axe_violations(page) == []
    page.get_by_role("button", name="Review and publish").click()
    expect(page.get_by_role("heading", name="Publish Vendor invoice?")).to_be_visible()
    assert axe_violations(page) == []


def test_the_builder_fits_a_phone(chromium, live_server, ada, org, vendor_invoice, screenshot):
    """At 390 px the builder's panels stack; nothing of it is wider than the screen."""
    context = chromium.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
    phone = context.new_page()
    try:
        sign_in_as_admin(phone, live_server, ada.email)
        phone.goto(f"{live_server}/admin/build/vendor_invoice")
        operate(phone, lambda: phone.get_by_role("button", name=re.compile("^Vendor VAT")).click())
        expect(phone.get_by_role("group", name="Show this field when")).to_be_visible()
        too_wide = phone.evaluate(
            """() => [...document.querySelectorAll('#builder-form *')]
                .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                .map(e => e.tagName + '.' + e.className).slice(0, 5)"""
        )
        assert too_wide == []
        phone.get_by_role("group", name="Show this field when").scroll_into_view_if_needed()
        ARTIFACTS.mkdir(exist_ok=True)
        phone.screenshot(path=str(ARTIFACTS / "builder-phone.png"))
    finally:
        context.close()


def field_order(page) -> list[str]:
    return page.locator("[data-sortable=fields] .bentry__words").all_inner_texts()


def test_fields_move_by_keyboard_and_by_dragging_and_a_draft_survives_a_reload(
    page, live_server, ada, org, vendor_invoice
):
    sign_in_as_admin(page, live_server, ada.email)
    page.goto(f"{live_server}/admin/build/vendor_invoice")
    before = field_order(page)
    assert before[:3] == ["Vendor", "Vendor name", "Vendor billing email"]

    move_up = page.get_by_role("button", name="Move Vendor name up")
    move_up.focus()
    operate(page, lambda: page.keyboard.press("Enter"))
    assert field_order(page)[:2] == ["Vendor name", "Vendor"]
    assert page.locator("#builder-status").inner_text() == "Moved to position 1"

    handle = page.locator('[data-place="field:2"] .bentry__grip')
    target = page.locator('[data-place="field:0"] .bentry__grip')
    operate(page, lambda: handle.drag_to(target))
    assert field_order(page)[0] == "Vendor billing email"
    moved = json.loads(page.locator("#schema-text").input_value())
    assert [f.get("name") for f in moved["fields"][:2]] == ["vendor_email", "vendor_name"]

    page.reload()  # closing the browser keeps the unpublished change in this browser
    offer = page.locator("#draft-offer")
    expect(offer).to_be_visible()
    assert field_order(page)[0] == "Vendor"  # the page opened the published version
    operate(page, lambda: offer.get_by_role("button", name="Restore my changes").click())
    assert field_order(page)[0] == "Vendor billing email"
    page.reload()
    operate(
        page,
        lambda: (
            page.locator("#draft-offer").get_by_role("button", name="Restore my changes").click()
        ),
    )
    page.get_by_role("button", name="Review and publish").click()
    expect(page.locator(".review-changes")).to_contain_text("Fields in a new order")
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_text("Published Vendor invoice version 2.")).to_be_visible()
    page.goto(f"{live_server}/admin/build/vendor_invoice")
    expect(page.locator("#draft-offer")).to_be_hidden()  # publishing cleared the draft
    assert field_order(page)[0] == "Vendor billing email"
