"""backfill hero rank

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 03:50:30.082702

Your revision (exercise 2), a data migration: 0002 made every hero already in the
database a 'rookie'; this gives the experienced ones (aged 30 or more) their real rank,
and leaves alone any rank someone has chosen since.
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401  (unused until you write exercise 2)
from alembic import op  # noqa: F401  (unused until you write exercise 2)

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# >>> exercise 2
# TODO(exercise 2): describe the columns of hero that upgrade() needs, as they are at 0003.
# <<< exercise 2


def upgrade() -> None:
    # >>> exercise 2
    # TODO(exercise 2): promote the experienced rookies, in SQL the database runs.
    pass
    # <<< exercise 2


def downgrade() -> None:
    # >>> exercise 2
    # TODO(exercise 2): decide what undoing the backfill must do to the ranks.
    pass
    # <<< exercise 2
