"""What a decision writes is found in one place: approvals.HANDLERS."""

from __future__ import annotations

import typing

from portal.domain import chain as engine
from portal.services import approvals


def test_every_engine_action_type_has_exactly_one_handler():
    action_types = set(typing.get_args(engine.Action))
    assert set(approvals.HANDLERS) == action_types
    handlers = list(approvals.HANDLERS.values())
    assert len(set(handlers)) == len(handlers), "one handler serves two action types"
