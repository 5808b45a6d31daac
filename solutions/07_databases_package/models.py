"""The tables, as SQLAlchemy Core `Table`s, and the API models built around them.

No ORM here: a `Table` only describes columns, and queries return rows, not objects. The
SQLModel classes have no `table=True`: they are plain Pydantic models that validate what
comes in (Create, Update) and choose what goes out (Public).
"""

from pydantic import field_validator
from sqlalchemy import Boolean, Column, ForeignKey, Integer, MetaData, String, Table, true
from sqlmodel import Field, SQLModel

# Column lengths: max_length in the models mirrors the VARCHAR size of the column.
NAME_LENGTH = 100
# The largest INTEGER PostgreSQL stores: a bigger number is a 422, not a database error.
INT_MAX = 2_147_483_647
# PostgreSQL text cannot hold the NUL character: a string with one is a 422 too. SQLModel's
# Field has no pattern= (and ignores regex=), so it goes in as schema_extra={"pattern": ...}.
NO_NUL = r"^[^\x00]*$"

# Every Table registers itself here; the lifespan creates them all (database.py).
metadata = MetaData()


class TeamBase(SQLModel):
    name: str = Field(
        min_length=1,
        max_length=NAME_LENGTH,
        schema_extra={"pattern": NO_NUL},
    )
    headquarters: str = Field(
        min_length=1, max_length=NAME_LENGTH, schema_extra={"pattern": NO_NUL}
    )
    active: bool = True


team_table = Table(
    "team",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(NAME_LENGTH), nullable=False, unique=True, index=True),
    Column("headquarters", String(NAME_LENGTH), nullable=False),
    # server_default: the database fills it in for any INSERT that leaves it out.
    Column("active", Boolean, nullable=False, server_default=true()),
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
    active: bool | None = None

    @field_validator("name", "headquarters", "active")
    @classmethod
    def not_null(cls, value: str | bool | None) -> str | bool:
        # These columns are NOT NULL: the field may be left out, but not sent as null.
        if value is None:
            raise ValueError("may be left out, but not set to null")
        return value


class HeroBase(SQLModel):
    name: str = Field(
        min_length=1,
        max_length=NAME_LENGTH,
        schema_extra={"pattern": NO_NUL},
    )
    age: int | None = Field(default=None, ge=0, le=INT_MAX)
    team_id: int | None = Field(default=None, ge=1, le=INT_MAX)


hero_table = Table(
    "hero",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(NAME_LENGTH), nullable=False, unique=True, index=True),
    Column("secret_name", String(NAME_LENGTH), nullable=False),
    Column("age", Integer, index=True),
    # ON DELETE SET NULL, as in lessons 05 and 06; crud.delete_team still detaches the
    # heroes itself, because databases' SQLite connections leave foreign keys off.
    Column("team_id", Integer, ForeignKey("team.id", ondelete="SET NULL")),
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


# The nested responses, one way each, as in lesson 06. Without an ORM nothing loads a
# relationship for you: crud.py runs the extra query and fills these fields itself.
class HeroPublicWithTeam(HeroPublic):
    team: TeamPublic | None = None


class TeamPublicWithHeroes(TeamPublic):
    heroes: list[HeroPublic] = []
