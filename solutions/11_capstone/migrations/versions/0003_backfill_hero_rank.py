"""backfill hero rank

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 03:50:30.082702

A data migration: 0002 made every hero already in the database a 'rookie'; this gives
the experienced ones (aged 30 or more) their real rank, and leaves alone any rank someone
has chosen since.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Only what this revision touches, as it is at this revision. Never import the app's models
# here: they describe the newest schema, and this file must keep working on old databases.
hero = sa.table("hero", sa.column("age", sa.Integer), sa.column("rank", sa.String))


def upgrade() -> None:
    # One UPDATE that the database runs: no row comes to Python, so it renders offline too.
    # Only the rookies 0002 made: a rank someone set since then (a 'captain') is theirs.
    op.execute(
        hero.update().where(hero.c.age >= 30, hero.c.rank == "rookie").values(rank="veteran")
    )


def downgrade() -> None:
    # Nothing to undo: a veteran the backfill made cannot be told from one a user made,
    # 'veteran' is a valid rank at 0002 too, and 0002's downgrade drops the column anyway.
    pass
