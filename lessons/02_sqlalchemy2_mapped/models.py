"""The `hero` table with typed `Mapped[...]` columns: the annotation decides NULL or NOT NULL."""

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from database import Base

# Column lengths, mirrored as max_length in schemas.py so oversize input is a 422.
NAME_LENGTH = 100


class Hero(Base):
    __tablename__ = "hero"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True, index=True)
    secret_name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    age: Mapped[int | None] = mapped_column(index=True)
