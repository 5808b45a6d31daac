"""Repositories: one class per table, holding its queries, awaited. None of them commits.

A repository method reads, adds, changes or deletes rows, and flushes so the database
checks them now (ids, unique names). Whether the work is kept is not its decision: the
unit of work (app/unit_of_work.py) commits or rolls back the whole request at once.

Every list is ordered by id, and a read loads up front what its response shows
(`joinedload`, `selectinload`): in async code a relationship is never loaded lazily
(lesson 06).
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import update  # noqa: F401  (unused until you write exercise 3)
from sqlalchemy.orm import joinedload, selectinload
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Hero, HeroCreate, Team, TeamCreate


class HeroRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, hero_id: int, with_team: bool = False) -> Hero | None:
        # with_team: a LEFT OUTER JOIN brings the team along in the same SELECT (many-to-one).
        options = [joinedload(Hero.team)] if with_team else []  # type: ignore[arg-type]
        return await self.session.get(Hero, hero_id, options=options)

    async def lock(self, hero_ids: Sequence[int]) -> Sequence[Hero]:
        # SELECT ... FOR UPDATE: on PostgreSQL the rows stay locked until this transaction
        # ends, and a second transaction that wants one of them waits. ORDER BY id: every
        # transaction takes its locks in the same order, so none holds a row another one
        # waits for while waiting for one that other holds. SQLite ignores FOR UPDATE.
        statement = select(Hero).where(col(Hero.id).in_(hero_ids)).order_by(col(Hero.id))
        return (await self.session.exec(statement.with_for_update())).all()

    async def list(
        self,
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
        statement = statement.order_by(col(Hero.id)).offset(offset).limit(limit)
        return (await self.session.exec(statement)).all()

    async def in_team(self, team_id: int, offset: int = 0, limit: int = 100) -> Sequence[Hero]:
        # The heroes, not the team's relationship: one page in one SELECT, however big the team.
        statement = select(Hero).where(Hero.team_id == team_id)
        statement = statement.order_by(col(Hero.id)).offset(offset).limit(limit)
        return (await self.session.exec(statement)).all()

    async def add(self, hero: HeroCreate) -> Hero:
        db_hero = Hero.model_validate(hero)
        self.session.add(db_hero)
        await self.session.flush()  # INSERT now: the id is known, a taken name fails here
        return db_hero

    async def update(self, db_hero: Hero, data: dict[str, Any]) -> Hero:
        db_hero.sqlmodel_update(data)
        # UPDATE ... WHERE version_id = the one read: StaleDataError if no row matches.
        await self.session.flush()
        return db_hero

    async def delete(self, hero: Hero) -> None:
        await self.session.delete(hero)
        await self.session.flush()

    # >>> exercise 3
    async def celebrate_birthday(self, hero: Hero) -> Hero:
        # age + 1 computed by the database, from the row as it is when the UPDATE runs, not
        # from what this request read: a change committed in between is built on, never
        # lost, and nobody gets a 409. version_id + 1 too: a bulk UPDATE bypasses
        # version_id_col, and whoever holds the old version must hear of the change.
        statement = update(Hero).where(col(Hero.id) == hero.id)
        statement = statement.values(age=col(Hero.age) + 1, version_id=col(Hero.version_id) + 1)
        await self.session.exec(statement)
        # The row as the UPDATE left it, read inside the transaction, before the commit.
        await self.session.refresh(hero)
        return hero

    # <<< exercise 3


class TeamRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, team_id: int, with_heroes: bool = False) -> Team | None:
        # with_heroes: one more SELECT for all of the team's heroes, now, not while answering.
        options = [selectinload(Team.heroes)] if with_heroes else []  # type: ignore[arg-type]
        return await self.session.get(Team, team_id, options=options)

    async def list(self, offset: int = 0, limit: int = 100) -> Sequence[Team]:
        statement = select(Team).order_by(col(Team.id)).offset(offset).limit(limit)
        return (await self.session.exec(statement)).all()

    async def add(self, team: TeamCreate) -> Team:
        db_team = Team.model_validate(team)
        self.session.add(db_team)
        await self.session.flush()
        return db_team

    async def update(self, db_team: Team, data: dict[str, Any]) -> Team:
        db_team.sqlmodel_update(data)
        await self.session.flush()
        return db_team

    async def delete(self, team: Team) -> None:
        # The database sets team_id to NULL on the team's heroes (ON DELETE SET NULL).
        await self.session.delete(team)
        await self.session.flush()
