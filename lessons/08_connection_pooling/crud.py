"""Reads and writes: input models become table objects with `model_validate`.

A read whose response shows related rows loads them in its own query (lesson 03).
"""

from collections.abc import Sequence

from sqlalchemy.orm import joinedload, selectinload
from sqlmodel import Session, col, select

from models import (
    Hero,
    HeroCreate,
    HeroUpdate,
    Team,
    TeamCreate,
    TeamUpdate,
)


def get_hero(session: Session, hero_id: int, with_team: bool = False) -> Hero | None:
    # with_team: a LEFT OUTER JOIN brings the team along in the same SELECT (many-to-one).
    options = [joinedload(Hero.team)] if with_team else []  # type: ignore[arg-type]
    return session.get(Hero, hero_id, options=options)


def get_heroes(
    session: Session,
    offset: int = 0,
    limit: int = 100,
    min_age: int | None = None,
    max_age: int | None = None,
    q: str | None = None,
) -> Sequence[Hero]:
    statement = select(Hero)
    if min_age is not None:
        statement = statement.where(col(Hero.age) >= min_age)
    if max_age is not None:
        statement = statement.where(col(Hero.age) <= max_age)
    if q is not None:
        statement = statement.where(col(Hero.name).icontains(q, autoescape=True))
    return session.exec(statement.order_by(col(Hero.id)).offset(offset).limit(limit)).all()


def create_hero(session: Session, hero: HeroCreate) -> Hero:
    # A new table object from the validated input: no id, and secret_name goes in.
    db_hero = Hero.model_validate(hero)
    session.add(db_hero)
    session.commit()
    return db_hero


def update_hero(session: Session, db_hero: Hero, hero: HeroUpdate) -> Hero:
    # exclude_unset: only the fields the client sent; the rest keep their values.
    db_hero.sqlmodel_update(hero.model_dump(exclude_unset=True))
    session.commit()
    return db_hero


def delete_hero(session: Session, hero: Hero) -> None:
    session.delete(hero)
    session.commit()


def get_team(session: Session, team_id: int, with_heroes: bool = False) -> Team | None:
    # with_heroes: one more SELECT for all of the team's heroes, now, not while answering.
    options = [selectinload(Team.heroes)] if with_heroes else []  # type: ignore[arg-type]
    return session.get(Team, team_id, options=options)


def get_teams(session: Session, offset: int = 0, limit: int = 100) -> Sequence[Team]:
    statement = select(Team).order_by(col(Team.id)).offset(offset).limit(limit)
    return session.exec(statement).all()


def create_team(session: Session, team: TeamCreate) -> Team:
    db_team = Team.model_validate(team)
    session.add(db_team)
    session.commit()
    return db_team


def update_team(session: Session, db_team: Team, team: TeamUpdate) -> Team:
    db_team.sqlmodel_update(team.model_dump(exclude_unset=True))
    session.commit()
    return db_team


def delete_team(session: Session, team: Team) -> None:
    # The database sets team_id to NULL on the team's heroes (ON DELETE SET NULL).
    session.delete(team)
    session.commit()


def get_team_heroes(
    session: Session, team: Team, offset: int = 0, limit: int = 100
) -> Sequence[Hero]:
    statement = select(Hero).where(Hero.team_id == team.id)
    return session.exec(statement.order_by(col(Hero.id)).offset(offset).limit(limit)).all()
