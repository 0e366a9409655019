"""`flask --app app baton ...`: users, schemas, demo data and the development runner."""

from __future__ import annotations

import os
import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from portal import audit
from portal.domain.schema import SchemaInvalid
from portal.extensions import db
from portal.services import forms as form_service
from portal.services import tokens, users

baton = AppGroup("baton", help="Baton administration commands.")

CLI_ACTOR = audit.Actor(system="command line", channel="cli")
#: The password every demo user gets; `make run` prints it. Development only.
DEMO_PASSWORD = "baton-demo"
DEMO_USERS = [
    # email, name, groups, manager
    ("carol@example.com", "Carol Chen", ["cfo"], None),
    ("bob@example.com", "Bob Okafor", ["managers"], "carol@example.com"),
    ("alice@example.com", "Alice Martin", ["staff"], "bob@example.com"),
    ("sam@example.com", "Sam Patel", ["staff"], "bob@example.com"),
    ("fiona@example.com", "Fiona Walsh", ["finance"], "carol@example.com"),
    ("frank@example.com", "Frank Meyer", ["finance"], "carol@example.com"),
    ("ivan@example.com", "Ivan Novak", ["it"], "carol@example.com"),
    ("iris@example.com", "Iris Berg", ["it"], "carol@example.com"),
    ("pat@example.com", "Pat Quinn", ["procurement"], "carol@example.com"),
    ("cora@example.com", "Cora Lindqvist", ["compliance"], "carol@example.com"),
    ("ada@example.com", "Ada Byrne", ["admin"], None),
]

#: Who the `make run` banner offers to sign in as: one of each kind of person.
DEMO_SIGN_INS = [
    ("alice@example.com", "staff: submits requests"),
    ("bob@example.com", "manager: approves Alice's requests"),
    ("cora@example.com", "compliance officer: searches records, exports audit trails"),
    ("ada@example.com", "admin: builds forms and approval chains"),
]


@baton.command("create-user")
@click.argument("email")
@click.option("--name", required=True, help="Full name, as shown to others.")
@click.option("--password", help="Required for a new user; changes an existing user's password.")
@click.option(
    "--group", "groups", multiple=True, help="A group (repeatable); replaces the user's groups."
)
@click.option("--manager", "manager_email", help="Email of the user's manager.")
def create_user(email, name, password, groups, manager_email):
    """Create a user, or update the user with this EMAIL."""
    try:
        user, created = users.save_user(
            email, name, password, list(groups) if groups else None, manager_email
        )
    except users.UserError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    verb = "Created" if created else "Updated"
    groups_text = ", ".join(sorted(user.group_names)) or "no groups"
    click.echo(f"{verb} {user.email} ({user.name}; {groups_text}).")


@baton.command("disable-user")
@click.argument("email")
def disable_user(email):
    """Stop EMAIL from signing in; their sessions end at once and their API tokens stop working."""
    _set_active(email, False)


@baton.command("enable-user")
@click.argument("email")
def enable_user(email):
    """Let a disabled user sign in again (their old sessions stay ended)."""
    _set_active(email, True)


def _set_active(email: str, active: bool) -> None:
    try:
        user = users.set_active(email, active)
    except users.UserError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"{user.email} is now {'enabled' if active else 'disabled'}.")
    waiting = users.open_task_count(user)
    if not active and waiting:
        click.echo(
            f"{waiting} open approval task(s) still wait for {user.email}: an administrator "
            "can reassign them from each request's page."
        )


@baton.command("load-schemas")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--force",
    is_flag=True,
    help="Also load files that match an older version (undoing later edits made in the browser).",
)
@click.option("--quiet", is_flag=True, help="Say only what needs attention.")
def load_schemas(folder, force, quiet):
    """Publish every FOLDER/*.json form schema; all or nothing."""
    try:
        published = form_service.load_directory(folder, CLI_ACTOR, force=force)
    except SchemaInvalid as exc:
        db.session.rollback()
        for line in exc.lines():
            click.secho(line, fg="red", err=True)
        raise click.ClickException(
            "No schema was loaded; fix the faults above and run again."
        ) from None
    db.session.commit()
    for item in published:
        if item.kept_newer is not None:
            click.secho(
                f"{item.form.slug}: kept version {item.kept_newer.number}, published in the "
                "editor after the version in this file; run dump-schemas to update the file "
                "(or load-schemas --force to go back to it)",
                fg="yellow",
            )
            continue
        state = (
            f"new version {item.version.number}"
            if item.changed
            else f"unchanged (version {item.version.number})"
        )
        if not quiet:
            click.echo(f"{item.form.slug}: {state}")


@baton.command("dump-schemas")
@click.argument("folder", type=click.Path(file_okay=False))
def dump_schemas(folder):
    """Write each form's current schema to FOLDER/<form>.json, exactly as published."""
    written = form_service.dump_directory(folder)
    for path in written:
        click.echo(f"wrote {path}")
    if not written:
        click.echo("No forms have been published yet; nothing written.")


@baton.command("create-token")
@click.argument("email")
@click.option("--name", default="", help="What uses the token, such as “ERP import”.")
def create_token(email, name):
    """Create an API token that acts as the user with this EMAIL; it is printed once."""
    user = users.find_user(email)
    if user is None:
        raise click.ClickException(f"no user with email {email!r}")
    try:
        row, token = tokens.create(user, name or f"token for {user.email}", CLI_ACTOR)
    except tokens.TokenRefused as refusal:
        db.session.rollback()
        raise click.ClickException(str(refusal)) from None
    db.session.commit()
    click.echo(f"Token {row.name!r} for {user.email} (shown once; store it now):")
    click.echo(token)


@baton.command("seed-demo")
@click.option(
    "--submissions",
    "count",
    type=click.IntRange(min=0),
    default=0,
    help="Also generate this many requests with a realistic history (for Insight).",
)
@click.option(
    "--days",
    type=click.IntRange(1, 3660),
    default=365,
    show_default=True,
    help="How many days back the generated history reaches.",
)
@click.option(
    "--seed", type=int, default=1, show_default=True, help="The same seed makes the same history."
)
@click.option(
    "--sample",
    type=click.IntRange(min=1),
    help="Generate only this many requests and copy their histories until there are "
    "--submissions (PostgreSQL only; for benchmark databases).",
)
@click.option("--quiet", is_flag=True, help="Do not print the demo users (make run's banner does).")
def seed_demo(count, days, seed, sample, quiet):
    """Create the demo users (only those missing) and print how to sign in; with --submissions,
    also generate requests with their whole history (with --sample, a sample of them, copied)."""
    if sample is not None:
        from portal.demo import copies as demo_copies

        if not count:
            raise click.UsageError("--sample needs --submissions (how many requests in all)")
        try:
            demo_copies.check(count, sample, db.session.get_bind().dialect.name)
        except demo_copies.CopyRefused as refusal:
            raise click.UsageError(str(refusal)) from None
    rows = []
    for email, name, groups, manager in DEMO_USERS:
        existing = users.find_user(email)
        if existing is None:
            users.save_user(email, name, DEMO_PASSWORD, groups, manager, CLI_ACTOR)
            password = DEMO_PASSWORD
        else:
            password = "(unchanged)"
        rows.append((email, password, ", ".join(groups)))
    db.session.commit()
    if not quiet:
        click.echo("\nDemo users (development only):")
        width = max(len(row[0]) for row in rows)
        click.echo(f"  {'email'.ljust(width)}  {'password'.ljust(12)}  groups")
        for email, password, groups in rows:
            click.echo(f"  {email.ljust(width)}  {password.ljust(12)}  {groups}")
        click.echo("")
    if count and sample is not None:
        _seed_copies(count, sample, days, seed)
    elif count:
        _seed_history(count, days, seed)


def _seed_history(count: int, days: int, seed: int) -> None:
    from portal.demo import history as demo_history

    click.echo(f"Generating {count:,} requests over the last {days:,} days ...")
    summary = demo_history.generate(
        count,
        password=DEMO_PASSWORD,
        days=days,
        seed=seed,
        progress=lambda done, total: click.echo(f"  {done:,} of {total:,} ({done / total:.0%})"),
    )
    statuses = ", ".join(
        f"{number:,} {status}" for status, number in sorted(summary.by_status.items())
    )
    click.echo(
        f"Done in {summary.seconds:.0f} s: {summary.requests:,} requests ({statuses}), "
        f"{summary.tasks:,} tasks, {summary.timers:,} timers, "
        f"{summary.audit_events:,} audit events."
    )


def _seed_copies(count: int, sample: int, days: int, seed: int) -> None:
    from portal.demo import copies as demo_copies

    summary = demo_copies.fill(
        count, sample=sample, password=DEMO_PASSWORD, days=days, seed=seed, progress=click.echo
    )
    generated = summary.generated
    rows = ", ".join(f"{number:,} {table}" for table, number in summary.rows.items())
    click.echo(
        f"Done: {summary.submissions:,} requests. The sample of {summary.sample:,} was generated "
        f"in {generated.seconds:.0f} s ({generated.audit_events:,} audit events); "
        f"{summary.copies:,} copies of it were made in {summary.copy_seconds:.0f} s ({rows})."
    )


audit_group = AppGroup("audit", help="The tamper-evident audit log.")
baton.add_command(audit_group)


@audit_group.command("verify")
@click.argument("submission_id", required=False, type=int)
def audit_verify(submission_id):
    """Check the hash chain of one submission (or of every chain); name the first broken event."""
    from sqlalchemy import select

    from portal.models import AuditChain

    if submission_id is not None:
        chains = [audit.submission_chain(submission_id)]
        if db.session.get(AuditChain, chains[0]) is None:
            raise click.ClickException(f"submission {submission_id} has no audit events")
    else:
        chains = list(db.session.scalars(select(AuditChain.chain).order_by(AuditChain.chain)))
    broken = 0
    for chain in chains:
        result = audit.verify(chain)
        if result.ok:
            click.echo(f"{chain}: ok, {result.events} events, head {result.head_hash}")
        else:
            broken += 1
            click.secho(
                f"{chain}: BROKEN at event {result.broken_seq}: {result.reason} "
                f"({result.events} events read)",
                fg="red",
            )
    click.echo(f"{len(chains)} chain(s) checked, {broken} broken.")
    if broken:
        sys.exit(1)


@baton.command("dev")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    default=lambda: int(os.environ.get("PORT", 5000)),
    show_default="PORT or 5000",
    type=int,
)
def dev(host, port):
    """Run the web app and an RQ worker in the foreground (what `make run` starts)."""
    from portal.processes import devserver

    app = current_app._get_current_object()
    sys.exit(devserver.run(app, host, port, DEMO_SIGN_INS, DEMO_PASSWORD))


def init_app(app: Flask) -> None:
    app.cli.add_command(baton)
