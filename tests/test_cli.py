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


def test_seed_demo_prints_users_with_passwords_and_is_repeatable(runner):
    first = runner.invoke(args=["baton", "seed-demo"])
    assert first.exit_code == 0, first.output
    assert "alice@example.com  baton-demo" in first.output
    assert users.authenticate("alice@example.com", "baton-demo").manager.email == "bob@example.com"
    second = runner.invoke(args=["baton", "seed-demo"])
    assert "(unchanged)" in second.output
    assert len(db.session.scalars(select(User)).all()) == 11
