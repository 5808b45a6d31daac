"""Reads and writes, awaited: input models become table objects with `model_validate`.

A read whose response shows related rows loads them in its own query (lesson 03).
Writes are flushed, not committed: the request's session commits once, at the end (main.py).
"""

from collections.abc import Sequence

from sqlalchemy.orm import joinedload, selectinload
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import (
    Hero,
    HeroCreate,
    HeroUpdate,
    Team,
    TeamCreate,
    TeamUpdate,
)


async def get_hero(session: AsyncSession, hero_id: int, with_team: bool = False) -> Hero | None:
    # with_team: a LEFT OUTER JOIN brings the team along in the same SELECT (many-to-one).
    options = [joinedload(Hero.team)] if with_team else []  # type: ignore[arg-type]
    return await session.get(Hero, hero_id, options=options)


async def get_heroes(
    session: AsyncSession,
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
    result = await session.exec(statement.order_by(col(Hero.id)).offset(offset).limit(limit))
    return result.all()


async def create_hero(session: AsyncSession, hero: HeroCreate) -> Hero:
    # A new table object from the validated input: no id, and secret_name goes in.
    db_hero = Hero.model_validate(hero)
    session.add(db_hero)
    await session.flush()  # the INSERT: the database assigns the id
    return db_hero


async def update_hero(session: AsyncSession, db_hero: Hero, hero: HeroUpdate) -> Hero:
    # exclude_unset: only the fields the client sent; the rest keep their values.
    db_hero.sqlmodel_update(hero.model_dump(exclude_unset=True))
    await session.flush()
    return db_hero


async def delete_hero(session: AsyncSession, hero: Hero) -> None:
    await session.delete(hero)
    await session.flush()


async def get_team(session: AsyncSession, team_id: int, with_heroes: bool = False) -> Team | None:
    # with_heroes: one more SELECT for all of the team's heroes, now, not while answering.
    options = [selectinload(Team.heroes)] if with_heroes else []  # type: ignore[arg-type]
    return await session.get(Team, team_id, options=options)


async def get_teams(session: AsyncSession, offset: int = 0, limit: int = 100) -> Sequence[Team]:
    statement = select(Team).order_by(col(Team.id)).offset(offset).limit(limit)
    return (await session.exec(statement)).all()


async def create_team(session: AsyncSession, team: TeamCreate) -> Team:
    db_team = Team.model_validate(team)
    session.add(db_team)
    await session.flush()
    return db_team


async def update_team(session: AsyncSession, db_team: Team, team: TeamUpdate) -> Team:
    db_team.sqlmodel_update(team.model_dump(exclude_unset=True))
    await session.flush()
    return db_team


async def delete_team(session: AsyncSession, team: Team) -> None:
    # The database sets team_id to NULL on the team's heroes (ON DELETE SET NULL).
    await session.delete(team)
    await session.flush()


async def get_team_heroes(
    session: AsyncSession, team: Team, offset: int = 0, limit: int = 100
) -> Sequence[Hero]:
    statement = select(Hero).where(Hero.team_id == team.id)
    result = await session.exec(statement.order_by(col(Hero.id)).offset(offset).limit(limit))
    return result.all()


# >>> exercise 2
async def get_rosters(session: AsyncSession, offset: int = 0, limit: int = 100) -> Sequence[Team]:
    statement = select(Team)
    result = await session.exec(statement.order_by(col(Team.id)).offset(offset).limit(limit))
    teams = result.all()
    for team in teams:
        await team.awaitable_attrs.heroes  # exercise 1's tool, once per team
    return teams


# <<< exercise 2
