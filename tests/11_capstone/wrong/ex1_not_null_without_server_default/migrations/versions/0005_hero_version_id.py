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
    # NOT NULL: every hero has a version (new heroes get 1 from the model).
    with op.batch_alter_table("hero", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version_id", sa.Integer(), nullable=False))
    # <<< exercise 1


def downgrade() -> None:
    # >>> exercise 1
    with op.batch_alter_table("hero", schema=None) as batch_op:
        batch_op.drop_column("version_id")
    # <<< exercise 1
