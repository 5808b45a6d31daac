"""hero version_id

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 04:30:00.000000

hero.version_id, the counter optimistic locking compares (exercise 1), on a table that
may already hold heroes: every one of them needs a first version. Downgrade undoes it.
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401  (unused until you write exercise 1)
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
from alembic import op  # noqa: F401  (unused until you write exercise 1)

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # >>> exercise 1
    # TODO(exercise 1): add hero.version_id (batch mode): what do the heroes already stored get?
    pass
    # <<< exercise 1


def downgrade() -> None:
    # >>> exercise 1
    # TODO(exercise 1): undo upgrade().
    pass
    # <<< exercise 1
