"""What the routes share: a session for reads, a unit of work for writes, the id and paging
parameters, the lookups every route makes, and the shapes of the errors they answer
(Message, and invalid() for a 422 the app raises)."""

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query
from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.db import SessionLocal
from app.models import INT_MAX, Hero, Team
from app.repositories import HeroRepository, TeamRepository
from app.unit_of_work import UnitOfWork


async def get_session() -> AsyncIterator[AsyncSession]:
    # One session per request, closed (and its connection given back) when the route is done.
    async with SessionLocal() as session:
        yield session


# scope="function": what follows the yield runs when the route returns, before the
# response is sent, not after it has gone.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_unit_of_work(session: SessionDep) -> AsyncIterator[UnitOfWork]:
    # A route that writes runs inside one unit of work: committed when the route returns,
    # rolled back if it raised (lesson 10).
    async with UnitOfWork(session) as uow:
        yield uow


# scope="function" here too: the COMMIT runs before the response is sent, so a commit that
# fails is answered (409, 503 or 500), never a 200 for data that was not saved.
UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work, scope="function")]
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

# What a request that lost a race with another request is told.
CHANGED_MEANWHILE = "Another request changed the same row at the same time; try again"
# What a client that lost the race for a hero is told: read the hero again, then decide.
STALE_HERO = "The hero was changed by someone else since you read it: read it again, then retry"


async def get_hero_or_404(heroes: HeroRepository, hero_id: int, with_team: bool = False) -> Hero:
    hero = await heroes.get(hero_id, with_team=with_team)
    if hero is None:
        raise HTTPException(status_code=404, detail="Hero not found")
    return hero


async def get_team_or_404(teams: TeamRepository, team_id: int, with_heroes: bool = False) -> Team:
    team = await teams.get(team_id, with_heroes=with_heroes)
    if team is None:
        raise HTTPException(status_code=404, detail="Team not found")
    return team


async def check_team_exists(
    teams: TeamRepository, team_id: int | None, field: str = "team_id"
) -> None:
    # Checked here so the client gets a clear 422; the foreign key is the last line of defence.
    if team_id is not None and await teams.get(team_id) is None:
        raise invalid(("body", field), f"No team with id {team_id}")


def name_taken(name: str, kind: str = "hero") -> HTTPException:
    # Raised inside the unit of work, which rolls the failed transaction back on its way out.
    return HTTPException(status_code=409, detail=f"A {kind} named {name!r} already exists")
