"""runs and metrics: one row per run, its headline figures in long form.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(200), primary_key=True),
        sa.Column("run_dir", sa.Text, nullable=False),
        sa.Column("scenario", sa.String(200), nullable=False),
        sa.Column("scenario_hash", sa.String(64), nullable=False),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("slo_passed", sa.Boolean, nullable=True),
        sa.Column("valid", sa.Boolean, nullable=False),
        sa.Column("invalid_reasons", sa.Text, nullable=False),
        sa.Column("package_version", sa.String(64), nullable=True),
        sa.Column("dumgum_version", sa.String(64), nullable=True),
        sa.Column("git_commit", sa.String(64), nullable=True),
        sa.Column("machine", sa.String(255), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_runs_scenario", "runs", ["scenario"])
    op.create_index("ix_runs_scenario_hash", "runs", ["scenario_hash"])
    op.create_index("ix_runs_started_at", "runs", ["started_at"])
    op.create_table(
        "metrics",
        sa.Column(
            "run_id",
            sa.String(200),
            sa.ForeignKey("runs.run_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("scope", sa.String(100), primary_key=True),
        sa.Column("scope_value", sa.String(200), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("metrics")
    op.drop_table("runs")
