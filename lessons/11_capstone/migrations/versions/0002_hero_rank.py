"""hero rank

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 03:50:22.320071

A NOT NULL column on a table that may already hold rows: the server_default gives those
rows a value ('rookie'), without which the ALTER fails (lesson 09's README).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("hero", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "rank",
                sqlmodel.sql.sqltypes.AutoString(length=20),
                server_default="rookie",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("hero", schema=None) as batch_op:
        batch_op.drop_column("rank")
