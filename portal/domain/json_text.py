"""Read JSON text that someone else wrote, refusing what cannot be read safely, with a reason.

Python's `json` recurses once per nesting level, so a body nested a thousand levels deep raises
RecursionError (a 500) instead of a refusal. `read` measures the nesting first, with no
recursion, and refuses anything deeper than `max_depth`. It also refuses bytes that are not
UTF-8 (instead of replacing them), NaN and Infinity (not JSON), and a key given twice in one
object (JSON readers disagree on which one wins).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from itertools import accumulate

#: How deeply arrays and objects may nest in a JSON body or a form schema. A form schema needs
#: about 8 levels, a submission about 5.
MAX_DEPTH = 32

#: A string, or what is left of one that never closes: the closing quote is optional, so a match
#: never fails and is never tried again from a later quote (an unclosed run of escaped quotes
#: made the scan quadratic in the body's length).
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JsonUnreadable(ValueError):
    """The text is not JSON that can be read; the message says why, for the person who sent it."""


def depth(text: str) -> int:
    """How deeply arrays and objects nest in `text` (0 for a bare value), without recursing."""
    brackets = _BRACKET.findall(_STRING.sub('""', text))
    return max(accumulate(_STEP[b] for b in brackets), default=0)


def read(data: str | bytes, max_depth: int = MAX_DEPTH, unique_keys: bool = True) -> object:
    """Parse JSON, numbers with a fraction as Decimal; raise JsonUnreadable saying what is wrong.

    `unique_keys=False` lets a later key replace an earlier one (json's own way), for text that
    was stored before repeated keys were refused.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonUnreadable(
                f"it is not UTF-8 text (byte {exc.start + 1} cannot be read)"
            ) from None
    if depth(data) > max_depth:
        raise JsonUnreadable(f"it nests arrays and objects more than {max_depth} levels deep")
    try:
        return json.loads(
            data,
            parse_float=Decimal,
            parse_constant=_refuse_constant,
            object_pairs_hook=_refuse_repeated_keys if unique_keys else None,
        )
    except json.JSONDecodeError as exc:
        raise JsonUnreadable(f"line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:
        if "digits" in str(exc):  # an integer longer than Python converts (4,300 digits)
            raise JsonUnreadable("a number in it has too many digits") from None
        raise JsonUnreadable(str(exc)) from None


def _refuse_constant(name: str) -> None:
    # Python's json reads NaN and Infinity, which JSON does not have and no limit can compare.
    raise ValueError(f"{name} is not a number JSON allows")


def _refuse_repeated_keys(pairs: list[tuple[str, object]]) -> dict:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        repeated = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"the key {repeated!r} is given twice in one object")
    return found
