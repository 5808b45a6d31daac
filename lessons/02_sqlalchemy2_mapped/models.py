"""The `hero` table with typed `Mapped[...]` columns: the annotation decides NULL or NOT NULL."""

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from database import Base

# What the columns can hold, mirrored in schemas.py and main.py so bad input is a 422.
NAME_LENGTH = 100
INT_MAX = 2_147_483_647  # the largest INTEGER PostgreSQL stores (SQLite's go higher)
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold the NUL character


class Hero(Base):
    __tablename__ = "hero"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True, index=True)
    secret_name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    age: Mapped[int | None] = mapped_column(index=True)
