"""Dependencies shared by the routes: one session per request, and the id path parameter."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.db import SessionLocal
from app.models import INT_MAX


async def get_session() -> AsyncIterator[AsyncSession]:
    # One session and one transaction per request: committed if the route succeeds,
    # rolled back if anything raised (lesson 06).
    async with SessionLocal() as session:
        try:
            yield session
        except Exception:
            await session.rollback()
            raise
        await session.commit()


# scope="function": the commit runs before the response is sent, so a failed commit is a
# 500, never a 200 for data that was not saved.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
# An id below 1 or beyond PostgreSQL's INTEGER is a 422 here, not a database error.
Id = Annotated[int, Path(ge=1, le=INT_MAX)]
# Pagination, the same on every list: offset from 0, at most 100 rows a page.
Offset = Annotated[int, Query(ge=0, le=INT_MAX)]
Limit = Annotated[int, Query(ge=0, le=100)]


# What a client that lost the race is told: read the hero again, then decide (lesson 10).
STALE_HERO = "The hero was changed by someone else since you read it: read it again, then retry"


async def name_taken(session: AsyncSession, name: str, kind: str) -> HTTPException:
    await session.rollback()  # the failed flush left the transaction unusable
    return HTTPException(status_code=409, detail=f"A {kind} named {name!r} already exists")
