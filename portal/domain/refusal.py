"""Refused: the one base of every refusal a person reads, with the HTTP status that answers it.

A service or a domain rule that will not do what was asked raises a subclass of `Refused` with
a message for the person who asked. portal.web renders it as a page or, under /api, as JSON;
the request that raised it commits nothing (the commit point in portal/web.py).
"""

from __future__ import annotations


class Refused(Exception):
    """What was asked was not done; `message` says why, `status` is the HTTP answer."""

    #: 422: the input was understood but cannot be accepted. Subclasses say their own.
    status: int = 422

    def __init__(self, message: str = "", status: int | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status

    @property
    def message(self) -> str:
        return str(self)


class NotFound(Refused):
    """There is no such record, or it is not the person's to see (ids reveal nothing)."""

    status = 404


class Forbidden(Refused):
    """The person may see this but not do it."""

    status = 403


class Conflict(Refused):
    """The record is not in a state that allows it, or changed since the person looked."""

    status = 409
