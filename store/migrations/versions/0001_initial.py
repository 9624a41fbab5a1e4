"""the tables as create_all made them before migrations

Revision ID: 0001
Revises: (none)
Create Date: 2026-12-02 01:32:44.840319
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "application_record",
        sa.Column("application_id", sa.String(), nullable=False),
        sa.Column("cycle_id", sa.String(), nullable=False),
        sa.Column("programme_id", sa.String(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("holder_key", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("applicant_kind", sa.String(), nullable=False),
        sa.Column("credit_code", sa.String(), nullable=True),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("direct", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("application_id"),
    )
    with op.batch_alter_table("application_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_application_record_cycle_id"), ["cycle_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_application_record_holder_key"), ["holder_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_application_record_programme_id"), ["programme_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_application_record_year"), ["year"], unique=False)

    op.create_table(
        "application_view",
        sa.Column("application_id", sa.String(), nullable=False),
        sa.Column("cycle_id", sa.String(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("applicant_kind", sa.String(), nullable=False),
        sa.Column("credit_code", sa.String(), nullable=True),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("region", sa.String(), nullable=False),
        sa.Column("direct", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("stage", sa.String(), nullable=True),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("waiting_for_json", sa.Text(), nullable=False),
        sa.Column("experts_json", sa.Text(), nullable=False),
        sa.Column("expert_score", sa.Float(), nullable=True),
        sa.Column("final_score", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("application_id"),
    )
    with op.batch_alter_table("application_view", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_application_view_cycle_id"), ["cycle_id"], unique=False)
        batch_op.create_index("ix_application_view_cycle_state", ["cycle_id", "state"], unique=False)

    op.create_table(
        "auth_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("username", sa.String(), nullable=False),
        sa.Column("by", sa.String(), nullable=False),
        sa.Column("client_address", sa.String(), nullable=False),
        sa.Column("detail", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("auth_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_event_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_auth_event_username"), ["username"], unique=False)

    op.create_table(
        "cycle",
        sa.Column("cycle_id", sa.String(), nullable=False),
        sa.Column("programme_id", sa.String(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day_seconds", sa.Float(), nullable=True),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("cycle_id"),
    )
    with op.batch_alter_table("cycle", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cycle_programme_id"), ["programme_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cycle_year"), ["year"], unique=False)

    op.create_table(
        "history_archive",
        sa.Column("workflow_id", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("run_index", sa.Integer(), nullable=False),
        sa.Column("workflow_type", sa.String(), nullable=False),
        sa.Column("cycle_id", sa.String(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("code_version", sa.String(), nullable=False),
        sa.Column("history_json", sa.Text(), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", "run_id"),
        sa.UniqueConstraint("workflow_id", "run_index"),
    )
    with op.batch_alter_table("history_archive", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_history_archive_cycle_id"), ["cycle_id"], unique=False)

    op.create_table(
        "outbox_message",
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("workflow_id", sa.String(), nullable=True),
        sa.Column("purpose", sa.String(), nullable=False),
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("body_text", sa.String(), nullable=False),
        sa.Column("body_html", sa.String(), nullable=False),
        sa.Column("in_reply_to", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("message_id"),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_message_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_message_workflow_id"), ["workflow_id"], unique=False)

    op.create_table(
        "recommendation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.String(), nullable=False),
        sa.Column("target_programme", sa.String(), nullable=False),
        sa.Column("application_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("applicant_kind", sa.String(), nullable=False),
        sa.Column("credit_code", sa.String(), nullable=True),
        sa.Column("award", sa.String(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cycle_id", "target_programme", "application_id"),
    )
    with op.batch_alter_table("recommendation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recommendation_cycle_id"), ["cycle_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_recommendation_target_programme"), ["target_programme"], unique=False)

    op.create_table(
        "recommendation_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("from_cycle", sa.String(), nullable=False),
        sa.Column("from_programme", sa.String(), nullable=False),
        sa.Column("target_programme", sa.String(), nullable=False),
        sa.Column("target_year", sa.Integer(), nullable=True),
        sa.Column("target_cycle", sa.String(), nullable=True),
        sa.Column("holder_key", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("award", sa.String(), nullable=False),
        sa.Column("applicant_json", sa.Text(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("from_cycle", "target_programme", "holder_key"),
    )
    with op.batch_alter_table("recommendation_delivery", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recommendation_delivery_from_cycle"), ["from_cycle"], unique=False)
        batch_op.create_index(batch_op.f("ix_recommendation_delivery_holder_key"), ["holder_key"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_recommendation_delivery_target_programme"), ["target_programme"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_recommendation_delivery_target_year"), ["target_year"], unique=False)

    op.create_table(
        "result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.String(), nullable=False),
        sa.Column("application_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("applicant_kind", sa.String(), nullable=False),
        sa.Column("credit_code", sa.String(), nullable=True),
        sa.Column("award", sa.String(), nullable=False),
        sa.Column("final_score", sa.Float(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cycle_id", "application_id"),
    )
    with op.batch_alter_table("result", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_result_cycle_id"), ["cycle_id"], unique=False)

    op.create_table(
        "task_link",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.String(), nullable=False),
        sa.Column("task_kind", sa.String(), nullable=False),
        sa.Column("recipient_id", sa.String(), nullable=False),
        sa.Column("recipient_email", sa.String(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_sha256"),
    )
    with op.batch_alter_table("task_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_link_task_id"), ["task_id"], unique=False)

    op.create_table(
        "title",
        sa.Column("title_id", sa.String(), nullable=False),
        sa.Column("holder_key", sa.String(), nullable=False),
        sa.Column("programme_id", sa.String(), nullable=False),
        sa.Column("cycle_id", sa.String(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("applicant_kind", sa.String(), nullable=False),
        sa.Column("credit_code", sa.String(), nullable=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("public_reason", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("title_id"),
    )
    with op.batch_alter_table("title", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_title_holder_key"), ["holder_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_title_programme_id"), ["programme_id"], unique=False)

    op.create_table(
        "user_account",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("name_zh", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "access_token",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("client_address", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["username"],
            ["user_account.username"],
        ),
        sa.PrimaryKeyConstraint("token_sha256"),
    )
    with op.batch_alter_table("access_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_token_username"), ["username"], unique=False)

    op.create_table(
        "user_grant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("programme", sa.String(), nullable=False),
        sa.Column("granted_by", sa.String(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["username"],
            ["user_account.username"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username", "role", "programme"),
    )
    with op.batch_alter_table("user_grant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_grant_username"), ["username"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("user_grant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_grant_username"))

    op.drop_table("user_grant")
    with op.batch_alter_table("access_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_token_username"))

    op.drop_table("access_token")
    op.drop_table("user_account")
    with op.batch_alter_table("title", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_title_programme_id"))
        batch_op.drop_index(batch_op.f("ix_title_holder_key"))

    op.drop_table("title")
    with op.batch_alter_table("task_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_link_task_id"))

    op.drop_table("task_link")
    with op.batch_alter_table("result", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_result_cycle_id"))

    op.drop_table("result")
    with op.batch_alter_table("recommendation_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recommendation_delivery_target_year"))
        batch_op.drop_index(batch_op.f("ix_recommendation_delivery_target_programme"))
        batch_op.drop_index(batch_op.f("ix_recommendation_delivery_holder_key"))
        batch_op.drop_index(batch_op.f("ix_recommendation_delivery_from_cycle"))

    op.drop_table("recommendation_delivery")
    with op.batch_alter_table("recommendation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recommendation_target_programme"))
        batch_op.drop_index(batch_op.f("ix_recommendation_cycle_id"))

    op.drop_table("recommendation")
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_message_workflow_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_message_status"))

    op.drop_table("outbox_message")
    with op.batch_alter_table("history_archive", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_history_archive_cycle_id"))

    op.drop_table("history_archive")
    with op.batch_alter_table("cycle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cycle_year"))
        batch_op.drop_index(batch_op.f("ix_cycle_programme_id"))

    op.drop_table("cycle")
    with op.batch_alter_table("auth_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_event_username"))
        batch_op.drop_index(batch_op.f("ix_auth_event_at"))

    op.drop_table("auth_event")
    with op.batch_alter_table("application_view", schema=None) as batch_op:
        batch_op.drop_index("ix_application_view_cycle_state")
        batch_op.drop_index(batch_op.f("ix_application_view_cycle_id"))

    op.drop_table("application_view")
    with op.batch_alter_table("application_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_application_record_year"))
        batch_op.drop_index(batch_op.f("ix_application_record_programme_id"))
        batch_op.drop_index(batch_op.f("ix_application_record_holder_key"))
        batch_op.drop_index(batch_op.f("ix_application_record_cycle_id"))

    op.drop_table("application_record")
