"""The unit of work: one transaction around everything a request changes (lesson 10).

    async with UnitOfWork(session) as uow:
        hero = await uow.heroes.get(1)
        ...

The block begins the transaction, commits it when the block ends normally, and rolls it
back when anything inside raises: all of the request's changes are kept, or none. The
routes do not write this block: they take a UnitOfWorkDep (app/api/deps.py), which runs
the route inside it.
"""

from types import TracebackType
from typing import Self

from sqlmodel.ext.asyncio.session import AsyncSession

from app.repositories import HeroRepository, TeamRepository


class UnitOfWork:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.heroes = HeroRepository(session)
        self.teams = TeamRepository(session)

    async def __aenter__(self) -> Self:
        # begin() refuses a session that is already in a transaction: open the unit of
        # work before the first query, so every statement of the request is inside it.
        await self.session.begin()
        # A unit of work writes: connect now, saying so, and on SQLite the BEGIN takes the
        # write lock before the first read (app/core/db.py). Other databases ignore it.
        await self.session.connection(execution_options={"sqlite_begin": "BEGIN IMMEDIATE"})
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await self.session.commit()
        else:
            await self.session.rollback()  # and the exception goes on to the caller
