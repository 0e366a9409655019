"""The builder's pages through the test client: every shipped schema and every example of
docs/form-schema.md opens in it, shows every item, and publishes unchanged when untouched;
operations change the document and refuse what they cannot do, in words."""

from __future__ import annotations

import html
import json
import re

import pytest
from sqlalchemy import select

from portal.domain import builder, schema
from portal.extensions import db
from portal.models import Form
from tests.fixtures.forms import SCHEMAS
from tests.test_docs_form_schema import _json_blocks

SHIPPED = sorted(path.stem for path in SCHEMAS.glob("*.json"))
EXAMPLES = _json_blocks()


def document_text(page: str) -> str:
    """The schema document a builder page (or fragment) holds, as the browser would post it."""
    found = re.search(r'<textarea[^>]*id="schema-text"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, "the page has no schema document"
    text = html.unescape(found.group(1))
    return text[1:] if text.startswith("\n") else text  # HTML drops a textarea's first newline


def status_of(page: str) -> str:
    return re.sub(r"<[^>]+>", "", re.search(r'id="builder-status">(.*?)</p>', page, re.S)[1])


def groups_named(document: dict) -> set[str]:
    """Every group a schema's chain asks, so the test can give each a member."""
    chain = document.get("approval") or {}
    named = {chain.get("fallback_group")}
    for step in chain.get("steps", []):
        named |= {a.get("group") for a in step.get("assignees", [])}
        escalation = (step.get("escalate") or {}).get("to") or {}
        named.add(escalation.get("group"))
    return {name for name in named if name}


def items_of(document: dict) -> list[str]:
    """Every item the builder can select in a document: fields, columns, rules, steps."""
    places = ["form"]
    for index, spec in enumerate(document.get("fields", [])):
        places.append(f"field:{index}")
        if spec.get("type") == "line_items":
            places += [f"column:{index}:{j}" for j in range(len(spec.get("fields", [])))]
    places += [f"rule:{index}" for index in range(len(document.get("rules", [])))]
    if document.get("approval"):
        places.append("chain")
        places += [f"step:{i}" for i in range(len(document["approval"].get("steps", [])))]
    return places


def round_trip(browser, make_user, publish, slug: str, text: str) -> None:
    """Open `text` (published as version 1 of `slug`) in the builder, select every item, and
    publish it untouched: nothing changes and no version is added."""
    document = json.loads(text)
    for group in groups_named(document):
        make_user(f"member.{group}@example.com", f"Member of {group}", groups=[group])
    publish(slug, text)
    page = browser.get(f"/admin/build/{slug}")
    assert page.status_code == 200, page.text
    opened = document_text(page.text)
    assert opened == text
    visits = [
        (p, "chain" if p.startswith(("step", "chain")) else "form") for p in items_of(document)
    ]
    for place, tab in [*visits, ("form", "json")]:
        answer = browser.post(
            f"/admin/build/{slug}/operate",
            {"schema_text": opened, "op": "select", "target": place, "tab": tab},
            htmx=True,
        )
        assert answer.status_code == 200, (place, tab, answer.text[-2000:])
        assert document_text(answer.text) == text, (place, tab)
        assert "Not done" not in status_of(answer.text)
    review = browser.post(f"/admin/build/{slug}/review", {"schema_text": opened, "based_on": "1"})
    assert review.status_code == 200, review.text
    assert "Nothing: this is the same as the version in use." in review.text
    published = browser.post(
        f"/admin/build/{slug}/publish", {"schema_text": opened, "based_on": "1", "note": ""}
    )
    assert published.status_code == 302, published.text
    form = db.session.scalars(select(Form).where(Form.slug == slug)).one()
    db.session.refresh(form)
    assert [version.number for version in form.versions] == [1]


@pytest.mark.slow
@pytest.mark.parametrize("slug", SHIPPED)
def test_every_shipped_schema_opens_in_the_builder_and_publishes_unchanged(
    browser, ada, make_user, publish, slug
):
    browser.login(ada.email)
    text = (SCHEMAS / f"{slug}.json").read_text("utf-8")
    round_trip(browser, make_user, publish, slug, text)


@pytest.mark.slow
@pytest.mark.parametrize("line, text", EXAMPLES, ids=[f"line {line}" for line, _ in EXAMPLES])
def test_every_example_of_the_schema_doc_opens_in_the_builder_and_publishes_unchanged(
    browser, ada, make_user, publish, line, text
):
    browser.login(ada.email)
    round_trip(browser, make_user, publish, f"example_{line}", text)


def test_an_operation_changes_the_document_and_says_what_it_did(browser, ada, vendor_invoice):
    browser.login(ada.email)
    text = document_text(browser.get("/admin/build/vendor_invoice").text)
    answer = browser.post(
        "/admin/build/vendor_invoice/operate",
        {"schema_text": text, "op": "add_field", "kind": "date", "selected": "form"},
        htmx=True,
    )
    assert answer.status_code == 200
    assert (
        status_of(answer.text).strip()
        == f"Added Date as field {len(json.loads(text)['fields']) + 1}"
    )
    changed = schema.decode(document_text(answer.text))
    assert changed["fields"][-1] == {"type": "date", "name": "date", "label": "Date"}
    assert 'aria-pressed="true"' in answer.text  # the new field is selected


def test_removing_a_field_a_condition_uses_is_refused_and_changes_nothing(
    browser, ada, vendor_invoice
):
    browser.login(ada.email)
    text = document_text(browser.get("/admin/build/vendor_invoice").text)
    index = next(
        i for i, f in enumerate(json.loads(text)["fields"]) if f.get("name") == "vendor_is_new"
    )
    answer = browser.post(
        "/admin/build/vendor_invoice/operate",
        {"schema_text": text, "op": "remove", "target": f"field:{index}"},
        htmx=True,
    )
    assert answer.status_code == 200
    assert document_text(answer.text) == text
    refusal = html.unescape(status_of(answer.text))
    assert refusal.startswith("Not done: This is a new vendor (first invoice from them) is used by")
    assert "when to show Vendor VAT / tax ID" in refusal


def test_renaming_a_published_field_is_refused_with_the_reason(browser, ada, vendor_invoice):
    browser.login(ada.email)
    text = document_text(browser.get("/admin/build/vendor_invoice").text)
    answer = browser.post(
        "/admin/build/vendor_invoice/operate",
        {
            "schema_text": text,
            "op": "set",
            "key": "name",
            "p.name": "supplier",
            "selected": "field:1",
        },
        htmx=True,
    )
    assert document_text(answer.text) == text
    assert "requests already made keep their answers under" in html.unescape(answer.text)


def test_json_the_builder_cannot_read_is_kept_and_shown_in_the_json_tab(
    browser, ada, vendor_invoice
):
    browser.login(ada.email)
    broken = '{"title": "Half typed", "fields": ['
    answer = browser.post(
        "/admin/build/vendor_invoice/operate",
        {"schema_text": broken, "op": "add_field", "kind": "text"},
        htmx=True,
    )
    assert answer.status_code == 200
    assert document_text(answer.text) == broken
    assert "The builder cannot show this JSON" in answer.text
    assert (
        'id="panel-json"' in answer.text
        and 'id="panel-json" aria-labelledby="tab-json" hidden' not in answer.text
    )


def test_an_unknown_operation_is_refused_in_words(browser, ada, vendor_invoice):
    browser.login(ada.email)
    text = document_text(browser.get("/admin/build/vendor_invoice").text)
    answer = browser.post(
        "/admin/build/vendor_invoice/operate", {"schema_text": text, "op": "explode"}, htmx=True
    )
    assert answer.status_code == 200
    assert "the builder has no operation" in html.unescape(answer.text)
    assert document_text(answer.text) == text


def test_review_lists_the_changes_in_words_and_publish_makes_a_new_version(
    browser, ada, org, vendor_invoice
):
    browser.login(ada.email)
    document = schema.decode(document_text(browser.get("/admin/build/vendor_invoice").text))
    document["approval"]["steps"][-1]["when"] = "total > 25000"
    text = builder.write(document)
    review = browser.post(
        "/admin/build/vendor_invoice/review", {"schema_text": text, "based_on": "1"}
    )
    assert review.status_code == 200
    words = html.unescape(review.text)
    assert "CFO approval now only when Invoice total (net) is more than 25,000" in words
    published = browser.post(
        "/admin/build/vendor_invoice/publish", {"schema_text": text, "based_on": "1", "note": "CFO"}
    )
    assert published.status_code == 302
    form = db.session.scalars(select(Form).where(Form.slug == "vendor_invoice")).one()
    db.session.refresh(form)
    assert form.current_version.number == 2
    assert form.current_version.source == "builder: CFO"


def test_publishing_a_faulty_document_is_refused_and_lists_the_faults(browser, ada, vendor_invoice):
    browser.login(ada.email)
    answer = browser.post(
        "/admin/build/vendor_invoice/publish",
        {"schema_text": '{"title": "No fields", "fields": []}', "based_on": "1"},
    )
    assert answer.status_code == 422
    assert "It cannot be published yet" in answer.text
    form = db.session.scalars(select(Form).where(Form.slug == "vendor_invoice")).one()
    assert len(form.versions) == 1


def test_people_are_offered_as_they_are_typed(browser, ada, org):
    browser.login(ada.email)
    answer = browser.get("/admin/build/vendor_invoice/people?who_detail=fio")
    assert answer.status_code == 200
    assert '<option value="fiona@example.com">Fiona Walsh</option>' in answer.text
    assert "frank@example.com" not in answer.text


def test_a_new_form_needs_a_usable_name(browser, ada):
    browser.login(ada.email)
    answer = browser.post("/admin/build/new", {"slug": "Not A Name"})
    assert answer.status_code == 422
    assert "Use lower-case letters" in answer.text
    started = browser.post("/admin/build/new", {"slug": "capex", "template": ""})
    assert started.status_code == 302
    assert started.headers["Location"].endswith("/admin/build/capex")


def test_an_operation_costs_the_same_few_statements_however_many_versions_exist(
    app, browser, ada, org, vendor_invoice, publish
):
    """Each click re-checks the whole document; what it reads must not grow with history."""
    from sqlalchemy import event

    browser.login(ada.email)
    text = document_text(browser.get("/admin/build/vendor_invoice").text)

    def statements_for_one_operation() -> int:
        seen = []

        def count(conn, cursor, statement, parameters, context, executemany):
            seen.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            answer = browser.post(
                "/admin/build/vendor_invoice/operate",
                {"schema_text": text, "op": "select", "target": "step:0", "tab": "chain"},
                htmx=True,
            )
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        assert answer.status_code == 200
        return len(seen)

    # Each count after one warm-up operation: the first after a publish also reloads the form's
    # versions that every process keeps (portal.services.catalog), once.
    statements_for_one_operation()
    first = statements_for_one_operation()
    document = json.loads(text)
    for number in range(2, 6):
        document["title"] = f"Vendor invoice {number}"
        publish("vendor_invoice", document)
    print(f"statements per operation: {first}")
    statements_for_one_operation()
    assert statements_for_one_operation() == first
    assert first <= 20


ODD_DOCUMENTS = [
    {"title": "T", "fields": "not a list"},
    {"title": "T", "fields": [1, "two", None, {"type": "text"}]},
    {"title": "T", "fields": [{"type": "select", "name": "a", "label": "A", "choices": "x"}]},
    {"title": "T", "fields": [{"type": "line_items", "name": "l", "label": "L", "fields": 3}]},
    {"title": "T", "fields": [{"type": "text", "name": "a", "label": "A", "visible_if": 5}]},
    {"title": "T", "fields": [], "approval": []},
    {"title": "T", "fields": [], "approval": {"steps": "none"}},
    {"title": "T", "fields": [], "approval": {"steps": [3, {"assignees": "x"}]}},
    {"title": "T", "fields": [], "approval": {"steps": [{"assignees": [5], "remind": 1}]}},
    {"title": "T", "fields": [], "rules": {"check": "x"}},
    {"title": "T", "fields": [], "rules": [{"check": 5}]},
    [],
]


@pytest.mark.parametrize("document", ODD_DOCUMENTS, ids=[json.dumps(d)[:40] for d in ODD_DOCUMENTS])
@pytest.mark.slow
@pytest.mark.parametrize("target", ["form", "field:0", "column:0:0", "step:1", "rule:0"])
def test_a_document_of_any_shape_is_shown_without_failing(
    browser, ada, vendor_invoice, document, target
):
    browser.login(ada.email)
    text = json.dumps(document)
    tab = "chain" if target.startswith(("chain", "step")) else "form"
    answer = browser.post(
        "/admin/build/vendor_invoice/operate",
        {"schema_text": text, "op": "select", "target": target, "tab": tab},
        htmx=True,
    )
    assert answer.status_code == 200, answer.text[-3000:]
    assert document_text(answer.text) == text


def test_someone_elses_publication_is_named_and_publishing_again_replaces_it(
    browser, ada, org, vendor_invoice
):
    browser.login(ada.email)
    document = schema.decode(document_text(browser.get("/admin/build/vendor_invoice").text))
    document["title"] = "Supplier invoice"
    text = builder.write(document)
    stale = browser.post(
        "/admin/build/vendor_invoice/publish", {"schema_text": text, "based_on": "", "note": ""}
    )
    assert stale.status_code == 409
    assert "while you were editing" in html.unescape(stale.text)
    again = re.search(r'name="based_on" value="(\d*)"', stale.text)[1]
    assert again == "1"  # the page now publishes over the version it named
    published = browser.post(
        "/admin/build/vendor_invoice/publish", {"schema_text": text, "based_on": again}
    )
    assert published.status_code == 302
    form = db.session.scalars(select(Form).where(Form.slug == "vendor_invoice")).one()
    db.session.refresh(form)
    assert form.current_version.number == 2 and form.title == "Supplier invoice"
