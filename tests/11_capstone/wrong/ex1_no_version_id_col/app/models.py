"""SQLModel's multiple models: each table class, and the API models built around it.

Only the classes with `table=True` are tables. The others are plain data models: they
validate what comes in (Create, Update) and choose what goes out (Public).

The tables are what migrations/env.py compares the database with: change a table class
here, then `alembic revision --autogenerate` writes the migration that follows it.

The table classes also inherit AsyncAttrs, for loading a relationship inside an await
(lesson 06). Hero.team is `lazy="raise"`, as in lesson 10: a read that shows it joins it.
Team.heroes keeps its lazy loader, for `awaitable_attrs.heroes` (the merge): read without
an await, it fails anyway (MissingGreenlet), never as a hidden query.

Hero carries a version counter (revision 0005, exercise 1): SQLAlchemy adds 1 to it on
every UPDATE and only updates the row if it still holds the version this session read.
"""

from typing import Annotated

from annotated_types import Interval
from pydantic import field_validator
from sqlalchemy import Column, Integer  # noqa: F401  (unused until you write exercise 1)
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlmodel import Field, Relationship, SQLModel

# Column lengths: max_length also sizes the VARCHAR column.
NAME_LENGTH = 100
# The largest INTEGER PostgreSQL stores: a bigger number is a 422, not a database error.
INT_MAX = 2_147_483_647
# PostgreSQL text cannot hold the NUL character: a string with one is a 422 too. SQLModel's
# Field has no pattern= (and ignores regex=), so it goes in as schema_extra={"pattern": ...}.
NO_NUL = r"^[^\x00]*$"

# A hero's rank (revision 0002): every new hero starts as a rookie.
RANK_LENGTH = 20
DEFAULT_RANK = "rookie"

# Names for every index and constraint, the same on SQLite and PostgreSQL, so a migration
# can find one by name on either database. Set before the first table is defined.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class TeamBase(SQLModel):
    name: str = Field(
        min_length=1,
        max_length=NAME_LENGTH,
        schema_extra={"pattern": NO_NUL},
        unique=True,
        index=True,
    )
    headquarters: str = Field(
        min_length=1, max_length=NAME_LENGTH, schema_extra={"pattern": NO_NUL}
    )
    founded: int | None = Field(default=None, ge=1, le=9999, index=True)


class Team(AsyncAttrs, TeamBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # order_by: a team's heroes come back in insertion order, like every list here.
    # passive_deletes: deleting a team leaves its heroes to the database (ON DELETE SET NULL).
    # No lazy="raise" here: awaitable_attrs.heroes runs this loader, and "raise" would raise.
    heroes: list["Hero"] = Relationship(
        back_populates="team",
        passive_deletes=True,
        sa_relationship_kwargs={"order_by": "Hero.id"},
    )


class TeamCreate(TeamBase):
    pass


class TeamPublic(TeamBase):
    id: int


class TeamUpdate(SQLModel):
    name: str | None = Field(
        default=None, min_length=1, max_length=NAME_LENGTH, schema_extra={"pattern": NO_NUL}
    )
    headquarters: str | None = Field(
        default=None, min_length=1, max_length=NAME_LENGTH, schema_extra={"pattern": NO_NUL}
    )

    @field_validator("name", "headquarters")
    @classmethod
    def not_null(cls, value: str | None) -> str:
        # These columns are NOT NULL: the field may be left out, but not sent as null.
        if value is None:
            raise ValueError("may be left out, but not set to null")
        return value


class HeroBase(SQLModel):
    name: str = Field(
        min_length=1,
        max_length=NAME_LENGTH,
        schema_extra={"pattern": NO_NUL},
        unique=True,
        index=True,
    )
    age: int | None = Field(default=None, ge=0, le=INT_MAX, index=True)
    team_id: int | None = Field(
        default=None, ge=1, le=INT_MAX, foreign_key="team.id", ondelete="SET NULL"
    )
    # server_default: the database fills rows that do not say, the ones already there included.
    rank: str = Field(
        default=DEFAULT_RANK,
        min_length=1,
        max_length=RANK_LENGTH,
        schema_extra={"pattern": NO_NUL},
        sa_column_kwargs={"server_default": DEFAULT_RANK},
    )


# >>> exercise 1
# The Column object itself: the field is built on it, and version_id_col names it.
VERSION_COLUMN = Column("version_id", Integer, nullable=False, server_default="1")
# <<< exercise 1


class Hero(AsyncAttrs, HeroBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    secret_name: str = Field(max_length=NAME_LENGTH)
    team: Team | None = Relationship(
        back_populates="heroes", sa_relationship_kwargs={"lazy": "raise"}
    )
    # >>> exercise 1
    version_id: int = Field(default=1, sa_column=VERSION_COLUMN)
    # <<< exercise 1


class HeroCreate(HeroBase):
    secret_name: str = Field(min_length=1, max_length=NAME_LENGTH, schema_extra={"pattern": NO_NUL})


class HeroPublic(HeroBase):
    id: int
    # >>> exercise 1
    version_id: int  # send it back with a PATCH: the version this change is based on
    # <<< exercise 1


class HeroUpdate(SQLModel):
    name: str | None = Field(
        default=None, min_length=1, max_length=NAME_LENGTH, schema_extra={"pattern": NO_NUL}
    )
    secret_name: str | None = Field(
        default=None, min_length=1, max_length=NAME_LENGTH, schema_extra={"pattern": NO_NUL}
    )
    age: int | None = Field(default=None, ge=0, le=INT_MAX)
    team_id: int | None = Field(default=None, ge=1, le=INT_MAX)
    rank: str | None = Field(
        default=None, min_length=1, max_length=RANK_LENGTH, schema_extra={"pattern": NO_NUL}
    )
    # >>> exercise 2
    # The version the client read: if the hero has changed since, the PATCH is a 409.
    version_id: int | None = Field(default=None, ge=1, le=INT_MAX)
    # <<< exercise 2

    @field_validator("name", "secret_name", "rank")
    @classmethod
    def not_null(cls, value: str | None) -> str:
        # These columns are NOT NULL: the field may be left out, but not sent as null.
        if value is None:
            raise ValueError("may be left out, but not set to null")
        return value


# The relationships, one way each: a hero's team without its heroes, a team's heroes
# without their team. Nesting both ways would loop (lesson 05).
class HeroPublicWithTeam(HeroPublic):
    team: TeamPublic | None = None


class TeamPublicWithHeroes(TeamPublic):
    heroes: list[HeroPublic] = []


# The multi-step operations: one request, one transaction.
class HeroTransfer(SQLModel):
    hero_ids: list[Annotated[int, Interval(ge=1, le=INT_MAX)]] = Field(min_length=1, max_length=100)
    to_team_id: int = Field(ge=1, le=INT_MAX)


class HeroBatchResult(SQLModel):
    created: list[HeroPublic]
    failed: list[str]  # the names whose savepoint was rolled back


class TeamBatchResult(SQLModel):
    created: list[TeamPublic]
    failed: list[str]
