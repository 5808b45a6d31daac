"""The heroes and teams API on an async engine: every database call is awaited.

Run it: uvicorn main:app --reload (from this folder), then open http://127.0.0.1:8000/docs
"""

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel.ext.asyncio.session import AsyncSession

import crud
from database import SessionLocal, create_db_and_tables, engine
from models import (
    INT_MAX,
    NO_NUL,
    Hero,
    HeroCreate,
    HeroPublic,
    HeroPublicWithTeam,
    HeroUpdate,
    Team,
    TeamCreate,
    TeamPublic,
    TeamPublicWithHeroes,
    TeamUpdate,
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await create_db_and_tables()
    yield
    await engine.dispose()  # close the pooled connections inside the event loop they belong to


app = FastAPI(title="Heroes, lesson 06: async sessions", lifespan=lifespan)


def json_safe(value: Any) -> Any:
    """What a 422 echoes back, made sendable as JSON. Python's json module reads NaN,
    Infinity and 1e400 (as float('inf')), and strings holding a lone UTF-16 surrogate
    such as "\\ud800"; JSON cannot carry the first back, UTF-8 cannot encode the second."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf", "-inf"
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {json_safe(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


@app.exception_handler(RequestValidationError)
async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's own 422, with the echoed input made JSON-safe (lesson 02 explains why).
    detail = json_safe(jsonable_encoder(exc.errors()))
    return JSONResponse(status_code=422, content={"detail": detail})


class Message(BaseModel):
    detail: str


def invalid(loc: tuple[str | int, ...], msg: str) -> HTTPException:
    """A 422 raised by the app, shaped like FastAPI's own (HTTPValidationError)."""
    return HTTPException(
        status_code=422, detail=[{"type": "value_error", "loc": list(loc), "msg": msg}]
    )


async def get_session() -> AsyncIterator[AsyncSession]:
    # One session and one transaction per request: committed if the route succeeds,
    # rolled back if anything raised.
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


async def get_hero_or_404(session: AsyncSession, hero_id: int, with_team: bool = False) -> Hero:
    hero = await crud.get_hero(session, hero_id, with_team=with_team)
    if hero is None:
        raise HTTPException(status_code=404, detail="Hero not found")
    return hero


async def get_team_or_404(session: AsyncSession, team_id: int, with_heroes: bool = False) -> Team:
    team = await crud.get_team(session, team_id, with_heroes=with_heroes)
    if team is None:
        raise HTTPException(status_code=404, detail="Team not found")
    return team


async def check_team_exists(session: AsyncSession, team_id: int | None) -> None:
    # Checked here so the client gets a clear 422; the foreign key is the last line of defence.
    if team_id is not None and await crud.get_team(session, team_id) is None:
        raise invalid(("body", "team_id"), f"No team with id {team_id}")


async def name_taken(session: AsyncSession, name: str, kind: str = "hero") -> HTTPException:
    await session.rollback()  # the failed flush left the transaction unusable
    return HTTPException(status_code=409, detail=f"A {kind} named {name!r} already exists")


# What a request that lost a race with another request is told.
CHANGED_MEANWHILE = "Another request changed the same row at the same time; try again"


@app.exception_handler(StaleDataError)
async def changed_meanwhile(request: Request, exc: StaleDataError) -> JSONResponse:
    # Another request deleted the row after this one read it, and the UPDATE matched none.
    return JSONResponse(status_code=409, content={"detail": CHANGED_MEANWHILE})


@app.post(
    "/heroes/",
    response_model=HeroPublic,
    responses={
        400: {"model": Message, "description": "The body is not UTF-8 JSON"},
        409: {"model": Message, "description": "The name is taken"},
    },
)
async def create_hero(hero: HeroCreate, session: SessionDep) -> Hero:
    await check_team_exists(session, hero.team_id)
    try:
        return await crud.create_hero(session, hero)
    except IntegrityError:
        raise await name_taken(session, hero.name) from None


@app.get("/heroes/", response_model=list[HeroPublic])
async def read_heroes(
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=0, le=100)] = 100,
    min_age: Annotated[int | None, Query(ge=0, le=INT_MAX)] = None,
    max_age: Annotated[int | None, Query(ge=0, le=INT_MAX)] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, pattern=NO_NUL)] = None,
) -> list[Hero]:
    heroes = await crud.get_heroes(
        session,
        offset=offset,
        limit=limit,
        min_age=min_age,
        max_age=max_age,
        q=q,
    )
    return list(heroes)


@app.get(
    "/heroes/{hero_id}",
    response_model=HeroPublicWithTeam,
    responses={404: {"model": Message, "description": "No hero has this id"}},
)
async def read_hero(hero_id: Id, session: SessionDep) -> Hero:
    return await get_hero_or_404(session, hero_id, with_team=True)


@app.patch(
    "/heroes/{hero_id}",
    response_model=HeroPublic,
    responses={
        400: {"model": Message, "description": "The body is not UTF-8 JSON"},
        404: {"model": Message, "description": "No hero has this id"},
        409: {
            "model": Message,
            "description": "The name is taken, or another request deleted the hero meanwhile",
        },
    },
)
async def update_hero(hero_id: Id, hero: HeroUpdate, session: SessionDep) -> Hero:
    db_hero = await get_hero_or_404(session, hero_id)
    await check_team_exists(session, hero.team_id)
    try:
        return await crud.update_hero(session, db_hero, hero)
    except IntegrityError:
        raise await name_taken(session, hero.name or "") from None


@app.delete(
    "/heroes/{hero_id}",
    responses={404: {"model": Message, "description": "No hero has this id"}},
)
async def delete_hero(hero_id: Id, session: SessionDep) -> dict[str, bool]:
    await crud.delete_hero(session, await get_hero_or_404(session, hero_id))
    return {"ok": True}


@app.post(
    "/teams/",
    response_model=TeamPublic,
    responses={
        400: {"model": Message, "description": "The body is not UTF-8 JSON"},
        409: {"model": Message, "description": "The name is taken"},
    },
)
async def create_team(team: TeamCreate, session: SessionDep) -> Team:
    try:
        return await crud.create_team(session, team)
    except IntegrityError:
        raise await name_taken(session, team.name, "team") from None


@app.get("/teams/", response_model=list[TeamPublic])
async def read_teams(
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=0, le=100)] = 100,
) -> list[Team]:
    return list(await crud.get_teams(session, offset=offset, limit=limit))


@app.get(
    "/teams/{team_id}",
    response_model=TeamPublicWithHeroes,
    responses={404: {"model": Message, "description": "No team has this id"}},
)
async def read_team(team_id: Id, session: SessionDep) -> Team:
    return await get_team_or_404(session, team_id, with_heroes=True)


@app.patch(
    "/teams/{team_id}",
    response_model=TeamPublic,
    responses={
        400: {"model": Message, "description": "The body is not UTF-8 JSON"},
        404: {"model": Message, "description": "No team has this id"},
        409: {
            "model": Message,
            "description": "The name is taken, or another request deleted the team meanwhile",
        },
    },
)
async def update_team(team_id: Id, team: TeamUpdate, session: SessionDep) -> Team:
    db_team = await get_team_or_404(session, team_id)
    try:
        return await crud.update_team(session, db_team, team)
    except IntegrityError:
        raise await name_taken(session, team.name or "", "team") from None


@app.delete(
    "/teams/{team_id}",
    responses={404: {"model": Message, "description": "No team has this id"}},
)
async def delete_team(team_id: Id, session: SessionDep) -> dict[str, bool]:
    await crud.delete_team(session, await get_team_or_404(session, team_id))
    return {"ok": True}


@app.get(
    "/teams/{team_id}/heroes",
    response_model=list[HeroPublic],
    responses={404: {"model": Message, "description": "No team has this id"}},
)
async def read_team_heroes(
    team_id: Id,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=0, le=100)] = 100,
) -> list[Hero]:
    team = await get_team_or_404(session, team_id)
    return list(await crud.get_team_heroes(session, team, offset=offset, limit=limit))


@app.get("/rosters/", response_model=list[TeamPublicWithHeroes])
async def read_rosters(
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=0, le=100)] = 100,
) -> list[Team]:
    return list(await crud.get_rosters(session, offset=offset, limit=limit))


# >>> exercise 1
@app.get(
    "/heroes/{hero_id}/teammates",
    response_model=list[HeroPublic],
    responses={404: {"model": Message, "description": "No hero has this id"}},
)
async def read_teammates(hero_id: Id, session: SessionDep) -> list[Hero]:
    # Hero.team is lazy="raise": the team comes joined to the hero, in the same SELECT.
    hero = await get_hero_or_404(session, hero_id, with_team=True)
    if hero.team is None:
        return []
    # awaitable_attrs: Team.heroes is loaded inside an await, never by a bare read.
    heroes: list[Hero] = await hero.team.awaitable_attrs.heroes
    return [teammate for teammate in heroes if teammate.id != hero.id]


# <<< exercise 1
