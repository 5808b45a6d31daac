"""Reads and writes, awaited, keyword-only: `await crud.get_heroes(session=s, limit=10)`.

Writes are flushed, not committed: the request's session commits once, at the end
(app/api/deps.py). Every list is ordered by id and loads what its response shows up front.
"""

from collections.abc import Sequence

from sqlalchemy import update  # noqa: F401  (unused until you write exercise 3)
from sqlalchemy.orm import selectinload
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Hero, HeroCreate, HeroUpdate, Team, TeamCreate, TeamUpdate


async def get_hero(*, session: AsyncSession, hero_id: int, with_team: bool = False) -> Hero | None:
    # with_team: load hero.team in the same await, for a response that shows it.
    options = [selectinload(Hero.team)] if with_team else []  # type: ignore[arg-type]
    return await session.get(Hero, hero_id, options=options)


async def get_heroes(*, session: AsyncSession, offset: int = 0, limit: int = 100) -> Sequence[Hero]:
    statement = select(Hero).order_by(col(Hero.id)).offset(offset).limit(limit)
    return (await session.exec(statement)).all()


async def create_hero(*, session: AsyncSession, hero: HeroCreate) -> Hero:
    # A new table object from the validated input: no id, and secret_name goes in.
    db_hero = Hero.model_validate(hero)
    session.add(db_hero)
    await session.flush()  # the INSERT: the database assigns the id
    return db_hero


async def update_hero(*, session: AsyncSession, db_hero: Hero, hero: HeroUpdate) -> Hero:
    # exclude_unset: only the fields the client sent; an explicit null clears age.
    db_hero.sqlmodel_update(hero.model_dump(exclude_unset=True))
    await session.flush()
    return db_hero


async def delete_hero(*, session: AsyncSession, hero: Hero) -> None:
    await session.delete(hero)
    await session.flush()


async def get_team(
    *, session: AsyncSession, team_id: int, with_heroes: bool = False
) -> Team | None:
    options = [selectinload(Team.heroes)] if with_heroes else []  # type: ignore[arg-type]
    return await session.get(Team, team_id, options=options)


async def get_teams(*, session: AsyncSession, offset: int = 0, limit: int = 100) -> Sequence[Team]:
    # selectinload: every listed team's heroes in one more SELECT, not one per team (N+1).
    statement = select(Team).options(selectinload(Team.heroes))  # type: ignore[arg-type]
    statement = statement.order_by(col(Team.id)).offset(offset).limit(limit)
    return (await session.exec(statement)).all()


async def create_team(*, session: AsyncSession, team: TeamCreate) -> Team:
    db_team = Team.model_validate(team)
    session.add(db_team)
    await session.flush()
    return db_team


async def update_team(*, session: AsyncSession, db_team: Team, team: TeamUpdate) -> Team:
    db_team.sqlmodel_update(team.model_dump(exclude_unset=True))
    await session.flush()
    return db_team


async def delete_team(*, session: AsyncSession, team: Team) -> None:
    # Without a cascade, SQLAlchemy sets the team's heroes' team_id to NULL first.
    await session.delete(team)
    await session.flush()


async def get_team_heroes(
    *, session: AsyncSession, team_id: int, offset: int = 0, limit: int = 100
) -> Sequence[Hero]:
    # The heroes, not the team's relationship: one page in one SELECT, however big the team.
    statement = select(Hero).where(Hero.team_id == team_id)
    statement = statement.order_by(col(Hero.id)).offset(offset).limit(limit)
    return (await session.exec(statement)).all()


# >>> exercise 3
async def celebrate_birthday(*, session: AsyncSession, hero: Hero) -> Hero:
    statement = (
        update(Hero)
        .where(col(Hero.id) == hero.id)
        .values(age=col(Hero.age) + 1, version_id=col(Hero.version_id) + 1)
    )
    await session.exec(statement)
    return hero


# <<< exercise 3
