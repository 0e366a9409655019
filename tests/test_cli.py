"""The `flask --app app baton ...` commands."""

import json
import shutil

from sqlalchemy import select

from portal.extensions import db
from portal.models import Form, User
from portal.services import users
from tests.fixtures.forms import SCHEMAS


def test_create_user_then_update_keeps_one_user(runner):
    result = runner.invoke(
        args=[
            "baton",
            "create-user",
            "Fiona@Example.com",
            "--name",
            "Fiona Walsh",
            "--password",
            "long enough pw",
            "--group",
            "finance",
            "--group",
            "staff",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Created fiona@example.com (Fiona Walsh; finance, staff)." in result.output
    result = runner.invoke(
        args=[
            "baton",
            "create-user",
            "fiona@example.com",
            "--name",
            "Fiona Walsh-Byrne",
            "--group",
            "finance",
        ]
    )
    assert result.exit_code == 0 and "Updated" in result.output
    db.session.expire_all()
    fiona = db.session.scalars(select(User)).one()
    assert fiona.name == "Fiona Walsh-Byrne" and fiona.group_names == {"finance"}
    assert users.authenticate("fiona@example.com", "long enough pw") is not None


def test_create_user_sets_the_manager(runner, make_user):
    boss = make_user("boss@example.com")
    result = runner.invoke(
        args=[
            "baton",
            "create-user",
            "new@example.com",
            "--name",
            "New Person",
            "--password",
            "long enough pw",
            "--manager",
            "boss@example.com",
        ]
    )
    assert result.exit_code == 0, result.output
    assert users.find_user("new@example.com").manager.id == boss.id


def test_create_user_refuses_a_management_loop(runner, make_user):
    top = make_user("top@example.com")
    make_user("middle@example.com", manager=top)
    result = runner.invoke(
        args=[
            "baton",
            "create-user",
            "top@example.com",
            "--name",
            "Top",
            "--manager",
            "middle@example.com",
        ]
    )
    assert result.exit_code != 0 and "loop" in result.output


def test_create_user_errors_are_clear_and_change_nothing(runner):
    cases = [
        (["no-at-sign", "--name", "X", "--password", "long enough pw"], "is not an email address"),
        (["x@example.com", "--name", "X"], "a new user needs a password"),
        (["x@example.com", "--name", "X", "--password", "short"], "at least 8 characters"),
        (
            [
                "x@example.com",
                "--name",
                "X",
                "--password",
                "long enough pw",
                "--manager",
                "ghost@example.com",
            ],
            "no user with email 'ghost@example.com'",
        ),
    ]
    for args, message in cases:
        result = runner.invoke(args=["baton", "create-user", *args])
        assert result.exit_code != 0 and message in result.output, result.output
    assert db.session.scalars(select(User)).all() == []


def test_load_schemas_publishes_and_reports_unchanged_on_second_run(runner):
    first = runner.invoke(args=["baton", "load-schemas", str(SCHEMAS)])
    assert first.exit_code == 0, first.output
    assert "vendor_invoice: new version 1" in first.output
    second = runner.invoke(args=["baton", "load-schemas", str(SCHEMAS)])
    assert "vendor_invoice: unchanged (version 1)" in second.output
    assert len(db.session.scalars(select(Form)).all()) == 4


def test_load_schemas_with_a_fault_prints_file_and_path_and_loads_nothing(runner, tmp_path):
    shutil.copy(SCHEMAS / "access_request.json", tmp_path)
    bad = json.loads((SCHEMAS / "vendor_invoice.json").read_text())
    bad["fields"][1]["visible_if"] = "totl > 10"
    (tmp_path / "vendor_invoice.json").write_text(json.dumps(bad))
    result = runner.invoke(args=["baton", "load-schemas", str(tmp_path)])
    assert result.exit_code != 0
    assert (
        "vendor_invoice.json: fields[1].visible_if: unknown name 'totl' (at column 1)"
        in result.output
    )
    assert "No schema was loaded" in result.output
    assert db.session.scalars(select(Form)).all() == []


def test_load_schemas_prints_shape_and_semantic_faults_in_one_run(runner, tmp_path):
    """A bad `max` (a shape fault) used to hide a bad `when` until it was fixed."""
    bad = json.loads((SCHEMAS / "vendor_invoice.json").read_text())
    total = next(i for i, f in enumerate(bad["fields"]) if f.get("name") == "total")
    bad["fields"][total]["max"] = "lots"
    bad["approval"]["steps"][-1]["when"] = "totl > 10000"
    (tmp_path / "vendor_invoice.json").write_text(json.dumps(bad))
    result = runner.invoke(args=["baton", "load-schemas", str(tmp_path)])
    assert result.exit_code != 0
    assert f"vendor_invoice.json: fields[{total}].max: 'lots' must be a number" in result.output
    step = len(bad["approval"]["steps"]) - 1
    assert (
        f"vendor_invoice.json: approval.steps[{step}].when: unknown name 'totl' (at column 1)"
        in result.output
    )


def test_dump_schemas_writes_what_was_published_and_loads_back_unchanged(runner, tmp_path):
    assert runner.invoke(args=["baton", "load-schemas", str(SCHEMAS)]).exit_code == 0
    out = tmp_path / "dumped"
    result = runner.invoke(args=["baton", "dump-schemas", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out / 'vendor_invoice.json'}" in result.output
    for path in SCHEMAS.glob("*.json"):
        assert (out / path.name).read_text("utf-8") == path.read_text("utf-8")
    again = runner.invoke(args=["baton", "load-schemas", str(out)])
    assert "vendor_invoice: unchanged (version 1)" in again.output


def test_dump_schemas_with_no_forms_says_so(runner, tmp_path):
    out = tmp_path / "schemas"
    result = runner.invoke(args=["baton", "dump-schemas", str(out)])
    assert result.exit_code == 0 and "No forms have been published yet" in result.output
    assert list(out.iterdir()) == []


def test_load_schemas_keeps_a_newer_version_published_in_the_editor(runner, org, ada):
    from portal.services import forms as form_service

    assert runner.invoke(args=["baton", "load-schemas", str(SCHEMAS)]).exit_code == 0
    edited = json.loads((SCHEMAS / "vendor_invoice.json").read_text())
    edited["title"] = "Supplier invoice"
    form_service.publish_checked(json.dumps(edited, indent=2), "vendor_invoice", ada, based_on=1)
    db.session.commit()
    stale = runner.invoke(args=["baton", "load-schemas", str(SCHEMAS)])
    assert stale.exit_code == 0, stale.output
    assert "vendor_invoice: kept version 2, published in the editor" in stale.output
    assert "run dump-schemas to update the file" in stale.output
    form = form_service.find_form("vendor_invoice")
    assert form.current_version.number == 2 and form.title == "Supplier invoice"
    forced = runner.invoke(args=["baton", "load-schemas", "--force", str(SCHEMAS)])
    assert "vendor_invoice: new version 3" in forced.output
    db.session.expire_all()
    assert form_service.find_form("vendor_invoice").title == "Vendor invoice"


def test_a_changed_file_is_still_loaded_after_editor_changes(runner, tmp_path, org, ada):
    from portal.services import forms as form_service

    assert runner.invoke(args=["baton", "load-schemas", str(SCHEMAS)]).exit_code == 0
    edited = json.loads((SCHEMAS / "vendor_invoice.json").read_text())
    edited["title"] = "Supplier invoice"
    form_service.publish_checked(json.dumps(edited), "vendor_invoice", ada, based_on=1)
    db.session.commit()
    edited["title"] = "Invoice from a supplier"
    (tmp_path / "vendor_invoice.json").write_text(json.dumps(edited))
    result = runner.invoke(args=["baton", "load-schemas", str(tmp_path)])
    assert "vendor_invoice: new version 3" in result.output


def test_seed_demo_prints_users_with_passwords_and_is_repeatable(runner):
    first = runner.invoke(args=["baton", "seed-demo"])
    assert first.exit_code == 0, first.output
    assert "alice@example.com  baton-demo" in first.output
    assert users.authenticate("alice@example.com", "baton-demo").manager.email == "bob@example.com"
    second = runner.invoke(args=["baton", "seed-demo"])
    assert "(unchanged)" in second.output
    assert len(db.session.scalars(select(User)).all()) == 11
