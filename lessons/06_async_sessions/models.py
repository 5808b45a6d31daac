"""SQLModel's multiple models: each table class, and the API models built around it.

Only the classes with `table=True` are tables. The others are plain data models: they
validate what comes in (Create, Update) and choose what goes out (Public).

`Hero.team` is `lazy="raise"`, as in lesson 05: a query that needs the team says so.
`Team.heroes` keeps SQLAlchemy's lazy loader on purpose: `awaitable_attrs` needs a loader
to await (exercise 1), and under asyncio an unawaited read of it fails anyway (M1).
"""

from pydantic import field_validator
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlmodel import Field, Relationship, SQLModel

# Column lengths: max_length also sizes the VARCHAR column.
NAME_LENGTH = 100
# The largest INTEGER PostgreSQL stores: a bigger number is a 422, not a database error.
INT_MAX = 2_147_483_647
# PostgreSQL text cannot hold the NUL character: a string with one is a 422 too. SQLModel's
# Field has no pattern= (and ignores regex=), so it goes in as schema_extra={"pattern": ...}.
NO_NUL = r"^[^\x00]*$"


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
    # passive_deletes: deleting a team leaves its heroes to the database (ON DELETE SET NULL).
    # lazy="select", not lesson 05's "raise": `await team.awaitable_attrs.heroes` needs it.
    heroes: list["Hero"] = Relationship(
        back_populates="team",
        passive_deletes=True,
        sa_relationship_kwargs={"order_by": "Hero.id", "lazy": "select"},
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


class Hero(AsyncAttrs, HeroBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    secret_name: str = Field(max_length=NAME_LENGTH)
    team: Team | None = Relationship(
        back_populates="heroes", sa_relationship_kwargs={"lazy": "raise"}
    )


class HeroCreate(HeroBase):
    secret_name: str = Field(min_length=1, max_length=NAME_LENGTH, schema_extra={"pattern": NO_NUL})


class HeroPublic(HeroBase):
    id: int


class HeroUpdate(SQLModel):
    name: str | None = Field(
        default=None, min_length=1, max_length=NAME_LENGTH, schema_extra={"pattern": NO_NUL}
    )
    secret_name: str | None = Field(
        default=None, min_length=1, max_length=NAME_LENGTH, schema_extra={"pattern": NO_NUL}
    )
    age: int | None = Field(default=None, ge=0, le=INT_MAX)
    team_id: int | None = Field(default=None, ge=1, le=INT_MAX)

    @field_validator("name", "secret_name")
    @classmethod
    def not_null(cls, value: str | None) -> str:
        # These columns are NOT NULL: the field may be left out, but not sent as null.
        if value is None:
            raise ValueError("may be left out, but not set to null")
        return value


# The relationships, one way each: a hero's team without its heroes, a team's heroes
# without their team. Nesting both ways would loop, as lesson 05 shows.
class HeroPublicWithTeam(HeroPublic):
    team: TeamPublic | None = None


class TeamPublicWithHeroes(TeamPublic):
    heroes: list[HeroPublic] = []
