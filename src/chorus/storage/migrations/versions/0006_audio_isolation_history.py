"""audio isolation history

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audio_isolation_items",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("api_key_id", sa.String(length=32), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=True),
        sa.Column("format", sa.String(length=40), nullable=False),
        sa.Column("content_type", sa.String(length=60), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("preview_b64", sa.Text(), nullable=True),
        sa.Column("blob_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audio_isolation_items", schema=None) as batch_op:
        batch_op.create_index("ix_audio_isolation_user_created", ["user_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audio_isolation_items", schema=None) as batch_op:
        batch_op.drop_index("ix_audio_isolation_user_created")
    op.drop_table("audio_isolation_items")
