"""json_text: reading JSON someone else wrote, refusing what cannot be read safely."""

from __future__ import annotations

import pytest

from portal.domain import json_text
from portal.domain.json_text import JsonUnreadable


@pytest.mark.parametrize(
    ("text", "depth"),
    [("1", 0), ("[]", 1), ('{"a": [1, {"b": []}]}', 4), ('["[[[[", "]]"]', 1), ('"\\"[["', 0)],
)
def test_depth_counts_brackets_outside_strings_only(text, depth):
    assert json_text.depth(text) == depth


def test_an_unclosed_string_of_escaped_quotes_is_refused_at_once():
    """Each escaped quote used to start a new scan to the end of the body: 64 KB of them took
    25 s of CPU and 400 KB would take a quarter of an hour, from any API token holder. The
    scan is linear now; without that this test does not finish in any useful time."""
    body = '{"data": "' + '\\"' * 200_000
    with pytest.raises(JsonUnreadable):
        json_text.read(body)
    assert json_text.depth(body) == 1
