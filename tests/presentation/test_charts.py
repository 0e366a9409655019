"""Where the insight charts put every bar, point, box and label (portal.presentation.charts)."""

from __future__ import annotations

import pytest

from portal.presentation import charts

HOUR, DAY = 3600, 86400


@pytest.mark.parametrize(
    ("largest", "top", "step"),
    [(0, 4, 1), (3, 3, 1), (7, 8, 2), (9, 10, 2.5), (44, 60, 20), (180, 200, 50), (0.4, 0.4, 0.1)],
)
def test_round_axis_maxima(largest, top, step):
    assert charts.nice_top(largest) == (pytest.approx(top), pytest.approx(step))


def test_a_count_axis_has_whole_numbers():
    axis = charts.count_axis(3)
    assert [tick.label for tick in axis.ticks] == ["0", "1", "2", "3"]
    assert axis.ticks[0].at == charts.HEIGHT - charts.BOTTOM and axis.ticks[-1].at == charts.TOP


def test_volume_bars_are_proportional_and_outcomes_stack():
    chart = charts.volume_chart([("1 Mar", "1 Mar", 40, 20, 10, 0), ("2 Mar", "2 Mar", 0, 0, 0, 0)])
    assert chart.axis.top == 40
    by_kind = {bar.kind: bar for bar in chart.bars}
    assert set(by_kind) == {"submitted", "approved", "rejected"}  # nothing drawn for a zero
    plot = charts.HEIGHT - charts.TOP - charts.BOTTOM
    assert by_kind["submitted"].height == pytest.approx(plot)
    assert by_kind["approved"].height == pytest.approx(plot / 2)
    assert by_kind["rejected"].y + by_kind["rejected"].height == pytest.approx(
        by_kind["approved"].y
    )
    assert by_kind["approved"].title == "1 Mar: 20 approved"


def test_a_trend_line_breaks_where_nothing_was_decided():
    chart = charts.trend_chart(
        [("a", "A", 3 * DAY, 5 * DAY), ("b", "B", None, None), ("c", "C", 2 * DAY, 4 * DAY)]
    )
    assert chart.unit == "days" and chart.axis.top == 6 * DAY  # gridlines every 2 days
    median = next(line for line in chart.lines if line.kind == "median")
    assert [len(run) for run in median.runs] == [1, 1]
    assert median.points[0].title == "A: median 3 d"


def test_the_process_map_shades_and_labels_each_step():
    steps = [
        charts.MapStep("manager", "Manager approval", 6, 6, False, 0, 4 * HOUR, 0, 0.07, 1, 0),
        charts.MapStep("finance", "Finance approval", 4, 4, False, 0, 48 * HOUR, 1, 0.92, 0, 1),
        charts.MapStep("cfo", "CFO approval", 3, 1, True, 0, 6 * HOUR, 0, 0.01, 0, 0),
    ]
    drawn = charts.process_map(steps, submitted=5)
    assert [box.shade for box in drawn.boxes] == [1, 5, 1]
    assert drawn.boxes[2].lines[0] == "taken 1 of 3 (33%)"
    assert drawn.boxes[0].lines == ["reached 6", "median wait 4 h", "0 waiting now", "↩ 1"]
    assert [box.arrow_label for box in drawn.boxes] == ["6", "4", "1"]
    assert drawn.boxes[1].arrow_from == drawn.boxes[0].x + drawn.boxes[0].width


@pytest.mark.parametrize(
    ("share", "shade"), [(None, 0), (0, 0), (0.01, 1), (0.2, 2), (0.3, 3), (0.45, 4), (0.9, 5)]
)
def test_shades(share, shade):
    assert charts.shade(share) == shade


def test_titles_wrap_into_two_lines_at_most():
    assert charts.wrap("Cost-centre owner approval", 18) == ["Cost-centre owner", "approval"]
    assert charts.wrap("A very long step title that goes on", 10) == ["A very", "long step…"]
