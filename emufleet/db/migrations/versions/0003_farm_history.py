"""farm history: launches, the fleet ledger, quarantines (the dashboard's data, kept across restarts)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 00:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "launches",
        sa.Column("launch_id", sa.String(length=255), nullable=False),
        sa.Column("group_name", sa.String(length=255), nullable=False),
        sa.Column("host", sa.String(length=255), server_default="local", nullable=False),
        sa.Column("started_at", sa.DateTime(), server_default=sa.func.current_timestamp(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("final_state", sa.String(length=32), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("bots", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("launch_id", name=op.f("pk_launches")),
    )
    op.create_index(op.f("ix_launches_group_name"), "launches", ["group_name"])
    op.create_index(op.f("ix_launches_started_at"), "launches", ["started_at"])
    op.create_table(
        "fleet_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), server_default=sa.func.current_timestamp(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("group_name", sa.String(length=255), nullable=False),
        sa.Column("bot", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("instance", sa.String(length=511), nullable=False),
        sa.Column("launch_id", sa.String(length=255), nullable=True),
        sa.Column("account", sa.String(length=255), nullable=True),
        sa.Column("rung", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("count", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleet_events")),
    )
    op.create_index("ix_fleet_events_at", "fleet_events", ["at"])
    op.create_index("ix_fleet_events_instance_at", "fleet_events", ["instance", "at"])
    op.create_index("ix_fleet_events_launch", "fleet_events", ["launch_id", "kind"])
    op.create_table(
        "quarantines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=511), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("since", sa.DateTime(), server_default=sa.func.current_timestamp(), nullable=False),
        sa.Column("cooldown_until", sa.DateTime(), nullable=True),
        sa.Column("released_at", sa.DateTime(), nullable=True),
        sa.Column("released_by", sa.String(length=255), nullable=True),
        sa.CheckConstraint("kind IN ('instance', 'account')", name=op.f("ck_quarantines_kind_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantines")),
    )
    op.create_index("ix_quarantines_active", "quarantines", ["kind", "subject", "released_at"])


def downgrade() -> None:
    op.drop_table("quarantines")
    op.drop_table("fleet_events")
    op.drop_table("launches")
