"""voice lab: voice transforms, voice samples, generated voice previews

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("voices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("transform", sa.JSON(), nullable=True))
    op.create_table(
        "voice_samples",
        sa.Column("sample_id", sa.String(length=40), nullable=False),
        sa.Column("voice_id", sa.String(length=40), nullable=False),
        sa.Column("file_name", sa.String(length=300), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("duration_secs", sa.Float(), nullable=True),
        sa.Column("blob_key", sa.String(length=200), nullable=False),
        sa.Column("created_at_unix", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["voice_id"], ["voices.voice_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("sample_id"),
    )
    with op.batch_alter_table("voice_samples", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_voice_samples_voice_id"), ["voice_id"], unique=False)
    op.create_table(
        "voice_previews",
        sa.Column("generated_voice_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("engine", sa.String(length=40), nullable=False),
        sa.Column("native_voice", sa.String(length=200), nullable=False),
        sa.Column("transform", sa.JSON(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("media_type", sa.String(length=60), nullable=False),
        sa.Column("blob_key", sa.String(length=200), nullable=True),
        sa.Column("duration_secs", sa.Float(), nullable=True),
        sa.Column("source_voice_id", sa.String(length=40), nullable=True),
        sa.Column("created_at_unix", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("generated_voice_id"),
    )
    with op.batch_alter_table("voice_previews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_voice_previews_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("voice_previews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voice_previews_user_id"))
    op.drop_table("voice_previews")
    with op.batch_alter_table("voice_samples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voice_samples_voice_id"))
    op.drop_table("voice_samples")
    with op.batch_alter_table("voices", schema=None) as batch_op:
        batch_op.drop_column("transform")
