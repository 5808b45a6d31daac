"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 03:50:09.966933

Lesson 08's tables, as `alembic revision --autogenerate` wrote them from models.py on an
empty database. Every index and constraint has the name the naming convention gives it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "team",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("headquarters", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team")),
    )
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_team_name"), ["name"], unique=True)

    op.create_table(
        "hero",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("age", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("secret_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["team.id"], name=op.f("fk_hero_team_id_team"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hero")),
    )
    with op.batch_alter_table("hero", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hero_age"), ["age"], unique=False)
        batch_op.create_index(batch_op.f("ix_hero_name"), ["name"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("hero", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hero_name"))
        batch_op.drop_index(batch_op.f("ix_hero_age"))

    op.drop_table("hero")
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_team_name"))

    op.drop_table("team")
