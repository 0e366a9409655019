import pytest

from portal.domain.paging import page_count, page_to_show


@pytest.mark.parametrize("total, pages", [(0, 1), (1, 1), (20, 1), (21, 2), (40, 2), (41, 3)])
def test_page_count(total, pages):
    assert page_count(total, 20) == pages


@pytest.mark.parametrize(
    "asked, shown", [(None, 1), (-3, 1), (0, 1), (1, 1), (2, 2), (3, 3), (4, 3), (10**20, 3)]
)
def test_page_to_show_stays_within_the_pages(asked, shown):
    assert page_to_show(asked, 41, 20) == shown
