"""The `hero` table as a legacy declarative class: `Column(...)` attributes, no types."""

from sqlalchemy import Column, Integer, String

from database import Base


class Hero(Base):
    __tablename__ = "hero"

    id = Column(Integer, primary_key=True, index=True)
    name = Column(String, unique=True, index=True, nullable=False)
    secret_name = Column(String, nullable=False)
    age = Column(Integer, nullable=True, index=True)
