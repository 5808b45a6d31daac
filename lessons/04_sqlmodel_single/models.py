"""One class for everything: `Hero(SQLModel, table=True)` is the table, the body, the response."""

from sqlmodel import Field, SQLModel

# Column lengths: max_length also sizes the VARCHAR column.
NAME_LENGTH = 100


class Hero(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=NAME_LENGTH, unique=True, index=True)
    secret_name: str = Field(max_length=NAME_LENGTH)
    age: int | None = Field(default=None, ge=0, index=True)
