"""Pydantic 2 schemas: `ConfigDict(from_attributes=True)` reads ORM objects.

Nested models point one way only (a team's heroes carry no team), so nothing recurses.
"""

from pydantic import BaseModel, ConfigDict, Field, field_validator

from models import INT_MAX, NAME_LENGTH, NO_NUL


class HeroBase(BaseModel):
    name: str = Field(min_length=1, max_length=NAME_LENGTH, pattern=NO_NUL)
    age: int | None = Field(default=None, ge=0, le=INT_MAX)
    team_id: int | None = Field(default=None, ge=1, le=INT_MAX)


class HeroCreate(HeroBase):
    secret_name: str = Field(min_length=1, max_length=NAME_LENGTH, pattern=NO_NUL)


class HeroUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=NAME_LENGTH, pattern=NO_NUL)
    secret_name: str | None = Field(
        default=None, min_length=1, max_length=NAME_LENGTH, pattern=NO_NUL
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


class HeroPublic(HeroBase):
    model_config = ConfigDict(from_attributes=True)

    id: int


class TeamCreate(BaseModel):
    name: str = Field(min_length=1, max_length=NAME_LENGTH, pattern=NO_NUL)
    headquarters: str = Field(min_length=1, max_length=NAME_LENGTH, pattern=NO_NUL)


class TeamPublic(TeamCreate):
    model_config = ConfigDict(from_attributes=True)

    id: int


class PowerCreate(BaseModel):
    name: str = Field(min_length=1, max_length=NAME_LENGTH, pattern=NO_NUL)


class PowerPublic(PowerCreate):
    model_config = ConfigDict(from_attributes=True)

    id: int


class TeamPublicWithHeroes(TeamPublic):
    heroes: list[HeroPublic]


class HeroPublicWithTeam(HeroPublic):
    team: TeamPublic | None


class HeroPublicWithPowers(HeroPublic):
    powers: list[PowerPublic]


class PowerPublicWithHeroes(PowerPublic):
    heroes: list[HeroPublic]
