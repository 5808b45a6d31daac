"""Pydantic schemas in the Pydantic 1 style: `class Config: orm_mode = True`.

On Pydantic 2 this class-based config still loads, with two warnings, and `orm_mode`
is kept as a key but no longer means anything. See the README.
"""

from pydantic import BaseModel, field_validator


class HeroBase(BaseModel):
    name: str
    age: int | None = None


class HeroCreate(HeroBase):
    secret_name: str


class HeroUpdate(BaseModel):
    name: str | None = None
    secret_name: str | None = None
    age: int | None = None

    @field_validator("name", "secret_name")
    @classmethod
    def not_null(cls, value: str | None) -> str:
        # These columns are NOT NULL: the field may be left out, but not sent as null.
        if value is None:
            raise ValueError("may be left out, but not set to null")
        return value


class HeroRead(HeroBase):
    id: int

    class Config:
        orm_mode = True
