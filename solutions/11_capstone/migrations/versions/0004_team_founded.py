"""team founded

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 03:51:02.083198

team.founded, the year a team was founded, a nullable column with its index,
ix_team_founded. Downgrade undoes both.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.add_column(sa.Column("founded", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_team_founded"), ["founded"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_team_founded"))
        batch_op.drop_column("founded")
