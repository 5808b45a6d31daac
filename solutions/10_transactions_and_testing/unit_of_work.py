"""The unit of work: one transaction around everything a request changes.

    with UnitOfWork(session) as uow:
        hero = uow.heroes.get(1)
        ...

The block begins the transaction, commits it when the block ends normally, and rolls it
back when anything inside raises: all of the request's changes are kept, or none.
"""

from types import TracebackType
from typing import Self

from sqlmodel import Session

from repositories import HeroRepository, TeamRepository


class UnitOfWork:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.heroes = HeroRepository(session)
        self.teams = TeamRepository(session)

    def __enter__(self) -> Self:
        # begin() refuses a session that is already in a transaction: open the unit of
        # work before the first query, so every statement of the request is inside it.
        self.session.begin()
        # A unit of work writes: connect now, saying so, and on SQLite the BEGIN takes the
        # write lock before the first read (database.py, M4). Other databases ignore it.
        self.session.connection(execution_options={"sqlite_begin": "BEGIN IMMEDIATE"})
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.session.commit()
        else:
            self.session.rollback()  # and the exception goes on to the caller
