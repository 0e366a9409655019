"""Demo history at scale: a generated sample, copied until there are N requests (PostgreSQL only).

`flask --app app baton seed-demo --submissions N --sample S` calls `fill`: the demo history
generator (portal.demo.history) drives the real engine through S requests with their whole
history, then `copy_sample` copies those S histories until there are N. The generator runs every
event through the services (tens of requests a second); a copy is arithmetic, so a million
requests take minutes, not hours.

What a copy is:
- Every row the engine wrote for a sample request (the tables of `history.TABLES`) is read
  back and copied with a fresh id, and every foreign key to a copied row points at the copy's
  own row. Ids are interleaved: copy j of sample row x gets
  `max id + 1 + (x - first sample id) * slots + j`, so id order still follows submission time,
  as in a generated history.
- Times, people, amounts and form data are the original's, unchanged: a copy is the same story
  told again by the same people at the same moments. Nothing moves, so nothing lands in the
  future, and a request that is still open waits on timers as consistent as its original's.
  Form data holds no row ids (files are named by hash), so it is copied as it is.
- Audit events are renamed to the copy's chain ("submission:<new id>"), their ids in `details`
  (`DETAIL_IDS`) are remapped, and every chain is hashed again from the genesis with exactly
  the canonical JSON of portal.audit, so `flask --app app baton audit verify` passes for copies
  as for originals; the audit_chain head rows are written to match.

How it is fast: the tables without hashes are copied inside PostgreSQL (INSERT ... SELECT over
generate_series); the audit events are hashed in worker processes from templates (each sample
event's canonical JSON split where a copy differs, so a copy is a string format and a SHA-256,
checked against the stored hash of the original when the template is built) and written with
COPY, while PostgreSQL copies the other tables on a second connection. Indexes, primary keys,
unique constraints and foreign keys of the copied tables are dropped first and recreated after,
from their definitions as read from pg_indexes and pg_constraint.

Run it on a database nobody else is writing to (a benchmark database): it hands out ids itself
and takes the copied tables' indexes away while it works. If it fails, what it copied is rolled
back and the indexes and constraints are put back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

from sqlalchemy import Table, UniqueConstraint, func, select

from portal import audit
from portal.demo import history
from portal.extensions import db
from portal.models import AuditChain, AuditEvent, Submission

logger = logging.getLogger(__name__)

#: Keys of an audit event's details that hold the id of a row of the same request, and its table.
DETAIL_IDS = {"task": "task"}
#: Keys of an audit event's details that hold numbers which are not row ids.
DETAIL_NUMBERS = frozenset({"round", "version", "number", "fallback_people"})
#: Columns that must differ between an original and its copies (unique with unchanged columns),
#: and how a copy's value is made from the original's and the copy's new id. NULL stays NULL.
DISTINCT_COLUMNS = {("submission", "client_token"): "md5({value} || ':' || {new_id})"}
#: Audit events a worker hashes per chunk (about 40 MB of COPY text).
CHUNK_EVENTS = 100_000


class CopyRefused(ValueError):
    """The request cannot be met; nothing was written."""


@dataclass
class Summary:
    """What `copy_sample` (and `fill`) made."""

    sample: int = 0
    #: Requests made by copying (the whole number of copies of each is copies // sample).
    copies: int = 0
    submissions: int = 0
    #: Rows written by copying, by table.
    rows: dict[str, int] = field(default_factory=dict)
    copy_seconds: float = 0.0
    #: What the generator made of the sample (by `fill`).
    generated: history.Summary | None = None


def check(count: int, sample: int, dialect: str) -> None:
    """Refuse a sample and count that cannot make `count` requests here (raises CopyRefused)."""
    if sample < 1:
        raise CopyRefused(f"the sample must hold at least one request, not {sample:,}")
    if sample > count:
        raise CopyRefused(
            f"the sample ({sample:,}) cannot be larger than the number of requests wanted "
            f"({count:,})"
        )
    _check_dialect(dialect)


def _check_dialect(dialect: str) -> None:
    if dialect != "postgresql":
        raise CopyRefused(
            f"copying a sample needs PostgreSQL (COPY, and indexes dropped while it loads); "
            f"this database is {dialect}. Use seed-demo --submissions without --sample."
        )


def fill(
    count: int,
    *,
    sample: int,
    password: str,
    days: int = 365,
    seed: int = 1,
    progress: Callable[[str], None] | None = None,
    workers: int | None = None,
) -> Summary:
    """Generate `sample` requests with the demo history, then copy them until there are `count`."""
    check(count, sample, db.session.get_bind().dialect.name)
    say = progress or (lambda message: None)
    first = (db.session.scalar(select(func.max(Submission.id))) or 0) + 1
    say(f"Generating a sample of {sample:,} requests over the last {days:,} days ...")
    generated = history.generate(
        sample,
        password=password,
        days=days,
        seed=seed,
        progress=lambda done, total: say(f"  {done:,} of {total:,} ({done / total:.0%})"),
    )
    last = db.session.scalar(select(func.max(Submission.id)))
    summary = copy_sample(first, last, count - sample, progress=progress, workers=workers)
    summary.generated = generated
    return summary


def copy_sample(
    first_id: int,
    last_id: int,
    copies: int,
    *,
    progress: Callable[[str], None] | None = None,
    workers: int | None = None,
) -> Summary:
    """Add `copies` requests copied from the submissions `first_id`..`last_id` and their rows.

    Every sample request is copied `copies // sample` times, and an evenly spread
    `copies % sample` of them once more. Commits; PostgreSQL only.
    """
    say = progress or (lambda message: None)
    started = time.monotonic()
    _check_dialect(db.session.get_bind().dialect.name)
    if copies < 0:
        raise CopyRefused(f"cannot make {copies:,} copies")
    plan = _Plan.read(first_id, last_id, copies)
    summary = Summary(sample=len(plan.requests), copies=copies)
    if not copies:
        summary.submissions = len(plan.requests)
        return summary
    say(
        f"Copying {plan.sample:,} sample requests to {copies:,} more: "
        f"{copies // plan.sample:,} copies of each"
        + (f", and {copies % plan.sample:,} of them once more" if copies % plan.sample else "")
        + " ..."
    )
    tables = _copied_tables()
    plan.measure()
    templates = _Templates.read(plan)
    say(
        f"  {len(templates.events):,} sample audit events turned into templates "
        f"(each checked against its stored hash); {templates.events_to_write:,} to write"
    )
    db.session.commit()
    db.session.close()  # dropping indexes waits for every open transaction on the tables
    schema = _Schema.read([table.name for table in tables.values()])
    say(f"  dropping {len(schema.indexes)} indexes and {len(schema.constraints)} constraints")
    schema.drop()
    try:
        summary.rows = _load(plan, tables, templates, say, workers)
    finally:
        say("  recreating indexes and constraints ...")
        began = time.monotonic()
        schema.restore()
        say(f"  indexes and constraints back in {time.monotonic() - began:.0f} s")
    with db.engine.begin() as connection:
        _advance_sequences(connection, list(tables))
        for name in tables:
            connection.exec_driver_sql(f'ANALYZE "{name}"')
    summary.submissions = plan.sample + copies
    summary.copy_seconds = time.monotonic() - started
    return summary


# -- what to copy -----------------------------------------------------------------------------


@dataclass
class _Plan:
    """The sample requests, how many copies each gets, and the id arithmetic of every table."""

    requests: list[tuple[int, int]]  # (submission id, copies), in id order
    copies: int
    slots: int  # copies of the most copied request: the stride of the interleaved ids
    first: dict[str, int] = field(default_factory=dict)  # lowest sample id, by table
    base: dict[str, int] = field(default_factory=dict)  # the first free id, by table

    @property
    def sample(self) -> int:
        return len(self.requests)

    @classmethod
    def read(cls, first_id: int, last_id: int, copies: int) -> _Plan:
        ids = db.session.scalars(
            select(Submission.id)
            .where(Submission.id.between(first_id, last_id))
            .order_by(Submission.id)
        ).all()
        if not ids:
            raise CopyRefused(f"there are no submissions from {first_id} to {last_id} to copy")
        whole, extra = divmod(copies, len(ids))
        # The requests that get one copy more are spread evenly over the sample (in time).
        requests = [
            (sub, whole + ((position + 1) * extra // len(ids) - position * extra // len(ids)))
            for position, sub in enumerate(ids)
        ]
        return cls(requests, copies, whole + (1 if extra else 0))

    def measure(self) -> None:
        """The lowest sample id and the first free id of every copied table."""
        low, high = self.requests[0][0], self.requests[-1][0]
        for name, model in history.TABLES:
            if name == "audit_chain":
                continue
            if name == "submission":
                first = low
            elif name == "audit_event":
                first = db.session.scalar(
                    select(func.min(model.id)).where(model.submission_id.between(low, high))
                )
            else:
                first = _first_child_id(model, low, high)
            self.first[name] = first if first is not None else 0
            self.base[name] = (db.session.scalar(select(func.max(model.id))) or 0) + 1

    def new_id(self, table: str, old: int, copy: int) -> int:
        """The id of copy `copy` (0-based) of the sample row `old` of `table`."""
        return self.base[table] + (old - self.first[table]) * self.slots + copy


@dataclass
class _Table:
    """A copied table: its columns, and how its rows reach their submission."""

    table: Table
    parents: dict[str, str]  # column -> copied table it refers to
    owner: tuple[str, str] | None  # (column, copied table) leading to the submission

    @property
    def name(self) -> str:
        return self.table.name


def _copied_tables() -> dict[str, _Table]:
    """The tables the generator writes, with their references, checked for what copies need."""
    models = dict(history.TABLES)
    found: dict[str, _Table] = {}
    for name, model in models.items():
        table: Table = model.__table__
        parents = {}
        for column in table.columns:
            for key in column.foreign_keys:
                if key.column.table.name in models:
                    parents[column.name] = key.column.table.name
        owner = None
        if name != "submission":
            owner = next(
                ((column, parent) for column, parent in parents.items() if parent == "submission"),
                next(iter(parents.items()), None),
            )
        if name not in ("submission", "audit_chain") and owner is None:
            raise CopyRefused(f"the table {name} does not refer to a copied table")
        remapped = {"id", *parents} if "id" in table.columns else set(parents)
        if name in ("audit_event", "audit_chain"):
            remapped.add("chain")
        for constraint in _unique_column_sets(table):
            handled = {column for column in constraint if (name, column) in DISTINCT_COLUMNS}
            if not (set(constraint) & remapped) and not handled:
                raise CopyRefused(
                    f"the unique columns {', '.join(constraint)} of {name} are copied unchanged; "
                    "say in copies.DISTINCT_COLUMNS how a copy's value differs"
                )
        found[name] = _Table(table, parents, owner)
    return found


def _unique_column_sets(table: Table) -> list[list[str]]:
    sets = [[c.name for c in table.primary_key.columns]]
    sets += [
        [c.name for c in constraint.columns]
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint)
    ]
    sets += [[c.name for c in index.columns] for index in table.indexes if index.unique]
    return [names for names in sets if names]


# -- the audit events, as templates -----------------------------------------------------------

#: Private-use characters stand for what a copy changes while a template is built; Baton's data
#: never holds them (checked).
_SUB, _PREV, _TASK0 = "\ue001", "\ue002", 0xE100
_MARKERS = re.compile("[\ue000-\ue1ff]")
_HOLES = re.compile('("\ue001"|\ue001|\ue002|"[\ue100-\ue1ff]")')


@dataclass
class _EventTemplate:
    """One sample event: its canonical JSON and its COPY line, as %-formats.

    canonical % (sub, *tasks, prev, sub) and line % (id, sub, sub, *tasks, prev, hash), where
    sub is the copy's submission id and tasks its ids of the tasks named in the details.
    """

    canonical: str
    line: str
    first_id: int  # the new id of its first copy; copy j has first_id + j
    tasks: tuple[int, ...]  # the new id of the first copy of each task it names


@dataclass
class _Request:
    first_id: int  # the new submission id of its first copy
    copies: int
    seq: int  # its chain's length
    events: list[_EventTemplate]


class _Templates:
    def __init__(self, requests: list[_Request], events: list[_EventTemplate]):
        self.requests = requests
        self.events = events
        self.events_to_write = sum(len(r.events) * r.copies for r in requests)

    @classmethod
    def read(cls, plan: _Plan) -> _Templates:
        """Every sample event as a template, checked against its stored hash."""
        sample = [sub for sub, _ in plan.requests]
        low, high = sample[0], sample[-1]
        rows = db.session.execute(
            select(AuditEvent.__table__)
            .where(AuditEvent.submission_id.between(low, high))
            .order_by(AuditEvent.submission_id, AuditEvent.seq)
        )
        by_submission: dict[int, list] = {}
        for row in rows:
            by_submission.setdefault(row.submission_id, []).append(row)
        heads = dict(
            db.session.execute(
                select(AuditChain.chain, AuditChain.seq).where(
                    AuditChain.chain.in_([audit.submission_chain(s) for s in sample])
                )
            ).all()
        )
        requests, events = [], []
        for sub, copies in plan.requests:
            chain = by_submission.get(sub, [])
            made = _chain_templates(plan, sub, chain)
            if heads.get(audit.submission_chain(sub)) != len(chain):
                raise CopyRefused(f"the audit chain of submission {sub} does not end at its head")
            requests.append(_Request(plan.new_id("submission", sub, 0), copies, len(chain), made))
            events.extend(made)
        return cls(requests, events)


def _first_child_id(model, low: int, high: int) -> int | None:
    table = model.__table__
    if "submission_id" in table.columns:
        return db.session.scalar(
            select(func.min(table.c.id)).where(table.c.submission_id.between(low, high))
        )
    parent_column, parent = next(
        (column.name, key.column.table)
        for column in table.columns
        for key in column.foreign_keys
        if "submission_id" in key.column.table.columns
    )
    return db.session.scalar(
        select(func.min(table.c.id))
        .select_from(table.join(parent, parent.c.id == table.c[parent_column]))
        .where(parent.c.submission_id.between(low, high))
    )


def _chain_templates(plan: _Plan, sub: int, chain: list) -> list[_EventTemplate]:
    """A submission's events as templates, each checked: filled with the original's own ids it
    must give the original's stored hash."""
    made = []
    previous = audit.GENESIS
    for expected_seq, event in enumerate(chain, start=1):
        if event.seq != expected_seq or event.chain != audit.submission_chain(sub):
            raise CopyRefused(f"the audit chain of submission {sub} is not whole at {event.seq}")
        if event.prev_hash != previous:
            raise CopyRefused(f"the audit chain of submission {sub} breaks at {event.seq}")
        template = _event_template(plan, event)
        tasks = tuple(str(old) for old in _detail_ids(event.details).values())
        filled = template.canonical % (str(sub), *tasks, previous, str(sub))
        if hashlib.sha256(filled.encode("utf-8")).hexdigest() != event.hash:
            raise CopyRefused(
                f"the template of event {event.id} does not give its stored hash; "
                "portal.audit.canonical changed in a way portal.demo.copies does not know"
            )
        previous = event.hash
        made.append(template)
    return made


def _detail_ids(details: dict) -> dict[str, int]:
    """The ids in an event's details, by key (in key order, as canonical JSON has them)."""
    found = {}
    for key in sorted(details):
        value = details[key]
        if isinstance(value, bool) or not isinstance(value, int):
            continue
        if key in DETAIL_IDS:
            found[key] = value
        elif key not in DETAIL_NUMBERS:
            raise CopyRefused(
                f"audit details hold a number under {key!r}: say in demo.copies whether it is "
                "a row id (DETAIL_IDS) or not (DETAIL_NUMBERS)"
            )
    return found


def _event_template(plan: _Plan, event) -> _EventTemplate:
    ids = _detail_ids(event.details)
    marked = dict(event.details)
    for number, key in enumerate(ids):
        marked[key] = chr(_TASK0 + number)
    stand_in = SimpleNamespace(
        chain=audit.submission_chain(_SUB),
        seq=event.seq,
        occurred_at=event.occurred_at,
        submission_id=_SUB,
        actor_id=event.actor_id,
        actor=event.actor,
        action=event.action,
        channel=event.channel,
        details=marked,
        ip=event.ip,
        user_agent=event.user_agent,
        prev_hash=_PREV,
    )
    if _MARKERS.search(audit.canonical(event)):
        raise CopyRefused(f"audit event {event.id} holds private-use characters")
    canonical, order = _format(audit.canonical(stand_in))
    if order != [_SUB, *(f'"{chr(_TASK0 + n)}"' for n in range(len(ids))), _PREV, f'"{_SUB}"']:
        raise CopyRefused("portal.audit.canonical orders its fields in a way demo.copies misreads")
    details = json.dumps(marked, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    line = "\t".join(
        [
            _SUB,  # the id, as a hole
            "submission:" + _SUB,
            str(event.seq),
            event.occurred_at.isoformat(),
            f'"{_SUB}"',
            _copy_text(event.actor_id),
            _copy_text(event.actor),
            _copy_text(event.action),
            _copy_text(event.channel),
            _copy_text(details),
            _copy_text(event.ip),
            _copy_text(event.user_agent),
            _PREV,
            _PREV,
        ]
    )
    line, _ = _format(line + "\n")
    task_tables = [DETAIL_IDS[key] for key in ids]
    return _EventTemplate(
        canonical=canonical,
        line=line,
        first_id=plan.new_id("audit_event", event.id, 0),
        tasks=tuple(
            plan.new_id(table, old, 0) for table, old in zip(task_tables, ids.values(), strict=True)
        ),
    )


def _format(text: str) -> tuple[str, list[str]]:
    """`text` with its markers turned into %s (and % escaped), and the markers in order."""
    parts = _HOLES.split(text)
    literals, holes = parts[0::2], parts[1::2]
    return "%s".join(part.replace("%", "%%") for part in literals), holes


def _copy_text(value) -> str:
    """A value in COPY's text format."""
    if value is None:
        return r"\N"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


#: The templates the worker processes read; each receives them when it starts.
_TEMPLATES: _Templates | None = None


def _receive_templates(templates: _Templates) -> None:
    """A worker process's initializer: keep the templates its chunks are made from."""
    global _TEMPLATES
    _TEMPLATES = templates


def _copy_events(bounds: tuple[int, int]) -> tuple[bytes, bytes, int]:
    """COPY text for every copy of the sample requests `bounds`: audit events and chain heads."""
    sha256 = hashlib.sha256
    lines: list[str] = []
    heads: list[str] = []
    for request in _TEMPLATES.requests[bounds[0] : bounds[1]]:
        subs = [str(request.first_id + j) for j in range(request.copies)]
        prevs = [audit.GENESIS] * request.copies
        for event in request.events:
            canonical, line, first_id, tasks = (
                event.canonical,
                event.line,
                event.first_id,
                event.tasks,
            )
            if not tasks:
                for j, sub in enumerate(subs):
                    prev = prevs[j]
                    digest = sha256((canonical % (sub, prev, sub)).encode()).hexdigest()
                    lines.append(line % (first_id + j, sub, sub, prev, digest))
                    prevs[j] = digest
                continue
            for j, sub in enumerate(subs):
                prev = prevs[j]
                named = tuple(str(task + j) for task in tasks)
                digest = sha256((canonical % (sub, *named, prev, sub)).encode()).hexdigest()
                lines.append(line % (first_id + j, sub, sub, *named, prev, digest))
                prevs[j] = digest
        heads.extend(
            f"submission:{sub}\t{request.seq}\t{prev}\n"
            for sub, prev in zip(subs, prevs, strict=True)
        )
    return "".join(lines).encode(), "".join(heads).encode(), len(lines)


def _chunks(templates: _Templates) -> list[tuple[int, int]]:
    bounds, start, events = [], 0, 0
    for position, request in enumerate(templates.requests):
        events += len(request.events) * request.copies
        if events >= CHUNK_EVENTS:
            bounds.append((start, position + 1))
            start, events = position + 1, 0
    if start < len(templates.requests):
        bounds.append((start, len(templates.requests)))
    return bounds


# -- loading ----------------------------------------------------------------------------------


def _load(
    plan: _Plan, tables: dict[str, _Table], templates: _Templates, say, workers: int | None
) -> dict[str, int]:
    """Copy every table: the plain ones in PostgreSQL on one connection while the audit
    events are hashed and streamed on another; both commit only when both succeeded."""
    global _TEMPLATES
    plain_connection = db.engine.connect()
    audit_connection = db.engine.connect()
    counts: dict[str, int] = {}
    failure: list[BaseException] = []
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    _TEMPLATES = templates
    # Workers start from a fork server, not by forking this process: a fork of a process with
    # other threads (a test run's browser or server threads, this function's own SQL thread)
    # can copy a lock some thread holds, and the child then waits for it forever.
    pool = (
        multiprocessing.get_context("forkserver").Pool(
            workers, initializer=_receive_templates, initargs=(templates,)
        )
        if workers
        else None
    )
    try:
        plain_transaction = plain_connection.begin()
        audit_transaction = audit_connection.begin()

        def copy_plain() -> None:
            try:
                _copy_plain(plain_connection, plan, tables, counts, say)
            except BaseException as error:  # handed to the main thread, which re-raises it
                failure.append(error)

        thread = threading.Thread(target=copy_plain, name="demo-copies-sql")
        thread.start()
        try:
            counts.update(_copy_audit(audit_connection, templates, pool, say))
        finally:
            thread.join()
        if failure:
            raise failure[0]
        audit_transaction.commit()
        plain_transaction.commit()
    finally:
        _TEMPLATES = None
        if pool is not None:
            pool.terminate()
            pool.join()
        plain_connection.close()
        audit_connection.close()
    return counts


def _copy_plain(connection, plan: _Plan, tables: dict[str, _Table], counts, say) -> None:
    """The tables without hashes, each as one INSERT ... SELECT inside PostgreSQL."""
    connection.exec_driver_sql("SET LOCAL work_mem = '256MB'")
    connection.exec_driver_sql(
        "CREATE TEMPORARY TABLE demo_copy_plan (submission_id bigint PRIMARY KEY, copies int) "
        "ON COMMIT DROP"
    )
    driver = connection.connection.driver_connection
    with driver.cursor() as cursor:
        with cursor.copy("COPY demo_copy_plan (submission_id, copies) FROM STDIN") as copy:
            for sub, copies in plan.requests:
                if copies:
                    copy.write_row((sub, copies))
    for name, table in tables.items():
        if name in ("audit_event", "audit_chain"):
            continue
        began = time.monotonic()
        result = connection.exec_driver_sql(_insert_select(plan, table, tables))
        counts[name] = result.rowcount
        say(f"  {name}: {result.rowcount:,} rows in {time.monotonic() - began:.0f} s")


def _insert_select(plan: _Plan, table: _Table, tables: dict[str, _Table]) -> str:
    """INSERT ... SELECT of every copy of the sample rows of `table`, in the new ids' order."""

    def new_id(name: str, value: str) -> str:
        return f"({plan.base[name]} + ({value} - {plan.first[name]}) * {plan.slots} + n)"

    joins, owner = "", "s.id"
    if table.owner is not None:
        column, parent = table.owner
        owner = f"s.{column}"
        while parent != "submission":
            above_column, above = tables[parent].owner
            joins += f' JOIN "{parent}" p_{parent} ON p_{parent}.id = {owner}'
            owner, parent = f"p_{parent}.{above_column}", above
    columns, values = [], []
    for column in table.table.columns:
        quoted = f'"{column.name}"'
        columns.append(quoted)
        if column.name == "id":
            values.append(new_id(table.name, "s.id"))
        elif column.name in table.parents:
            values.append(new_id(table.parents[column.name], f"s.{quoted}"))
        elif (table.name, column.name) in DISTINCT_COLUMNS:
            rule = DISTINCT_COLUMNS[(table.name, column.name)]
            values.append(rule.format(value=f"s.{quoted}", new_id=new_id(table.name, "s.id")))
        else:
            values.append(f"s.{quoted}")
    return (
        f'INSERT INTO "{table.name}" ({", ".join(columns)}) '
        f"SELECT {', '.join(values)} FROM ("
        f'SELECT s.*, k.copies FROM "{table.name}" s{joins} '
        f"JOIN demo_copy_plan k ON k.submission_id = {owner} ORDER BY s.id"
        ") s CROSS JOIN LATERAL generate_series(0, s.copies - 1) AS n"
    )


def _copy_audit(connection, templates: _Templates, pool, say) -> dict[str, int]:
    """Every copied audit event, hashed by the worker processes, then the chains' heads."""
    driver = connection.connection.driver_connection
    columns = ", ".join(f'"{c.name}"' for c in AuditEvent.__table__.columns)
    chunks = _chunks(templates)
    results = _ahead(pool, chunks) if pool else map(_copy_events, chunks)
    heads: list[bytes] = []
    written, reported, began = 0, 0, time.monotonic()
    total = templates.events_to_write
    with driver.cursor() as cursor:
        with cursor.copy(f"COPY audit_event ({columns}) FROM STDIN") as copy:
            for events, chain_heads, count in results:
                copy.write(events)
                heads.append(chain_heads)
                written += count
                if written - reported >= total / 10 or written == total:
                    reported = written
                    say(
                        f"  audit_event: {written:,} of {total:,} ({written / total:.0%}) "
                        f"in {time.monotonic() - began:.0f} s"
                    )
        with cursor.copy('COPY audit_chain ("chain", "seq", "head_hash") FROM STDIN') as copy:
            for block in heads:
                copy.write(block)
    chains = sum(block.count(b"\n") for block in heads)
    say(f"  audit_chain: {chains:,} rows")
    return {"audit_event": written, "audit_chain": chains}


def _ahead(pool, chunks: list[tuple[int, int]]):
    """The workers' results in order, with at most two chunks per worker waiting (Pool.imap
    would let them run ahead of COPY and fill the memory)."""
    window = 2 * pool._processes
    pending = deque(pool.apply_async(_copy_events, (chunk,)) for chunk in chunks[:window])
    for chunk in chunks[window:]:
        yield pending.popleft().get()
        pending.append(pool.apply_async(_copy_events, (chunk,)))
    while pending:
        yield pending.popleft().get()


def _advance_sequences(connection, tables: list[str]) -> None:
    """The id sequences must continue after the ids handed out here."""
    for name in tables:
        if name == "audit_chain":
            continue
        connection.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), "
            f'COALESCE((SELECT MAX(id) FROM "{name}"), 0) + 1, false)'
        )


# -- indexes and constraints ------------------------------------------------------------------


@dataclass
class _Schema:
    """The indexes and constraints of the copied tables (and foreign keys into them)."""

    indexes: list[tuple[str, str, str]]  # (table, index name, CREATE INDEX ...)
    constraints: list[tuple[str, str, str, str]]  # (table, name, kind p/u/f, definition)

    @classmethod
    def read(cls, tables: list[str]) -> _Schema:
        with db.engine.connect() as connection:
            constraints = connection.exec_driver_sql(
                "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) "
                "FROM pg_constraint WHERE contype IN ('p', 'u', 'f') "
                "AND (conrelid = ANY(%(t)s::regclass[]) OR confrelid = ANY(%(t)s::regclass[])) "
                "ORDER BY 1, 2",
                {"t": [f'"{name}"' for name in tables]},
            ).all()
            owned = {name for _, name, kind, _ in constraints if kind in "pu"}
            indexes = connection.exec_driver_sql(
                "SELECT tablename, indexname, indexdef FROM pg_indexes "
                "WHERE schemaname = current_schema() AND tablename = ANY(%(t)s) ORDER BY 1, 2",
                {"t": tables},
            ).all()
        return cls(
            [tuple(row) for row in indexes if row[1] not in owned],
            [tuple(row) for row in constraints],
        )

    def drop(self) -> None:
        with db.engine.begin() as connection:
            # Another session reading the tables would make this wait without end; say so.
            connection.exec_driver_sql("SET LOCAL lock_timeout = '30s'")
            for table, name, _kind, _ in sorted(self.constraints, key=lambda c: c[2] != "f"):
                connection.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            for _, name, _ in self.indexes:
                connection.exec_driver_sql(f'DROP INDEX "{name}"')

    def restore(self) -> None:
        """Indexes, primary keys and unique constraints, then foreign keys, on two connections.

        Statements are taken from one queue, the largest table's first, so both connections
        build on the same table at once and share its reads (PostgreSQL synchronises their
        scans); a table read once per index is what makes this phase long. Two foreign keys
        that share a table never run at once (each locks both its tables). Each statement
        commits on its own, so one that fails leaves every other one in place; the failures
        are raised together."""
        with db.engine.connect() as connection:
            sizes = dict(
                connection.exec_driver_sql(
                    "SELECT c.oid::regclass::text, pg_relation_size(c.oid) FROM pg_class c "
                    "WHERE c.oid = ANY(%(t)s::regclass[])",
                    {"t": sorted({table for table, *_ in self.indexes + self.constraints})},
                ).all()
            )
        builds = [(table, definition) for table, _, definition in self.indexes] + [
            (table, f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            for table, name, kind, definition in self.constraints
            if kind in "pu"
        ]
        builds.sort(key=lambda item: -sizes.get(item[0], 0))
        foreign = [
            (
                {table, _referenced(definition)},
                f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}',
            )
            for table, name, kind, definition in self.constraints
            if kind == "f"
        ]
        foreign.sort(key=lambda item: -max(sizes.get(t, 0) for t in item[0]))
        failed: list[str] = []
        _run_on_two(db.engine, [({table}, sql) for table, sql in builds], failed, shared=True)
        _run_on_two(db.engine, foreign, failed, shared=False)
        if failed:
            raise RuntimeError("could not recreate:\n" + "\n".join(failed))


def _referenced(definition: str) -> str:
    return re.search(r"REFERENCES\s+(\S+?)\(", definition).group(1)


def _run_on_two(engine, statements: list[tuple[set[str], str]], failed: list[str], shared: bool):
    """Run `statements` on two connections, in order; with shared=False, never two at once
    that touch the same table. Failures are added to `failed`."""
    guard = threading.Condition()
    waiting = list(statements)
    busy: list[set[str]] = []

    def take() -> tuple[set[str], str] | None:
        with guard:
            while waiting:
                for position, (tables, statement) in enumerate(waiting):
                    if shared or not any(tables & other for other in busy):
                        del waiting[position]
                        busy.append(tables)
                        return tables, statement
                guard.wait()
            return None

    def work() -> None:
        with engine.connect() as connection:
            connection.exec_driver_sql("SET maintenance_work_mem = '1GB'")
            connection.exec_driver_sql("SET max_parallel_maintenance_workers = 0")
            connection.exec_driver_sql("SET work_mem = '256MB'")
            connection.commit()
            while (item := take()) is not None:
                tables, statement = item
                began = time.monotonic()
                try:
                    connection.exec_driver_sql(statement)
                    connection.commit()
                except Exception as error:  # noqa: BLE001 - collected and raised by restore
                    connection.rollback()
                    failed.append(f"{statement}: {error}")
                logger.info("%.0f s: %s", time.monotonic() - began, statement)
                with guard:
                    busy.remove(tables)
                    guard.notify_all()

    threads = [threading.Thread(target=work, name=f"demo-copies-index-{n}") for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
