"""live wall: each instance's newest screen, and who is looking

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 00:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_screens",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("serial", sa.String(length=255), nullable=False),
        sa.Column("at", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("width", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("height", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("full", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("jpeg", sa.LargeBinary(), nullable=True),
        sa.Column("source", sa.String(length=16), server_default="idle", nullable=False),
        sa.Column("group", sa.String(length=255), nullable=True),
        sa.Column("bot", sa.Integer(), nullable=True),
        sa.Column("step", sa.Text(), nullable=True),
        sa.Column("overlay", sa.Text(), nullable=True),
        sa.Column("driven_until", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("host", "serial", name=op.f("pk_live_screens")),
    )
    op.create_table(
        "live_watch",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("serial", sa.String(length=255), nullable=False),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("host", "serial", "full", name=op.f("pk_live_watch")),
    )


def downgrade() -> None:
    op.drop_table("live_watch")
    op.drop_table("live_screens")
