"""CSV cells never start a formula a spreadsheet would run; numbers stay numbers."""

import csv
import io

import pytest

from portal.domain import spreadsheet


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("https://evil.example","Open")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1:A9)",
        "\t=1+1",
        "\r=1+1",
        "\n=1+1",
        "\uff1d1+1",
    ],
)
def test_a_cell_that_would_start_a_formula_is_written_as_text(text):
    assert spreadsheet.cell(text) == "'" + text


@pytest.mark.parametrize("text", ["Acme GmbH", "-12.50", "+4", "1e5", "", "a=b", "12-3"])
def test_other_cells_and_numbers_are_written_as_they_are(text):
    assert spreadsheet.cell(text) == text


def test_the_writer_escapes_every_cell_of_every_row():
    out = io.StringIO()
    writer = spreadsheet.writer(out, lineterminator="\n")
    writer.writerow(["name", "amount"])
    writer.writerows([["=1+1", -5], [None, "@x"]])
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows == [["name", "amount"], ["'=1+1", "-5"], ["", "'@x"]]
