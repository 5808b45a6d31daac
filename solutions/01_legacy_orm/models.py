"""The `hero` table as a legacy declarative class: `Column(...)` attributes, no types."""

from sqlalchemy import Column, Integer, String

from database import Base

# What the columns can hold, mirrored in schemas.py and main.py so bad input is a 422.
INT_MAX = 2_147_483_647  # the largest INTEGER PostgreSQL stores (SQLite's go higher)
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold the NUL character


class Hero(Base):
    __tablename__ = "hero"

    id = Column(Integer, primary_key=True, index=True)
    name = Column(String, unique=True, index=True, nullable=False)
    secret_name = Column(String, nullable=False)
    age = Column(Integer, nullable=True, index=True)
