"""team founded

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 03:51:02.083198

Your revision (exercise 1): team.founded, the year a team was founded, a nullable
column with its index, ix_team_founded. Downgrade undoes both.
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401  (unused until you write exercise 1)
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
from alembic import op  # noqa: F401  (unused until you write exercise 1)

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # >>> exercise 1
    # TODO(exercise 1): add the column team.founded and its index ix_team_founded (batch mode).
    pass
    # <<< exercise 1


def downgrade() -> None:
    # >>> exercise 1
    # TODO(exercise 1): undo upgrade(), so that `alembic downgrade -1` leaves the database at 0003.
    pass
    # <<< exercise 1
