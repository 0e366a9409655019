"""What other systems use to reach Baton (API tokens) and what Baton sends them (webhooks)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.extensions import db
from portal.models.types import JSONDocument, UTCDateTime
from portal.models.user import User


class ApiToken(db.Model):
    """A bearer token that acts as its user. Only its SHA-256 is stored; it is shown once."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    #: SHA-256 of the whole token. Tokens carry 256 random bits, so a fast hash is enough:
    #: nobody can guess one to try against it, unlike a password.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The token's first characters, to tell tokens apart in lists and logs.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.user.is_active


class WebhookEndpoint(db.Model):
    """A URL that wants to hear about some events, and the secret its deliveries are signed with."""

    __tablename__ = "webhook_endpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    #: Kept as given: Baton needs it to sign, as the receiver needs it to check.
    secret: Mapped[str] = mapped_column(String(200))
    events: Mapped[list] = mapped_column(JSONDocument, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)

    created_by: Mapped[User | None] = relationship()


class DeliveryState(enum.StrEnum):
    PENDING = "pending"  # waiting for its first or next attempt
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # every attempt failed; an admin may redeliver it


class WebhookDelivery(db.Model):
    """One event for one endpoint: the exact body sent, every attempt's outcome."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (Index("ix_webhook_delivery_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoint.id"), index=True)
    event: Mapped[str] = mapped_column(String(64))
    #: The JSON body exactly as sent (and signed), so a redelivery sends the same bytes.
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[DeliveryState] = mapped_column(
        Enum(
            DeliveryState,
            native_enum=False,
            length=16,
            values_callable=lambda kinds: [k.value for k in kinds],
        ),
        default=DeliveryState.PENDING,
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Every attempt: {"at", "status", "error", "ms"}, oldest first.
    history: Mapped[list] = mapped_column(JSONDocument, default=list)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)

    endpoint: Mapped[WebhookEndpoint] = relationship()
