"""The tables and the API models around them (lesson 05), ready for async loading (06).

Only the classes with `table=True` are tables. The others are plain data models: they
validate what comes in (Create, Update) and choose what goes out (Public): secret_name
goes in, and never comes out.
"""

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

# Every index and constraint gets a predictable name, so migrations can drop it (lesson 09).
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


# AsyncAttrs adds `awaitable_attrs`: `await team.awaitable_attrs.heroes` loads a relationship.
class Team(AsyncAttrs, TeamBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # order_by: a team's heroes come back in insertion order, like every list here.
    heroes: list["Hero"] = Relationship(
        back_populates="team", sa_relationship_kwargs={"order_by": "Hero.id"}
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
    team_id: int | None = Field(default=None, ge=1, le=INT_MAX, foreign_key="team.id")


# >>> exercise 1
# The Column object itself: version_id_col needs it, and the field is built from it (lesson 10).
VERSION_COLUMN = Column("version_id", Integer, nullable=False)
# <<< exercise 1


class Hero(AsyncAttrs, HeroBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    secret_name: str = Field(max_length=NAME_LENGTH)
    team: Team | None = Relationship(back_populates="heroes")
    # >>> exercise 1
    version_id: int = Field(default=1, sa_column=VERSION_COLUMN)

    # Optimistic locking: UPDATE ... SET version_id = n + 1 WHERE id = ? AND version_id = n.
    __mapper_args__ = {"version_id_col": VERSION_COLUMN}
    # <<< exercise 1


class HeroCreate(HeroBase):
    secret_name: str = Field(min_length=1, max_length=NAME_LENGTH, schema_extra={"pattern": NO_NUL})


class HeroPublic(HeroBase):
    id: int
    # >>> exercise 1
    version_id: int  # what a client sends back with its change (exercise 2)
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
    # >>> exercise 2
    # The version the client read; left out, the change is applied whatever the version.
    version_id: int | None = Field(default=None, ge=1, le=INT_MAX)
    # <<< exercise 2

    @field_validator("name", "secret_name")
    @classmethod
    def not_null(cls, value: str | None) -> str:
        # These columns are NOT NULL: the field may be left out, but not sent as null.
        if value is None:
            raise ValueError("may be left out, but not set to null")
        return value


# The relationships, one way each: a hero's team without its heroes, a team's heroes
# without their team. Nesting both ways would loop (mistake M2).
class HeroPublicWithTeam(HeroPublic):
    team: TeamPublic | None = None


class TeamPublicWithHeroes(TeamPublic):
    heroes: list[HeroPublic] = []
