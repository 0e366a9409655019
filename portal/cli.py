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
@click.option(
    "--local/--not-local",
    default=None,
    help="Signs in with a password even when BATON_PASSWORD_SIGN_IN is off (an administrator's "
    "way in when the identity provider is down).",
)
def create_user(email, name, password, groups, manager_email, local):
    """Create a user, or update the user with this EMAIL."""
    try:
        user, created = users.save_user(
            email, name, password, list(groups) if groups else None, manager_email, local=local
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


@baton.command("create-agent")
@click.argument("name")
@click.option(
    "--group", "groups", multiple=True, help="A group (repeatable) the agent is asked through."
)
@click.option("--email", help="The agent's address in schemas (default: made from NAME).")
def create_agent(name, groups, email):
    """Create an agent called NAME (software, not a person) and print its API token once.

    An agent cannot sign in to the web; it acts through the API or `baton mcp` with the
    token, under the same rules and audit trail as people.
    """
    try:
        user = users.create_agent(name, list(groups), email, CLI_ACTOR)
        row, token = tokens.create(user, f"token for {user.name}", CLI_ACTOR)
    except (users.UserError, tokens.TokenRefused) as refusal:
        db.session.rollback()
        raise click.ClickException(str(refusal)) from None
    db.session.commit()
    groups_text = ", ".join(sorted(user.group_names)) or "no groups"
    click.echo(f"Created agent {user.display_name}, {user.email} ({groups_text}).")
    click.echo(f"Its API token {row.name!r} (shown once; store it now):")
    click.echo(token)


@baton.command("list-users")
def list_users():
    """List people and agents apart, each with their groups; disabled accounts say so."""
    people, agents = users.people_and_agents()
    for title, found in (("People", people), ("Agents", agents)):
        click.echo(f"{title} ({len(found)}):")
        for user in found:
            groups_text = ", ".join(sorted(user.group_names)) or "no groups"
            disabled = "" if user.is_active else " [disabled]"
            click.echo(f"  {user.email}  {user.display_name}  ({groups_text}){disabled}")
        if not found:
            click.echo("  none")


@baton.command("mcp")
@click.option(
    "--token",
    envvar="BATON_MCP_TOKEN",
    required=True,
    help="The API token to act as (or set BATON_MCP_TOKEN, which keeps it out of `ps`).",
)
def mcp(token):
    """Serve the Model Context Protocol over stdio, acting as the token's user or agent.

    Connect an MCP client to this command (see docs/agents.md); it offers list_forms,
    get_form, submit_request, list_my_tasks, get_request and decide_task.
    """
    from portal import mcp_server  # the MCP SDK loads only for this command

    try:
        mcp_server.run(current_app._get_current_object(), token.strip())
    except mcp_server.TokenInvalid as refusal:
        raise click.ClickException(str(refusal)) from None


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


storage_group = AppGroup("storage", help="Where uploads, audit-trail PDFs and exports are kept.")
baton.add_command(storage_group)


@storage_group.command("copy")
@click.option(
    "--to",
    "to_url",
    required=True,
    help="Where to copy them: s3://BUCKET/PREFIX or file:///folder.",
)
def storage_copy(to_url):
    """Copy every kept file to another storage, checking each SHA-256.

    Run it again after an interruption: files already there and correct are skipped. When it
    reports nothing failed, set BATON_STORAGE_URL to the new place on every host.
    """
    from sqlalchemy import select

    from portal import storage
    from portal.models import AuditPdf, Export

    source = storage.current()
    try:
        target = storage.from_url(to_url, current_app.instance_path)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    if target.url == source.url:
        raise click.ClickException(f"{to_url} is where the files are kept now; name another place")
    recorded = {
        path: digest
        for model in (AuditPdf, Export)
        for path, digest in db.session.execute(
            select(model.path, model.sha256).where(model.path.is_not(None))
        )
        if digest
    }
    db.session.rollback()  # nothing is written to the database; no transaction stays open
    click.echo(f"Copying kept files from {source.url} to {target.url}")
    try:
        outcome = storage.copy_all(source, target, recorded, say=click.echo)
    except Exception as error:
        raise click.ClickException(
            f"stopped: {type(error).__name__}: {error}. What was copied stays copied; run the "
            "same command again to go on from there."
        ) from None
    click.echo(
        f"{outcome.copied} copied ({outcome.bytes_copied:,} bytes), {outcome.present} already "
        f"there, {outcome.failed} not copied."
    )
    if outcome.failed:
        click.secho("Some files were not copied (see above): do not switch yet.", fg="red")
        sys.exit(1)
    click.echo(f"Every kept file is there. Next: BATON_STORAGE_URL={to_url} on every host.")


@storage_group.command("check")
def storage_check():
    """Write, read back and delete a small file where kept files go, from this host."""
    import io
    import uuid

    from portal import storage

    kept = storage.current()
    key = f"checks/baton-check-{uuid.uuid4().hex}"
    body = b"Baton storage check\n"
    try:
        kept.put(key, io.BytesIO(body))
        with kept.open(key) as opened:
            read = opened.read()
        kept.delete(key)
    except Exception as error:
        raise click.ClickException(
            f"{kept.url} cannot be used from this host: {type(error).__name__}: {error}. "
            "Check BATON_STORAGE_URL (the bucket must exist), and for object storage "
            "AWS_ENDPOINT_URL and the credentials (docs/deploying.md, 'The object store')."
        ) from None
    if read != body:
        raise click.ClickException(f"{kept.url} gave back other bytes than were written")
    click.echo(f"{kept.url}: a file was written, read back and deleted from this host.")


@baton.command("what-if")
@click.argument("form_slug", metavar="FORM")
@click.option(
    "--schema",
    "schema_file",
    required=True,
    type=click.File("r", encoding="utf-8"),
    help="The draft schema (JSON) to replay the form's past requests through.",
)
@click.option("--from", "first", help="First day of the period, YYYY-MM-DD.")
@click.option("--to", "last", help="Last day of the period, YYYY-MM-DD.")
@click.option(
    "--minutes-per-task",
    default=10,
    show_default=True,
    type=int,
    help="Minutes a person spends on one task, for the hours saved.",
)
@click.option(
    "--assume",
    multiple=True,
    metavar="STEP=approve|reject",
    help="The answer of a step with no answer on record (approve unless said; repeatable).",
)
@click.option(
    "--similar",
    multiple=True,
    metavar="STEP=RECORDED_STEP",
    help="Draw a new step's waits from a recorded step's (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def what_if(form_slug, schema_file, first, last, minutes_per_task, assume, similar, as_json):
    """Replay FORM's past requests (the last 90 days unless --from and --to say) through the
    draft chain in --schema, and print what would have changed."""
    import json

    from portal.domain import insight as rules
    from portal.domain.refusal import Refused
    from portal.presentation import whatif as words
    from portal.services import insight, whatif

    form = insight.find_form(form_slug)
    if form is None:
        raise click.ClickException(f"There is no published form “{form_slug}”.")
    try:
        period = rules.parse_period({"from": first or "", "to": last or ""}, insight.today())
        options = whatif.Options(
            _pairs(assume, "--assume"), _pairs(similar, "--similar"), minutes_per_task
        )
        spec = whatif.draft_spec(form, schema_file.read())
        report = whatif.compute(form, spec, period, options)
    except Refused as refusal:
        raise click.ClickException(str(refusal)) from None
    result = report.as_dict()
    if as_json:
        result["form"] = form.slug
        result["first_day"], result["last_day"] = (
            period.first_day.isoformat(),
            period.last_day.isoformat(),
        )
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        click.echo("\n".join(words.lines(result, form.title, period.dates)))
    db.session.rollback()  # nothing is kept: a replay only reads


def _pairs(given: tuple[str, ...], option: str) -> dict[str, str]:
    found = {}
    for item in given:
        name, equals, value = item.partition("=")
        if not equals or not name.strip() or not value.strip():
            raise click.BadParameter(f"write it as STEP=VALUE, not “{item}”", param_hint=option)
        found[name.strip()] = value.strip()
    return found


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
