"""launch budgets: a launch's max_accounts, shared by its bots on every host

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 03:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "launch_budgets",
        sa.Column("launch_id", sa.String(length=255), nullable=False),
        sa.Column("max_accounts", sa.Integer(), nullable=True),
        sa.Column("taken", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.current_timestamp(), nullable=False),
        sa.CheckConstraint("taken >= 0", name=op.f("ck_launch_budgets_taken_not_negative")),
        sa.CheckConstraint("max_accounts IS NULL OR taken <= max_accounts",
                           name=op.f("ck_launch_budgets_taken_within_limit")),
        sa.PrimaryKeyConstraint("launch_id", name=op.f("pk_launch_budgets")),
    )


def downgrade() -> None:
    op.drop_table("launch_budgets")
