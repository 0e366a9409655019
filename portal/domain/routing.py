"""Who is asked to decide a step: the rule, over plain data the service looked up.

The service finds each assignee entry's candidates (named users, group members, managers,
lookup owners, the round-robin cursor, open-task counts) and who is away today; this module
decides whom of them to ask, when the form's fallback group is asked as well, and who stands in
for whom.

The submitter never decides their own request (segregation of duties). `may_decide` is where
that is written; the chain, escalation and hand-over all ask it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

ONLY_THE_SUBMITTER = "the only person found is the submitter, who cannot approve their own request"


@dataclass(frozen=True)
class Ask:
    """Someone to ask: the person, and whom they act for when they stand in for someone."""

    user: int
    on_behalf_of: int | None = None


def may_decide(person: int, submitter: int) -> bool:
    """Whether `person` may decide a request `submitter` made: anyone but the submitter."""
    return person != submitter


def deciders(people: Iterable[int], submitter: int) -> list[int]:
    """`people` who may decide the request, each once, in the order given."""
    return [person for person in dict.fromkeys(people) if may_decide(person, submitter)]


@dataclass(frozen=True)
class Found:
    """What one assignee entry found: people, or why nobody (then the fallback group is asked)."""

    people: tuple[int, ...] = ()
    problem: str = ""


def from_group(group: str, members: Sequence[int], submitter: int) -> Found:
    """A group entry's candidates: its active members other than the submitter."""
    eligible = deciders(members, submitter)
    if not eligible:
        return Found(problem=f"group {group} has nobody (other than the submitter) to ask")
    return Found(tuple(eligible))


def next_in_turn(candidates: Sequence[int], last: int | None) -> int:
    """Round robin: the first candidate (by id) after the one picked last, wrapping around."""
    ordered = sorted(candidates)
    after = [person for person in ordered if last is not None and person > last]
    return after[0] if after else ordered[0]


def least_busy(candidates: Sequence[int], open_tasks: Mapping[int, int]) -> int:
    """The candidate with the fewest open tasks; the lowest id among equals."""
    return min(candidates, key=lambda person: (open_tasks.get(person, 0), person))


@dataclass(frozen=True)
class Routing:
    """Whom a step asks, and why the fallback group is asked too (empty if it is not)."""

    people: tuple[int, ...]
    problem: str = ""
    #: How many of the fallback group's members were added (audited with the problem).
    fallback_people: int = 0

    def step_reason(self, fallback_group: str) -> str:
        """What the step shows when its fallback group was asked."""
        return f"{self.problem}; routed to the {fallback_group} group"


def route(found: Sequence[Found], submitter: int, fallback: Sequence[int] = ()) -> Routing:
    """The people to ask for a step: everyone its entries found (never the submitter) and, if
    an entry found nobody or found only the submitter, the `fallback` group's members too.

    The service looks the fallback group up only when `needs_fallback(found, submitter)`.
    """
    people = [person for entry in found for person in entry.people]
    eligible = deciders(people, submitter)
    problems = [entry.problem for entry in found if entry.problem]
    if people and not eligible:
        problems.append(ONLY_THE_SUBMITTER)
    if not problems:
        return Routing(tuple(eligible))
    added = deciders(fallback, submitter)
    return Routing(tuple(dict.fromkeys(eligible + added)), "; ".join(problems), len(added))


def needs_fallback(found: Sequence[Found], submitter: int) -> bool:
    """Whether `route` will ask the fallback group (so the service must look it up)."""
    return bool(route(found, submitter).problem)


def stand_ins(people: Sequence[int], submitter: int, delegates: Mapping[int, int]) -> list[Ask]:
    """One ask per person; someone away is stood in for by their delegate, who acts on their
    behalf, unless the delegate is the submitter or is asked already.

    `delegates` maps each person who is away today to their active delegate.
    """
    asks = []
    for person in people:
        delegate = delegates.get(person)
        if delegate is not None and may_decide(delegate, submitter) and delegate not in people:
            asks.append(Ask(delegate, on_behalf_of=person))
        else:
            asks.append(Ask(person))
    return asks
