"""Finding records by what was written in them, and sorting the records list by any column."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event, select, text

from portal.extensions import db
from portal.models import Submission
from portal.services import submissions, text_search
from portal.services.submissions import Files


def references(html: str) -> list[str]:
    """The request numbers listed on the records page, in order."""
    return re.findall(r'<td[^>]*><a href="/submissions/\d+">(#\d+)</a></td>', html)


@pytest.fixture
def invoices(approvals, org, vendor_invoice):
    """Three vendor invoices: Acme's ACME-1042, Globex's with a line about Acme's chairs, and
    Initech's; (acme, globex, initech)."""
    acme = approvals.submit_invoice(invoice_number="ACME-1042")
    globex = approvals.submit_invoice(
        vendor_name="Globex Corporation",
        vendor_email="ap@globex.example",
        invoice_number="GX-77",
        **{"lines-0-description": "Chairs, as Acme sells them"},
    )
    initech = approvals.submit_invoice(
        vendor_name="Initech", vendor_email="ap@initech.example", invoice_number="IN_5%"
    )
    return acme, globex, initech


@pytest.fixture(autouse=True)
def officer(browser, org):
    """Cora, a compliance officer, signed in: the search is hers."""
    browser.login("cora@example.com")


def search(browser, **args) -> str:
    page = browser.get("/compliance/", query_string=args)
    assert page.status_code == 200, page.text
    return page.text


def test_acme_finds_the_vendor_and_the_line_that_names_it(browser, invoices):
    acme, globex, initech = invoices
    found = references(search(browser, text="Acme"))
    assert sorted(found) == sorted([acme.reference, globex.reference])


@pytest.mark.parametrize("words", ["ACME-1042", "acme-1042", "1042", "CME-10"])
def test_an_invoice_number_finds_its_invoice_in_any_case(browser, invoices, words):
    acme, _, _ = invoices
    assert references(search(browser, text=words)) == [acme.reference]


def test_every_word_must_appear(browser, invoices):
    _, globex, _ = invoices
    assert references(search(browser, text="acme sells")) == [globex.reference]
    assert references(search(browser, text="acme initech")) == []


def test_short_words_are_looked_for_too(browser, invoices):
    acme, _, _ = invoices
    assert references(search(browser, text="ACME 42")) == [acme.reference]


def test_like_wildcards_are_plain_characters(browser, invoices):
    _, _, initech = invoices
    assert references(search(browser, text="IN_5%")) == [initech.reference]
    assert references(search(browser, text="%")) == [initech.reference]


def test_words_combine_with_the_other_filters(browser, invoices):
    assert references(search(browser, text="acme", status="approved")) == []


def test_a_search_that_is_too_long_is_explained_and_lists_nothing(browser, invoices):
    page = browser.get(
        "/compliance/", query_string={"text": " ".join(f"word{n}" for n in range(9))}
    )
    assert page.status_code == 422
    assert "Search for at most 8 words at a time." in page.text
    assert references(page.text) == []


PETTY_CASH = {
    "title": "Petty cash",
    "amount_field": "amount",
    "summary_fields": ["purpose"],
    "fields": [
        {"type": "text", "name": "purpose", "label": "Purpose", "required": True},
        {"type": "money", "name": "amount", "label": "Amount", "currency": "EUR", "required": True},
    ],
}


@pytest.fixture
def petty_cash(publish):
    return publish("petty_cash", PETTY_CASH)


def test_a_draft_is_found_once_it_is_submitted(browser, org, petty_cash):
    """A draft has no submitted data; submitting it later writes its text (an UPDATE)."""
    raw = {"purpose": "Taxi to the Acme warehouse", "amount": "32.50"}
    draft = submissions.save_draft(org.alice, petty_cash, raw, Files())
    db.session.commit()
    assert references(search(browser, text="warehouse")) == []
    submitted, evaluation = submissions.submit(org.alice, petty_cash, raw, Files(), draft)
    assert submitted is not None, evaluation.errors
    db.session.commit()
    assert references(search(browser, text="warehouse")) == [submitted.reference]


def test_the_search_text_follows_a_change_of_data(browser, org, petty_cash):
    """Whoever changes the data (here a plain UPDATE), the database rewrites the text."""
    raw = {"purpose": "Courier to Acme", "amount": "12"}
    submitted, _ = submissions.submit(org.alice, petty_cash, raw, Files())
    db.session.commit()
    submitted.data = {**submitted.data, "purpose": "Courier to Globex"}
    db.session.commit()
    assert references(search(browser, text="globex")) == [submitted.reference]
    assert references(search(browser, text="acme")) == []


def test_the_search_text_holds_every_submitted_string(invoices):
    acme, _, _ = invoices
    db.session.expire_all()
    stored = db.session.scalar(select(Submission.search_text).where(Submission.id == acme.id))
    for value in ("Acme Office Supplies GmbH", "ACME-1042", "Ergonomic chairs", "invoice.pdf"):
        assert value in stored


def test_submitting_writes_no_statement_for_the_search(org, petty_cash):
    """The database keeps the search text: a submission is as many statements as before."""
    statements = []

    def note(connection, cursor, statement, *args):
        statements.append(statement)

    raw = {"purpose": "Train to Acme", "amount": "80"}
    event.listen(db.engine, "before_cursor_execute", note)
    try:
        submitted, evaluation = submissions.submit(org.alice, petty_cash, raw, Files())
        db.session.flush()
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert submitted is not None, evaluation.errors
    assert statements, "the submission wrote nothing"
    assert not [s for s in statements if "search_text" in s or "submission_fts" in s]


def test_sorting_by_amount_both_ways(browser, org, many_amounts):
    low, middle, high = many_amounts
    page = search(browser, sort="amount")
    assert references(page) == [low.reference, middle.reference, high.reference]
    assert 'aria-sort="ascending"' in page
    page = search(browser, sort="-amount")
    assert references(page) == [high.reference, middle.reference, low.reference]
    assert 'aria-sort="descending"' in page


def test_the_default_order_is_newest_first_and_headings_link_to_sorting(browser, many_amounts):
    low, middle, high = many_amounts
    page = search(browser, text="Acme")
    assert references(page) == [high.reference, middle.reference, low.reference]
    assert 'href="/compliance/?text=Acme&amp;sort=-amount"' in page


def test_an_unknown_sort_is_the_usual_order(browser, many_amounts):
    low, middle, high = many_amounts
    assert references(search(browser, sort="password")) == [
        high.reference,
        middle.reference,
        low.reference,
    ]


def test_sorting_by_submitter_and_by_request(browser, approvals, many_amounts):
    low, middle, high = many_amounts
    fionas = approvals.submit_invoice(as_email="fiona@example.com")
    assert references(search(browser, sort="-submitter"))[0] == fionas.reference
    assert references(search(browser, sort="submitter"))[-1] == fionas.reference
    assert references(search(browser, sort="request")) == [
        low.reference,
        middle.reference,
        high.reference,
        fionas.reference,
    ]


@pytest.fixture
def many_amounts(approvals, org, vendor_invoice):
    """Three of Alice's Acme invoices, submitted in the order of their amounts."""
    low = approvals.submit_invoice(**{"lines-0-quantity": "1"})  # EUR 925.00
    middle = approvals.submit_invoice()  # EUR 1,375.00
    high = approvals.submit_invoice(**{"lines-0-quantity": "9"})  # EUR 4,525.00
    return low, middle, high


def test_words_parse_into_distinct_words():
    assert text_search.words("  Acme   ACME-1042 Acme ") == ["Acme", "ACME-1042"]
    assert text_search.words("") == []
    with pytest.raises(text_search.TextRefused):
        text_search.words("x" * 201)


def test_the_index_is_the_database_s(app, invoices):
    """PostgreSQL answers with its trigram index; SQLite with its FTS5 table."""
    if db.engine.dialect.name == "sqlite":
        rows = db.session.execute(
            text("SELECT rowid FROM submission_fts WHERE submission_fts MATCH '\"acme-1042\"'")
        ).all()
        assert [row.rowid for row in rows] == [invoices[0].id]
    else:
        index = db.session.scalar(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_submission_search_text'")
        )
        assert "gin" in index and "gin_trgm_ops" in index
