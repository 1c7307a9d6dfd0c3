"""control plane: operator commands (numbered per launch, taken per bot) and instance claims

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 00:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "control_launches",
        sa.Column("launch_id", sa.String(length=255), nullable=False),
        sa.Column("last_seq", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.current_timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("launch_id", name=op.f("pk_control_launches")),
    )
    op.create_table(
        "control_commands",
        sa.Column("launch_id", sa.String(length=255), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("bot", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.current_timestamp(), nullable=False),
        sa.CheckConstraint("kind IN ('pause', 'resume', 'stop', 'restart_app', 'restart_instance', 'record')",
                           name=op.f("ck_control_commands_kind")),
        sa.CheckConstraint("seq > 0", name=op.f("ck_control_commands_seq_positive")),
        sa.ForeignKeyConstraint(["launch_id"], ["control_launches.launch_id"], ondelete="CASCADE",
                                name=op.f("fk_control_commands_launch_id_control_launches")),
        sa.PrimaryKeyConstraint("launch_id", "seq", name=op.f("pk_control_commands")),
    )
    op.create_table(
        "control_cursors",
        sa.Column("launch_id", sa.String(length=255), nullable=False),
        sa.Column("bot", sa.Integer(), nullable=False),
        sa.Column("taken_seq", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.ForeignKeyConstraint(["launch_id"], ["control_launches.launch_id"], ondelete="CASCADE",
                                name=op.f("fk_control_cursors_launch_id_control_launches")),
        sa.PrimaryKeyConstraint("launch_id", "bot", name=op.f("pk_control_cursors")),
    )
    op.create_table(
        "instance_claims",
        sa.Column("instance", sa.String(length=255), nullable=False),
        sa.Column("flow_run_id", sa.String(length=64), nullable=False),
        sa.Column("launch_id", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(), server_default=sa.func.current_timestamp(), nullable=False),
        sa.Column("released_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("instance", "flow_run_id", name=op.f("pk_instance_claims")),
    )
    op.create_index("ix_instance_claims_run", "instance_claims", ["flow_run_id"])


def downgrade() -> None:
    op.drop_index("ix_instance_claims_run", table_name="instance_claims")
    op.drop_table("instance_claims")
    op.drop_table("control_cursors")
    op.drop_table("control_commands")
    op.drop_table("control_launches")
