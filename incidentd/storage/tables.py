"""The relational model: SQLAlchemy 2 declarative tables (Alembic owns the DDL)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

TextArray = ARRAY(Text)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Space(Base):
    """A tenant: products, alerts and incidents live in exactly one space."""

    __tablename__ = "spaces"

    slug: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    features: Mapped[list[str]] = mapped_column(TextArray, server_default="{}")
    correlation_window_seconds: Mapped[int] = mapped_column(Integer, server_default="21600")
    auto_resolve: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    lineage_version: Mapped[int] = mapped_column(BigInteger, server_default="0")
    state_seq: Mapped[int] = mapped_column(BigInteger, server_default="0")
    last_incident_number: Mapped[int] = mapped_column(BigInteger, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Product(Base):
    """A data product: a node of the lineage graph."""

    __tablename__ = "products"

    space: Mapped[str] = mapped_column(Text, primary_key=True)
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    owners: Mapped[list[str]] = mapped_column(TextArray, server_default="{}")
    stewards: Mapped[list[str]] = mapped_column(TextArray, server_default="{}")
    tier: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(TextArray, server_default="{}")
    datasets: Mapped[list[str]] = mapped_column(TextArray, server_default="{}")
    project_id: Mapped[int] = mapped_column(Integer, server_default="0")
    # Derived from `datasets` on every write (incidentd.lineage.connections).
    connection_ids: Mapped[list[str]] = mapped_column(TextArray, server_default="{}")
    connection_types: Mapped[list[str]] = mapped_column(TextArray, server_default="{}")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_products_datasets", "datasets", postgresql_using="gin"),)


class Edge(Base):
    """A lineage edge, upstream -> downstream, inside one space."""

    __tablename__ = "edges"

    space: Mapped[str] = mapped_column(Text, primary_key=True)
    upstream: Mapped[str] = mapped_column(Text, primary_key=True)
    downstream: Mapped[str] = mapped_column(Text, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Incident(Base):
    """A correlated group of alerts with its derived snapshot."""

    __tablename__ = "incidents"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    space: Mapped[str] = mapped_column(Text)
    number: Mapped[int] = mapped_column(BigInteger)  # per space: 1, 2, 3… in creation order
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(Text)
    severity_locked: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    impact: Mapped[str] = mapped_column(Text)
    root_cause: Mapped[str | None] = mapped_column(Text)
    root_product_id: Mapped[str | None] = mapped_column(Text)
    root_locked: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    blast_radius: Mapped[list[str]] = mapped_column(TextArray, server_default="{}")
    products: Mapped[list[str]] = mapped_column(TextArray, server_default="{}")
    suspected_upstream: Mapped[list[str]] = mapped_column(TextArray, server_default="{}")
    tags: Mapped[list[str]] = mapped_column(TextArray, server_default="{}")
    ticket_id: Mapped[str | None] = mapped_column(Text)
    merged_into: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    alert_count: Mapped[int] = mapped_column(Integer, server_default="0")
    version: Mapped[int] = mapped_column(Integer, server_default="0")
    state_seq: Mapped[int] = mapped_column(BigInteger, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_alert_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_alert_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cleared_by: Mapped[list[str]] = mapped_column(TextArray, server_default="{}")
    """Recoveries held by another incident that cleared a fingerprint of this one."""

    __table_args__ = (
        UniqueConstraint("space", "number", name="uq_incidents_space_number"),
        Index("ix_incidents_space_status", "space", "status"),
        Index(
            "ix_incidents_open_window",
            "space",
            "last_alert_at",
            postgresql_where=text("status <> 'resolved'"),
        ),
        Index("ix_incidents_space_seq", "space", "state_seq"),
        CheckConstraint(
            "status IN ('open', 'investigating', 'resolved')", name="ck_incidents_status"
        ),
        CheckConstraint(
            "severity IN ('critical', 'high', 'medium', 'low', 'info')",
            name="ck_incidents_severity",
        ),
        CheckConstraint("impact IN ('HIGH', 'MEDIUM', 'LOW')", name="ck_incidents_impact"),
        CheckConstraint(
            "(status = 'resolved') = (resolved_at IS NOT NULL)", name="ck_incidents_resolved_at"
        ),
        CheckConstraint(
            "merged_into IS NULL OR (status = 'resolved' AND merged_into <> id)",
            name="ck_incidents_merged_resolved",
        ),
    )


class Alert(Base):
    """Every alert ever received, stored once per space (unique space, alert_id), raw payload."""

    __tablename__ = "alerts"

    pk: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(Text)
    space: Mapped[str] = mapped_column(Text)
    product_id: Mapped[str] = mapped_column(Text)
    alert_type: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    fingerprint: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(TextArray, server_default="{}")
    incident_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("incidents.id")
    )
    added_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB)

    __table_args__ = (
        UniqueConstraint("space", "alert_id", name="uq_alerts_space_alert_id"),
        Index("ix_alerts_incident", "incident_id"),
        Index("ix_alerts_space_fingerprint", "space", "fingerprint"),
        Index("ix_alerts_space_occurred", "space", "occurred_at"),
        Index(
            "ix_alerts_orphan_recoveries",
            "space",
            "fingerprint",
            postgresql_where=text("incident_id IS NULL AND status = 'resolved'"),
        ),
        CheckConstraint("status IN ('firing', 'resolved')", name="ck_alerts_status"),
        CheckConstraint(
            "(incident_id IS NULL) = (added_at IS NULL)", name="ck_alerts_added_with_incident"
        ),
    )


class IncidentHistory(Base):
    """An incident's lifecycle: NEW / ONGOING / RESOLVED / REOPENED / MERGED with alert refs."""

    __tablename__ = "incident_history"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("incidents.id"))
    state: Mapped[str] = mapped_column(Text)
    alert_ids: Mapped[list[str]] = mapped_column(TextArray, server_default="{}")
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    actor: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_history_incident", "incident_id", "id"),)


class Outbox(Base):
    """Messages written in the business transaction, published by the relay afterwards."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(Text)
    key: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    incident_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    channel: Mapped[str] = mapped_column(Text, server_default="kafka")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("subscriptions.id", ondelete="CASCADE")
    )
    event_id: Mapped[str | None] = mapped_column(Text)
    event_type: Mapped[str | None] = mapped_column(Text)
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_outbox_unsent", "channel", "id", postgresql_where=text("sent_at IS NULL")),
        Index(
            "ix_outbox_pending_order",
            "channel",
            "topic",
            "key",
            "id",
            postgresql_where=text("sent_at IS NULL AND failed_at IS NULL"),
        ),
        Index(
            "ix_outbox_subscription_event",
            "subscription_id",
            "event_id",
            unique=True,
            postgresql_where=text("subscription_id IS NOT NULL"),
        ),
    )


class Subscription(Base):
    """A space's channel and target, with the filter of the incident events it gets."""

    __tablename__ = "subscriptions"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    space: Mapped[str] = mapped_column(Text, ForeignKey("spaces.slug", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(Text)
    target: Mapped[str] = mapped_column(Text)
    secret: Mapped[str | None] = mapped_column(Text)
    filter: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_subscriptions_space", "space"),)


class IncidentChannel(Base):
    """A channel that told someone about an incident (and so about each of its alerts)."""

    __tablename__ = "incident_channels"

    incident_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(Text, primary_key=True)
    first_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class User(Base):
    """A person who uses the API."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Membership(Base):
    """A user's role in a space."""

    __tablename__ = "memberships"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"), primary_key=True)
    space: Mapped[str] = mapped_column(Text, ForeignKey("spaces.slug"), primary_key=True)
    role: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(
            "role IN ('viewer', 'editor', 'admin', 'ingest')", name="ck_memberships_role"
        ),
    )


class DatasetClaim(Base):
    """The one product (hence space) a dataset belongs to; kept by a trigger on products."""

    __tablename__ = "dataset_claims"

    dataset: Mapped[str] = mapped_column(Text, primary_key=True)
    space: Mapped[str] = mapped_column(Text)
    product_id: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        ForeignKeyConstraint(
            ["space", "product_id"],
            ["products.space", "products.id"],
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
    )


class ApiToken(Base):
    """A bearer token, stored only as its SHA-256 hash."""

    __tablename__ = "api_tokens"

    token_hash: Mapped[str] = mapped_column(Text, primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    name: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("id", name="uq_api_tokens_id"),)


class UiSession(Base):
    """A signed-in web UI session; the cookie holds its id, the table only the id's hash."""

    __tablename__ = "ui_sessions"

    id_hash: Mapped[str] = mapped_column(Text, primary_key=True)
    token_hash: Mapped[str] = mapped_column(
        Text, ForeignKey("api_tokens.token_hash", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Notification(Base):
    """An in-platform notification for one recipient (e-mail address)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    recipient: Mapped[str] = mapped_column(Text)
    space: Mapped[str] = mapped_column(Text)
    incident_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("incidents.id")
    )
    products: Mapped[list[str]] = mapped_column(TextArray, server_default="{}")
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_notifications_recipient", "recipient", "id"),
        Index("ix_notifications_incident", "incident_id", "recipient"),
    )
