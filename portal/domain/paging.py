"""Pages of a long list: how many there are, and which one to show. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

Row = TypeVar("Row")


def page_count(total: int, size: int) -> int:
    """How many pages `total` rows fill at `size` a page; an empty list is one (empty) page."""
    return max(1, -(-total // size))


def page_to_show(asked: int | None, total: int, size: int) -> int:
    """The page asked for, kept within the pages there are: below the first is the first, past
    the last (or too large for the database to offset) is the last."""
    return min(max(1, asked or 1), page_count(total, size))


@dataclass(frozen=True)
class Page(Generic[Row]):
    """One page of a listing: its rows, which page it is, and how many rows there are in all."""

    rows: list[Row]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return page_count(self.total, self.size)
