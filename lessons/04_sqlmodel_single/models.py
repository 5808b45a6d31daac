"""One class for everything: `Hero(SQLModel, table=True)` is the table, the body, the response."""

from sqlmodel import Field, SQLModel

# What the columns can hold, as in lesson 02; max_length also sizes the VARCHAR column.
NAME_LENGTH = 100
INT_MAX = 2_147_483_647  # the largest INTEGER PostgreSQL stores (SQLite's go higher)
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold the NUL character


class Hero(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True, ge=1, le=INT_MAX)
    name: str = Field(
        min_length=1,
        max_length=NAME_LENGTH,
        schema_extra={"pattern": NO_NUL},
        unique=True,
        index=True,
    )
    secret_name: str = Field(min_length=1, max_length=NAME_LENGTH, schema_extra={"pattern": NO_NUL})
    age: int | None = Field(default=None, ge=0, le=INT_MAX, index=True)
