"""Publishing schemas: versions, all-or-nothing loads, and old submissions keeping theirs."""

import json
import shutil

import pytest
from sqlalchemy import select

from portal.domain.schema import SchemaInvalid
from portal.extensions import db
from portal.models import Form, FormVersion, Submission
from portal.services import forms
from tests.fixtures.forms import ACTOR, SCHEMAS, shipped_schema
from tests.fixtures.web import invoice_post


def test_same_content_in_another_layout_is_not_a_new_version(publish, app):
    first = publish("vendor_invoice", shipped_schema("vendor_invoice"))
    compact = json.dumps(shipped_schema("vendor_invoice"), separators=(",", ":"))
    again = forms.publish(compact, "vendor_invoice", ACTOR)
    assert again.changed is False and again.version.id == first.id


def test_changed_content_creates_the_next_version_and_keeps_the_old(publish):
    first = publish("vendor_invoice", shipped_schema("vendor_invoice"))
    changed = shipped_schema("vendor_invoice")
    changed["title"] = "Supplier invoice"
    second = publish("vendor_invoice", changed)
    assert (first.number, second.number) == (1, 2)
    form = db.session.scalars(select(Form)).one()
    assert form.current_version_id == second.id and form.title == "Supplier invoice"
    assert [v.number for v in form.versions] == [1, 2]
    assert db.session.get(FormVersion, first.id).spec.title == "Vendor invoice"


def test_submission_keeps_and_renders_with_its_own_version(
    browser, alice, publish, make_submission
):
    publish("vendor_invoice", shipped_schema("vendor_invoice"))
    make_submission(submitter=alice, chain_started=False)
    browser.login(alice.email)
    old = db.session.scalars(select(Submission)).one()

    changed = shipped_schema("vendor_invoice")
    for field in changed["fields"]:
        if field.get("name") == "vendor_name":
            field["label"] = "Supplier (legal name)"
    changed["fields"].append(
        {"type": "text", "name": "contract_ref", "label": "Contract reference", "required": True}
    )
    publish("vendor_invoice", changed)

    new_page = browser.get("/forms/vendor_invoice/new").text
    assert "Supplier (legal name)" in new_page and "Contract reference" in new_page
    old_page = browser.get(f"/submissions/{old.id}").text
    assert "Vendor name" in old_page and "Supplier (legal name)" not in old_page
    assert "Contract reference" not in old_page
    assert "version 1" in old_page

    response = browser.post("/forms/vendor_invoice/new", invoice_post())
    assert response.status_code == 422 and "Contract reference is required." in response.text
    browser.post("/forms/vendor_invoice/new", invoice_post(contract_ref="MSA-2024-07"))
    newest = db.session.scalars(select(Submission).order_by(Submission.id.desc())).first()
    assert newest.form_version.number == 2 and newest.data["contract_ref"] == "MSA-2024-07"


def test_a_draft_keeps_the_version_it_was_started_with(browser, alice, publish, make_submission):
    publish("vendor_invoice", shipped_schema("vendor_invoice"))
    make_submission(values={"vendor_name": "Draft Co"}, submitter=alice, submitted=False)
    browser.login(alice.email)
    draft = db.session.scalars(select(Submission)).one()
    changed = shipped_schema("vendor_invoice")
    changed["fields"].append(
        {"type": "text", "name": "contract_ref", "label": "Contract reference", "required": True}
    )
    publish("vendor_invoice", changed)
    page = browser.get(f"/submissions/{draft.id}/edit").text
    assert "Contract reference" not in page and "Form version 1" in page


def test_directory_with_one_bad_file_loads_nothing_and_names_every_fault(app, tmp_path):
    for path in SCHEMAS.glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    broken = shipped_schema("vendor_invoice")
    broken["fields"][3]["type"] = "nmber"
    (tmp_path / "vendor_invoice.json").write_text(json.dumps(broken))
    (tmp_path / "zzz_bad.json").write_text('{"title": "x", "fields": [')
    with pytest.raises(SchemaInvalid) as caught:
        forms.load_directory(tmp_path, ACTOR)
    lines = caught.value.lines()
    assert any(
        line.startswith("vendor_invoice.json: fields[3].type: 'nmber' is not one of")
        for line in lines
    )
    assert any(line.startswith("zzz_bad.json: not valid JSON") for line in lines)
    db.session.rollback()
    assert db.session.scalars(select(Form)).all() == []


@pytest.mark.parametrize("slug", ["Vendor", "1invoice", "in-voice", "a" * 70, "../etc"])
def test_form_slugs_must_be_simple_names(app, slug):
    with pytest.raises(SchemaInvalid, match="not a usable form name"):
        forms.check(json.dumps(shipped_schema("vendor_invoice")), slug)


def test_publishing_is_audited_in_the_admin_chain(publish):
    from portal.models import AuditEvent

    publish("vendor_invoice", shipped_schema("vendor_invoice"))
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "schema_published")
    ).one()
    assert event.chain == "admin"
    assert event.details["form"] == "vendor_invoice" and event.details["version"] == 1
