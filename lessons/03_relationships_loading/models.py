"""Tables and relationships: a team has many heroes, a hero has many powers and back.

Every relationship is `lazy="raise"`: a query that needs related rows says so with
`selectinload()` or `joinedload()`, and a forgotten one is an error, not a hidden query.
"""

from sqlalchemy import Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from database import Base

# What the columns can hold, mirrored in schemas.py and main.py so bad input is a 422.
NAME_LENGTH = 100
INT_MAX = 2_147_483_647  # the largest INTEGER PostgreSQL stores (SQLite's go higher)
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold the NUL character


class Team(Base):
    __tablename__ = "team"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True, index=True)
    headquarters: Mapped[str] = mapped_column(String(NAME_LENGTH))

    # passive_deletes: deleting a team leaves its heroes to the database (ON DELETE SET NULL).
    heroes: Mapped[list["Hero"]] = relationship(
        back_populates="team", lazy="raise", order_by="Hero.id", passive_deletes=True
    )


# The many-to-many link: one row per (hero, power) pair, gone when either side is deleted.
hero_power = Table(
    "hero_power",
    Base.metadata,
    Column("hero_id", ForeignKey("hero.id", ondelete="CASCADE"), primary_key=True),
    Column("power_id", ForeignKey("power.id", ondelete="CASCADE"), primary_key=True),
)


class Hero(Base):
    __tablename__ = "hero"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True, index=True)
    secret_name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    age: Mapped[int | None] = mapped_column(index=True)
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("team.id", ondelete="SET NULL"), index=True
    )

    team: Mapped[Team | None] = relationship(back_populates="heroes", lazy="raise")
    powers: Mapped[list["Power"]] = relationship(
        secondary=hero_power,
        back_populates="heroes",
        lazy="raise",
        order_by="Power.id",
        passive_deletes=True,
    )


class Power(Base):
    __tablename__ = "power"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True, index=True)

    heroes: Mapped[list[Hero]] = relationship(
        secondary=hero_power,
        back_populates="powers",
        order_by=Hero.id,
        passive_deletes=True,
        # >>> exercise 3
        # TODO(exercise 3): choose the default loading strategy of Power.heroes.
        lazy="select",
        # <<< exercise 3
    )
