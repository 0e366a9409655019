"""Job kinds: every outbox row names one, and the registry says what each kind runs, on which
queue, for how long, and what the job is about (its subject).

A kind is checked when its row is written (`portal.outbox.add`), not when a worker runs it:
a name that is not a JobKind, or arguments its handler does not take, are refused there.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property


class JobKind(StrEnum):
    """The outbox jobs; the values are what the outbox table's `job` column holds."""

    START_CHAIN = "start_chain"
    SEND_EMAIL = "send_email"
    DELIVER_WEBHOOK = "deliver_webhook"
    RENDER_PDF = "render_pdf"
    BUILD_EXPORT = "build_export"
    RUN_WHAT_IF = "run_what_if"


class QueueKind(StrEnum):
    """Which RQ queue a job goes to. Bulk work has workers of its own, so that chain steps and
    emails never wait behind a PDF or an export (`portal.queue.queue_name`)."""

    DEFAULT = "default"
    BULK = "bulk"


class UnknownJob(ValueError):
    """An outbox row that names no job kind, or arguments its handler does not take."""


@dataclass(frozen=True)
class JobSpec:
    """What runs a kind of job, where, and for how long."""

    #: "module:function", imported when first needed (handlers import the services, which
    #: import the outbox, which imports this).
    handler: str
    queue: QueueKind
    #: The argument that names what the job is about: "submission_id" makes the row's subject
    #: "submission:42".
    subject: str
    #: Seconds RQ lets the job run; None for the app's JOB_TIMEOUT.
    timeout: int | None = None

    @cached_property
    def function(self):
        """The handler: called as handler(claim, **args) by portal.jobs.run_outbox."""
        module, name = self.handler.split(":")
        return getattr(importlib.import_module(module), name)

    def subject_of(self, args: dict) -> str:
        return f"{self.subject.removesuffix('_id')}:{args[self.subject]}"


#: Every job kind and its handler, queue, subject and time limit.
REGISTRY: dict[JobKind, JobSpec] = {
    JobKind.START_CHAIN: JobSpec(
        "portal.jobs.handlers:start_chain", QueueKind.DEFAULT, "submission_id"
    ),
    JobKind.SEND_EMAIL: JobSpec("portal.jobs.email:send_email", QueueKind.DEFAULT, "email_id"),
    JobKind.DELIVER_WEBHOOK: JobSpec(
        "portal.jobs.handlers:deliver_webhook", QueueKind.DEFAULT, "delivery_id"
    ),
    JobKind.RENDER_PDF: JobSpec(
        "portal.jobs.handlers:render_pdf", QueueKind.BULK, "submission_id", timeout=15 * 60
    ),
    JobKind.BUILD_EXPORT: JobSpec(
        "portal.jobs.export:build_export", QueueKind.BULK, "export_id", timeout=6 * 3600
    ),
    JobKind.RUN_WHAT_IF: JobSpec(
        "portal.jobs.whatif:run_what_if", QueueKind.BULK, "what_if_id", timeout=30 * 60
    ),
}


def check(kind, args: dict) -> JobSpec:
    """The spec of `kind` if its handler takes `args`; UnknownJob (saying why) if not."""
    if not isinstance(kind, JobKind):
        raise UnknownJob(f"{kind!r} is not a job kind: outbox jobs are named by a JobKind")
    spec = REGISTRY[kind]
    try:
        inspect.signature(spec.function).bind(None, **args)
    except TypeError as error:
        raise UnknownJob(f"{kind}: {error}") from None
    if args.get(spec.subject) is None:
        raise UnknownJob(f"{kind}: {spec.subject} is needed (it names the job's subject)")
    return spec
