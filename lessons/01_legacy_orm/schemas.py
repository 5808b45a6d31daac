"""Pydantic schemas in the Pydantic 1 style: `@validator`, `class Config: orm_mode = True`.

On Pydantic 2 both still load, with warnings, and `orm_mode` is kept as a key but no
longer means anything. See the README.
"""

from pydantic import BaseModel, Field, validator

from models import INT_MAX, NO_NUL


class HeroBase(BaseModel):
    name: str = Field(pattern=NO_NUL)
    age: int | None = Field(default=None, ge=0, le=INT_MAX)


class HeroCreate(HeroBase):
    secret_name: str = Field(pattern=NO_NUL)


class HeroUpdate(BaseModel):
    name: str | None = Field(default=None, pattern=NO_NUL)
    secret_name: str | None = Field(default=None, pattern=NO_NUL)
    age: int | None = Field(default=None, ge=0, le=INT_MAX)

    @validator("name", "secret_name")
    def not_null(cls, value):
        # These columns are NOT NULL: the field may be left out, but not sent as null.
        if value is None:
            raise ValueError("may be left out, but not set to null")
        return value


class HeroRead(HeroBase):
    id: int

    class Config:
        orm_mode = True
