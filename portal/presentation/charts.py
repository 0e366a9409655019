"""Chart geometry for process insight: where every bar, point, box and label of an SVG goes. Pure.

The templates in templates/insight/ draw what these functions place; colours come from CSS
classes (static/css/insight.css), never from style attributes, so the pages keep to the strict
Content-Security-Policy. Every chart also has a table with the same numbers for people who
cannot see it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from portal.domain.insight import duration_short, percent

#: The charts over time, in SVG user units: about the size they show at in half the page, so
#: their 12-unit labels read as 12-pixel text.
WIDTH, HEIGHT = 580, 250
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 22, 34
#: The process map's width for the whole chain (it scales to the page width).
MAP_WIDTH = 1160
#: How many shades the process map uses for waiting time (heat-0 … heat-5 in the CSS).
SHADES = 6
_HOUR, _DAY = 3600, 86400


@dataclass(frozen=True)
class Tick:
    at: float  # x or y in SVG units
    label: str


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    kind: str  # the CSS class suffix: submitted, approved, rejected, withdrawn
    title: str  # the tooltip (<title>) and what a screen reader hears


@dataclass(frozen=True)
class Axis:
    """A y axis from 0 to `top`, with its gridlines."""

    top: float
    ticks: list[Tick]


def nice_top(largest: float, steps: int = 4) -> tuple[float, float]:
    """A round maximum at or above `largest` and the step between gridlines (1, 2, 2.5 or 5
    times a power of ten, at most `steps` of them); (steps, 1) when there is nothing to show,
    so the axis still reads."""
    if largest <= 0:
        return float(steps), 1.0
    raw = largest / steps
    power = 10 ** math.floor(math.log10(raw))
    step = next(f * power for f in (1, 2, 2.5, 5, 10) if f * power * steps >= largest)
    # The tolerance keeps 0.4 / 0.1 (4.000000000000001) at 4 gridlines.
    return step * math.ceil(largest / step - 1e-9), step


def count_axis(largest: int) -> Axis:
    """A y axis for counts: whole numbers only."""
    top, step = nice_top(largest)
    step = max(1.0, math.ceil(step))
    top = step * math.ceil(max(largest, 1) / step)
    ticks = []
    value = 0.0
    while value <= top + 1e-9:
        ticks.append(Tick(_y(value, top), f"{int(value):,}"))
        value += step
    return Axis(top, ticks)


def duration_axis(longest: float) -> tuple[Axis, str]:
    """A y axis for durations in hours or days (whichever reads better); the unit's name."""
    unit, size = ("days", _DAY) if longest >= 2 * _DAY else ("hours", _HOUR)
    top, step = nice_top(longest / size)
    ticks = []
    value = 0.0
    while value <= top + 1e-9:
        label = f"{value:g}"
        ticks.append(Tick(_y(value, top), label))
        value += step
    return Axis(top * size, ticks), unit


def _y(value: float, top: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - value / top) if top else HEIGHT - BOTTOM


def _slots(count: int) -> tuple[float, float]:
    """The width of each bucket's slot along the x axis, and where the first begins."""
    return (WIDTH - LEFT - RIGHT) / max(count, 1), LEFT


def x_labels(labels: Sequence[str], most: int = 7) -> list[Tick]:
    """The bucket names under the x axis, every n-th one so that at most `most` show."""
    slot, start = _slots(len(labels))
    every = max(1, math.ceil(len(labels) / most))
    return [
        Tick(start + slot * (index + 0.5), label)
        for index, label in enumerate(labels)
        if index % every == 0
    ]


# -- volume: for each bucket, a bar of requests submitted beside a bar of outcomes -----------


@dataclass(frozen=True)
class VolumeChart:
    axis: Axis
    bars: list[Rect]
    labels: list[Tick]
    width: int = WIDTH
    height: int = HEIGHT
    baseline: float = HEIGHT - BOTTOM
    left: float = LEFT
    right: float = WIDTH - RIGHT


OUTCOMES = ("approved", "rejected", "withdrawn")


def volume_chart(rows: Sequence[tuple[str, str, int, int, int, int]]) -> VolumeChart:
    """rows: (axis label, full label, submitted, approved, rejected, withdrawn) per bucket."""
    largest = max([max(r[2], r[3] + r[4] + r[5]) for r in rows] or [0])
    axis = count_axis(largest)
    slot, start = _slots(len(rows))
    bar = max(1.0, min(28.0, slot * 0.36))
    gap = max(0.5, min(4.0, slot * 0.06))
    bars: list[Rect] = []
    floor = HEIGHT - BOTTOM
    scale = (HEIGHT - TOP - BOTTOM) / axis.top
    for index, (_, full, submitted, *outcomes) in enumerate(rows):
        middle = start + slot * (index + 0.5)
        if submitted:
            height = submitted * scale
            bars.append(
                Rect(
                    middle - gap / 2 - bar,
                    floor - height,
                    bar,
                    height,
                    "submitted",
                    f"{full}: {submitted:,} submitted",
                )
            )
        top = floor
        for kind, number in zip(OUTCOMES, outcomes, strict=True):
            if not number:
                continue
            height = number * scale
            top -= height
            bars.append(
                Rect(middle + gap / 2, top, bar, height, kind, f"{full}: {number:,} {kind}")
            )
    return VolumeChart(axis, bars, x_labels([r[0] for r in rows]))


# -- cycle time: median and 90th percentile per bucket, as lines -----------------------------


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class Line:
    kind: str  # median or p90
    #: Runs of neighbouring points (a bucket with nothing decided breaks the line).
    runs: list[list[Point]]

    @property
    def points(self) -> list[Point]:
        return [point for run in self.runs for point in run]

    @staticmethod
    def path(run: Sequence[Point]) -> str:
        """The SVG `points` attribute of a polyline through `run`."""
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in run)


@dataclass(frozen=True)
class TrendChart:
    axis: Axis
    unit: str
    lines: list[Line]
    labels: list[Tick]
    width: int = WIDTH
    height: int = HEIGHT
    baseline: float = HEIGHT - BOTTOM
    left: float = LEFT
    right: float = WIDTH - RIGHT


def trend_chart(rows: Sequence[tuple[str, str, float | None, float | None]]) -> TrendChart:
    """rows: (axis label, full label, median seconds, p90 seconds) per bucket."""
    longest = max([value for r in rows for value in r[2:] if value is not None] or [0])
    axis, unit = duration_axis(longest)
    slot, start = _slots(len(rows))
    lines = []
    for kind, column, words in (("p90", 3, "90th percentile"), ("median", 2, "median")):
        runs: list[list[Point]] = []
        current: list[Point] = []
        for index, row in enumerate(rows):
            value = row[column]
            if value is None:
                if current:
                    runs.append(current)
                current = []
                continue
            current.append(
                Point(
                    start + slot * (index + 0.5),
                    _y(value, axis.top),
                    f"{row[1]}: {words} {duration_short(value)}",
                )
            )
        if current:
            runs.append(current)
        lines.append(Line(kind, runs))
    return TrendChart(axis, unit, lines, x_labels([r[0] for r in rows]))


# -- the process map: the chain as boxes, shaded by their share of waiting time ---------------


@dataclass(frozen=True)
class MapStep:
    """What the process map says of one step (the caller fills it from the figures)."""

    name: str
    title: str
    reached: int
    taken: int
    conditional: bool
    auto_approved: int
    median_wait: float | None
    waiting_now: int
    share: float | None
    sent_back: int
    rejected: int


@dataclass(frozen=True)
class MapBox:
    step: MapStep
    x: float
    y: float
    width: float
    height: float
    shade: int
    title_lines: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    #: Where the incoming arrow starts (the previous box's right edge) and ends.
    arrow_from: float = 0.0
    arrow_to: float = 0.0
    arrow_label: str = ""


@dataclass(frozen=True)
class ProcessMap:
    width: float
    height: float
    start: tuple[float, float, float, float]  # x, y, width, height of the "Submitted" pill
    finish: tuple[float, float, float, float]
    finish_arrow: tuple[float, float]
    boxes: list[MapBox]
    middle: float  # the y of the arrows
    submitted: int


def shade(share: float | None) -> int:
    """0 (no waiting) to SHADES - 1 (half or more of all waiting time)."""
    if not share:
        return 0
    return min(SHADES - 1, 1 + int(share * 2 * (SHADES - 2)))


def process_map(steps: Sequence[MapStep], submitted: int) -> ProcessMap:
    """The chain from left to right: Submitted, every step, Approved."""
    pill, gap, box_height = 104.0, 40.0, 150.0
    count = max(len(steps), 1)
    box_width = max(160.0, min(240.0, (MAP_WIDTH - 2 * pill - (count + 1) * gap) / count))
    width = 2 * pill + count * box_width + (count + 1) * gap
    height = box_height + 24
    middle = 12 + box_height / 2
    x = pill + gap
    boxes = []
    previous_right = pill
    for step in steps:
        lines = []
        if step.conditional:
            lines.append(f"taken {step.taken:,} of {step.reached:,} ({percent(_rate(step))})")
        else:
            lines.append(f"reached {step.reached:,}")
        if step.auto_approved:
            lines.append(f"{step.auto_approved:,} approved by rule")
        lines.append(f"median wait {duration_short(step.median_wait)}")
        lines.append(f"{step.waiting_now:,} waiting now")
        returned = []
        if step.sent_back:
            returned.append(f"↩ {step.sent_back:,}")
        if step.rejected:
            returned.append(f"✕ {step.rejected:,}")
        if returned:
            lines.append("  ".join(returned))
        label = f"{step.reached:,}" if not step.conditional else f"{step.taken:,}"
        boxes.append(
            MapBox(
                step,
                x,
                12,
                box_width,
                box_height,
                shade(step.share),
                wrap(step.title, int((box_width - 24) // 8.6)),
                lines,
                previous_right,
                x,
                label,
            )
        )
        previous_right = x + box_width
        x += box_width + gap
    return ProcessMap(
        width,
        height,
        (0, middle - 22, pill, 44),
        (x, middle - 22, pill, 44),
        (previous_right, x),
        boxes,
        middle,
        submitted,
    )


def wrap(text: str, width: int, most: int = 2) -> list[str]:
    """`text` in lines of at most `width` characters, broken at spaces; at most `most` lines
    (the last one cut with an ellipsis if the text is longer)."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    if len(lines) > most:
        lines = lines[:most]
        lines[-1] = lines[-1][: max(1, width - 1)].rstrip() + "…"
    return [line if len(line) <= width else line[: width - 1] + "…" for line in lines]


def _rate(step: MapStep) -> float | None:
    return step.taken / step.reached if step.reached else None
