"""Repositories: one class per table, holding its queries. None of them commits.

A repository method reads, adds, changes or deletes rows, and flushes so the database
checks them now (ids, unique names). Whether the work is kept is not its decision: the
unit of work (unit_of_work.py) commits or rolls back the whole request at once (M1).
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import joinedload, selectinload
from sqlmodel import Session, col, select

from models import Hero, HeroCreate, Team, TeamCreate


class HeroRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, hero_id: int, with_team: bool = False) -> Hero | None:
        # with_team: a LEFT OUTER JOIN brings the team along in the same SELECT (many-to-one).
        options = [joinedload(Hero.team)] if with_team else []  # type: ignore[arg-type]
        return self.session.get(Hero, hero_id, options=options)

    def lock(self, hero_ids: Sequence[int]) -> Sequence[Hero]:
        # SELECT ... FOR UPDATE: on PostgreSQL the rows stay locked until this transaction
        # ends, and a second transaction that wants one of them waits. ORDER BY id: every
        # transaction takes its locks in the same order, so none holds a row another one
        # waits for while waiting for one that other holds (M5). SQLite ignores FOR UPDATE.
        statement = select(Hero).where(col(Hero.id).in_(hero_ids)).order_by(col(Hero.id))
        return self.session.exec(statement.with_for_update()).all()

    def list(
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
        return self.session.exec(statement.order_by(col(Hero.id)).offset(offset).limit(limit)).all()

    def in_team(self, team_id: int, offset: int = 0, limit: int = 100) -> Sequence[Hero]:
        statement = select(Hero).where(Hero.team_id == team_id)
        return self.session.exec(statement.order_by(col(Hero.id)).offset(offset).limit(limit)).all()

    def add(self, hero: HeroCreate) -> Hero:
        db_hero = Hero.model_validate(hero)
        self.session.add(db_hero)
        self.session.flush()  # INSERT now: the id is known, a taken name fails here
        return db_hero

    def update(self, db_hero: Hero, data: dict[str, Any]) -> Hero:
        db_hero.sqlmodel_update(data)
        self.session.flush()  # UPDATE ... WHERE version_id = the one read: StaleDataError if not
        return db_hero

    def delete(self, hero: Hero) -> None:
        self.session.delete(hero)
        self.session.flush()


class TeamRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, team_id: int, with_heroes: bool = False) -> Team | None:
        # with_heroes: one more SELECT for all of the team's heroes, now, not while answering.
        options = [selectinload(Team.heroes)] if with_heroes else []  # type: ignore[arg-type]
        return self.session.get(Team, team_id, options=options)

    def list(self, offset: int = 0, limit: int = 100) -> Sequence[Team]:
        statement = select(Team).order_by(col(Team.id)).offset(offset).limit(limit)
        return self.session.exec(statement).all()

    def add(self, team: TeamCreate) -> Team:
        db_team = Team.model_validate(team)
        self.session.add(db_team)
        self.session.flush()
        return db_team

    def update(self, db_team: Team, data: dict[str, Any]) -> Team:
        db_team.sqlmodel_update(data)
        self.session.flush()
        return db_team

    def delete(self, team: Team) -> None:
        # The database sets team_id to NULL on the team's heroes (ON DELETE SET NULL).
        self.session.delete(team)
        self.session.flush()
