"""The history's tables, as SQLAlchemy Core sees them (the migrations create them).

``runs``: one row per recorded run, every ``RunRecord`` field. ``metrics``: the run's
headline figures in long form, one row per (run, name, scope, scope value).
Changing a table here needs a new migration in ``migrations/versions``.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(200), primary_key=True),
    Column("run_dir", Text, nullable=False),
    Column("scenario", String(200), nullable=False, index=True),
    Column("scenario_hash", String(64), nullable=False, index=True),
    Column("target", String(300), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False, index=True),
    Column("status", String(32), nullable=False),
    Column("slo_passed", Boolean, nullable=True),
    Column("valid", Boolean, nullable=False),
    Column("invalid_reasons", Text, nullable=False),  # a JSON list of sentences
    Column("package_version", String(64), nullable=True),
    Column("dumgum_version", String(64), nullable=True),
    Column("git_commit", String(64), nullable=True),
    Column("machine", String(255), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

metrics = Table(
    "metrics",
    metadata,
    Column(
        "run_id",
        String(200),
        ForeignKey("runs.run_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("name", String(200), primary_key=True),
    Column("scope", String(100), primary_key=True),
    Column("scope_value", String(200), primary_key=True),
    Column("value", Float, nullable=False),
)
