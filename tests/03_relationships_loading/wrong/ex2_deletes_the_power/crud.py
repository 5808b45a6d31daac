"""Reads and writes with `select()`, `Session.scalars()` and `Session.get()`.

Each read that returns related rows loads them in its own query, with `selectinload()`
(one more SELECT for all rows) or `joinedload()` (a JOIN in the same SELECT).
"""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from models import Hero, Power, Team
from schemas import HeroCreate, HeroUpdate, PowerCreate, TeamCreate


def get_hero(session: Session, hero_id: int) -> Hero | None:
    return session.get(Hero, hero_id)


def get_hero_with_team(session: Session, hero_id: int) -> Hero | None:
    # Many-to-one: one LEFT OUTER JOIN brings the team along in the same SELECT.
    return session.get(Hero, hero_id, options=[joinedload(Hero.team)])


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
        statement = statement.where(Hero.age >= min_age)
    if max_age is not None:
        statement = statement.where(Hero.age <= max_age)
    if q is not None:
        statement = statement.where(Hero.name.icontains(q, autoescape=True))
    return session.scalars(statement.order_by(Hero.id).offset(offset).limit(limit)).all()


def create_hero(session: Session, hero_create: HeroCreate) -> Hero:
    hero = Hero(**hero_create.model_dump())
    session.add(hero)
    session.commit()  # the INSERT gave hero its id; expire_on_commit=False keeps the rest
    return hero


def update_hero(session: Session, hero: Hero, hero_update: HeroUpdate) -> Hero:
    # exclude_unset: only the fields the client sent; the rest keep their values.
    for key, value in hero_update.model_dump(exclude_unset=True).items():
        setattr(hero, key, value)
    session.commit()
    return hero


def delete_hero(session: Session, hero: Hero) -> None:
    session.delete(hero)
    session.commit()


def get_hero_with_powers(session: Session, hero_id: int) -> Hero | None:
    # One hero: its powers come along in the same SELECT, with a LEFT OUTER JOIN.
    statement = select(Hero).where(Hero.id == hero_id).options(joinedload(Hero.powers))
    # The JOIN repeats the hero once per power: unique() folds the rows back into one hero.
    return session.scalars(statement).unique().one_or_none()


def add_power(session: Session, hero: Hero, power: Power) -> Hero:
    if power not in hero.powers:  # giving a power twice changes nothing
        hero.powers.append(power)  # the ORM inserts the hero_power row
        # The answer lists the powers in id order, as loading them does: put the new one there.
        hero.powers.sort(key=lambda p: p.id)
        session.commit()
    return hero


# >>> exercise 2
def remove_power(session: Session, hero: Hero, power: Power) -> Hero:
    session.delete(power)  # the link goes with it (ON DELETE CASCADE)
    session.commit()
    return hero


# <<< exercise 2


def get_team(session: Session, team_id: int) -> Team | None:
    return session.get(Team, team_id)


def get_team_with_heroes(session: Session, team_id: int) -> Team | None:
    statement = select(Team).where(Team.id == team_id).options(joinedload(Team.heroes))
    # The JOIN repeats the team once per hero: unique() folds the rows back into one team.
    return session.scalars(statement).unique().one_or_none()


def get_teams(session: Session, offset: int = 0, limit: int = 100) -> Sequence[Team]:
    # selectinload: one SELECT for the page of teams, one more for all of their heroes.
    statement = select(Team).options(selectinload(Team.heroes))
    return session.scalars(statement.order_by(Team.id).offset(offset).limit(limit)).all()


def create_team(session: Session, team_create: TeamCreate) -> Team:
    team = Team(**team_create.model_dump())
    session.add(team)
    session.commit()
    return team


def delete_team(session: Session, team: Team) -> None:
    # The database sets team_id to NULL on the team's heroes (ON DELETE SET NULL).
    session.delete(team)
    session.commit()


def get_power(session: Session, power_id: int) -> Power | None:
    return session.get(Power, power_id)


def create_power(session: Session, power_create: PowerCreate) -> Power:
    power = Power(**power_create.model_dump())
    session.add(power)
    session.commit()
    return power


def get_powers(session: Session, offset: int = 0, limit: int = 100) -> Sequence[Power]:
    statement = select(Power)
    # >>> exercise 3
    # A page of powers: one more SELECT ... IN (...) loads the heroes of all of them.
    statement = statement.options(selectinload(Power.heroes))
    # <<< exercise 3
    return session.scalars(statement.order_by(Power.id).offset(offset).limit(limit)).all()


def get_power_with_heroes(session: Session, power_id: int) -> Power | None:
    # >>> exercise 3
    # One power: its heroes come along in the same SELECT, with a LEFT OUTER JOIN.
    statement = select(Power).where(Power.id == power_id).options(joinedload(Power.heroes))
    # The JOIN repeats the power once per hero: unique() folds the rows back into one power.
    return session.scalars(statement).unique().one_or_none()
    # <<< exercise 3


# >>> exercise 1
def get_power_heroes(session: Session, power: Power) -> Sequence[Hero]:
    # Join through hero_power: one SELECT, heroes in insertion order.
    statement = select(Hero).join(Hero.powers).where(Power.id == power.id)
    return session.scalars(statement.order_by(Hero.id)).all()


# <<< exercise 1
