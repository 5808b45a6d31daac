"""What the routes share: one session per request, the id and paging parameters, and the
shapes of the errors they answer (Message, and invalid() for a 422 the app raises)."""

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query
from pydantic import BaseModel
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


class Message(BaseModel):
    detail: str


def invalid(loc: tuple[str | int, ...], msg: str) -> HTTPException:
    """A 422 raised by the app, shaped like FastAPI's own (HTTPValidationError)."""
    return HTTPException(
        status_code=422, detail=[{"type": "value_error", "loc": list(loc), "msg": msg}]
    )


# The errors the routes answer, for their OpenAPI `responses` (each with a Message body).
Responses = dict[int | str, dict[str, Any]]
BAD_BODY: Responses = {400: {"model": Message, "description": "The body is not UTF-8 JSON"}}
NO_HERO: Responses = {404: {"model": Message, "description": "No hero has this id"}}
NO_TEAM: Responses = {404: {"model": Message, "description": "No team has this id"}}
NAME_TAKEN: Responses = {409: {"model": Message, "description": "The name is taken"}}


# What a client that lost the race is told: read the hero again, then decide (lesson 10).
STALE_HERO = "The hero was changed by someone else since you read it: read it again, then retry"


async def name_taken(session: AsyncSession, name: str, kind: str) -> HTTPException:
    await session.rollback()  # the failed flush left the transaction unusable
    return HTTPException(status_code=409, detail=f"A {kind} named {name!r} already exists")
