"""Step value: which steps change outcomes, and which only add time. Pure.

For each step of a form's chain, over a period and by amount band: how many requests it
decided (people answered), how many it approved, rejected or sent back, how long they waited
(median and 90th percentile) and how many tasks (answers) it cost. The database counts
(portal.services.insight); this module cuts the bands and says what the figures mean:

- A step **changed the outcome** of a request when it rejected it or sent it back.
- A band has **enough volume** to say "approved all" when the step decided at least
  ENOUGH_VOLUME requests in it; the page states the threshold under the table.
- The sentences are computed from these figures, never written by hand or generated.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from portal.domain.chain import ChainSpec
from portal.domain.insight import count_words, duration_words

#: Decisions a step must have made in a band before "approved all" is said of it.
ENOUGH_VOLUME = 30
#: Where the amount bands are cut, besides the thresholds the chain's own conditions use.
DEFAULT_EDGES = (1_000, 10_000, 25_000, 100_000)


@dataclass(frozen=True)
class Band:
    """Amounts from `low` (included) to `high` (excluded); None is open-ended."""

    low: Decimal | None
    high: Decimal | None

    def words(self, currency: str = "") -> str:
        """'below EUR 1,000', 'between EUR 1,000 and 10,000', 'from EUR 100,000'."""
        money = f"{currency} " if currency else ""
        if self.low is None and self.high is None:
            return "of any amount"
        if self.low is None:
            return f"below {money}{_number(self.high)}"
        if self.high is None:
            return f"from {money}{_number(self.low)}"
        return f"between {money}{_number(self.low)} and {_number(self.high)}"

    @property
    def label(self) -> str:
        """The table's short label: '< 1,000', '1,000 – 10,000', '≥ 100,000'."""
        if self.low is None and self.high is None:
            return "any amount"
        if self.low is None:
            return f"< {_number(self.high)}"
        if self.high is None:
            return f"≥ {_number(self.low)}"
        return f"{_number(self.low)} – {_number(self.high)}"


NO_AMOUNT = "no amount"


def _number(value: Decimal) -> str:
    return f"{value:,.2f}".removesuffix(".00")


def bands(edges: Iterable[float | Decimal]) -> list[Band]:
    """The bands between sorted, distinct edges (below the first, ..., from the last)."""
    cut = sorted({Decimal(str(edge)) for edge in edges if edge is not None and edge > 0})
    if not cut:
        return [Band(None, None)]
    found = [Band(None, cut[0])]
    found += [Band(low, high) for low, high in zip(cut, cut[1:], strict=False)]
    found.append(Band(cut[-1], None))
    return found


def chain_edges(spec: ChainSpec | None, amount_field: str | None) -> tuple[Decimal, ...]:
    """The amounts the chain's conditions and rules compare the amount field with."""
    if spec is None or not amount_field:
        return ()
    pattern = re.compile(
        rf"\b{re.escape(amount_field)}\s*(?:<=|>=|<|>|==)\s*([0-9][0-9_]*(?:\.[0-9]+)?)"
        rf"|([0-9][0-9_]*(?:\.[0-9]+)?)\s*(?:<=|>=|<|>|==)\s*{re.escape(amount_field)}\b"
    )
    found = set()
    for step in spec.steps:
        for expression in (step.when, step.auto_approve_if):
            if expression is None:
                continue
            for match in pattern.finditer(str(expression)):
                found.add(Decimal((match.group(1) or match.group(2)).replace("_", "")))
    return tuple(sorted(found))


@dataclass
class Cell:
    """One step in one band: what it decided, how long that took, what it cost."""

    band: Band | None  # None: requests without an amount
    decided: int = 0
    approved: int = 0
    rejected: int = 0
    sent_back: int = 0
    median: float | None = None
    p90: float | None = None
    tasks: int = 0

    @property
    def changed(self) -> int:
        """Requests whose outcome the step changed: rejected or sent back."""
        return self.rejected + self.sent_back

    @property
    def enough(self) -> bool:
        return self.decided >= ENOUGH_VOLUME

    @property
    def approved_all(self) -> bool:
        return self.enough and self.changed == 0 and self.approved == self.decided

    def words(self, currency: str) -> str:
        return self.band.words(currency) if self.band else "without an amount"

    @property
    def label(self) -> str:
        return self.band.label if self.band else NO_AMOUNT


@dataclass
class StepValue:
    name: str
    title: str
    cells: list[Cell] = field(default_factory=list)
    total: Cell = field(default_factory=lambda: Cell(None))
    sentence: str = ""

    @property
    def has_figures(self) -> bool:
        return self.total.decided > 0


def assemble(
    steps: Sequence[tuple[str, str]],
    band_list: Sequence[Band],
    cells: Mapping[tuple[str, int | None], Cell],
    totals: Mapping[str, Cell],
    currency: str,
    period_words: str,
) -> list[StepValue]:
    """Each step's row of cells (band index None: no amount), total and sentence."""
    found = []
    for name, title in steps:
        row = [cells.get((name, index)) or Cell(band) for index, band in enumerate(band_list)]
        if (name, None) in cells:
            row.append(cells[(name, None)])
        value = StepValue(name, title, row, totals.get(name) or Cell(None))
        value.sentence = sentence(value, currency, period_words)
        found.append(value)
    return found


def sentence(value: StepValue, currency: str, period_words: str) -> str:
    """'CFO approval approved all 212 requests between EUR 10,000 and 25,000 in the last 12
    months, adding a median 1.3 days; it rejected 3 of 41 from EUR 25,000.' Empty when no
    band has enough volume to say it approved everything."""
    clean = [cell for cell in value.cells if cell.approved_all]
    if not clean:
        return ""
    if len(clean) == 1:
        (cell,) = clean
        said = (
            f"{value.title} approved all {count_words(cell.decided, 'request')} "
            f"{cell.words(currency)} {period_words}, adding a median "
            f"{duration_words(cell.median)}"
        )
    else:
        each = [
            f"all {count_words(cell.decided, 'request')} {cell.words(currency)} "
            f"(median wait {duration_words(cell.median)})"
            for cell in clean
        ]
        said = f"{value.title} approved {_join(each)} {period_words}"
    changed = [cell for cell in value.cells if cell.changed]
    if changed:
        said += "; it " + _join([_changed_words(cell, currency) for cell in changed])
    return said + "."


def _changed_words(cell: Cell, currency: str) -> str:
    what = []
    if cell.rejected:
        what.append(f"rejected {cell.rejected:,}")
    if cell.sent_back:
        what.append(f"sent back {cell.sent_back:,}")
    return f"{' and '.join(what)} of {cell.decided:,} {cell.words(currency)}"


def _join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def thresholds_words() -> str:
    """What the page says under the table about when a sentence is said."""
    return (
        f"A sentence says a step approved everything in a band only when it decided at least "
        f"{ENOUGH_VOLUME} requests there and rejected or sent back none of them. Bands are cut "
        f"at {', '.join(f'{edge:,}' for edge in DEFAULT_EDGES)} and at every amount the "
        "chain's own conditions compare with."
    )
