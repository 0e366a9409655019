"""docs/approvals.md lists every status the emailed-link page answers."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "approvals.md"

#: What /act/<token> answers (portal/blueprints/approvals/routes.py): the link problems, the
#: page itself, a resubmitted request, a refused decision, and too many wrong passwords.
ACT_STATUSES = {200, 403, 404, 409, 410, 422, 429}


def test_the_link_page_table_lists_every_status_the_page_answers():
    text = DOC.read_text("utf-8")
    table = text.split("| Situation | Page | HTTP status |", 1)[1].split("\n\n", 1)[0]
    statuses = [row.strip("|").split("|")[-1] for row in table.splitlines() if row.startswith("|")]
    documented = {int(code) for cell in statuses for code in re.findall(r"\b[1-5]\d\d\b", cell)}
    assert documented == ACT_STATUSES
