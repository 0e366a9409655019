"""A what-if replay: a draft of a form's chain run over a period's past requests by a job."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Enum, ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.extensions import db
from portal.models.form import Form
from portal.models.types import JSONDocument, UTCDateTime
from portal.models.user import User


class WhatIfState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class WhatIf(db.Model):
    """What an admin asked (the draft, the period, the assumptions) and what the replay found."""

    __tablename__ = "what_if"

    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("form.id"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    #: The draft schema exactly as the editor had it.
    schema_text: Mapped[str] = mapped_column(Text)
    first_day: Mapped[dt.date]
    last_day: Mapped[dt.date]
    #: The replay's assumptions: {"assume": {step: decision}, "similar": {step: step},
    #: "minutes_per_task": 10}.
    options: Mapped[dict] = mapped_column(JSONDocument, default=dict)
    state: Mapped[WhatIfState] = mapped_column(
        Enum(
            WhatIfState,
            native_enum=False,
            length=16,
            values_callable=lambda members: [m.value for m in members],
        ),
        default=WhatIfState.QUEUED,
    )
    total: Mapped[int] = mapped_column(default=0)
    done: Mapped[int] = mapped_column(default=0)
    #: The report (portal.domain.replay.Report.as_dict) once done.
    result: Mapped[dict | None] = mapped_column(JSONDocument)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: How long the replay took, for the page and the benchmark.
    seconds: Mapped[float | None]

    form: Mapped[Form] = relationship()
    requested_by: Mapped[User] = relationship()

    @property
    def percent(self) -> int:
        if self.state == WhatIfState.DONE:
            return 100
        return 0 if self.total == 0 else min(99, int(100 * self.done / self.total))

    @property
    def is_finished(self) -> bool:
        return self.state in (WhatIfState.DONE, WhatIfState.FAILED)
