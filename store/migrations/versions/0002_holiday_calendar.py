"""holiday calendars supplied while cycles run, for years the library does not cover yet

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 02:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "holiday_calendar",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holidays_json", sa.Text(), nullable=False),
        sa.Column("workdays_json", sa.Text(), nullable=False),
        sa.Column("supplied_by", sa.String(), nullable=False),
        sa.Column("supplied_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("year"),
    )


def downgrade() -> None:
    op.drop_table("holiday_calendar")
