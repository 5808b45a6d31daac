"""The heroes and teams API on encode/databases: SQLAlchemy Core queries, no ORM, no session.

Run it: uvicorn main:app --reload (from this folder), then open http://127.0.0.1:8000/docs
"""

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from databases import Database

# >>> exercise 1
from fastapi import Body, Depends, FastAPI, HTTPException, Path, Query, Request

# <<< exercise 1
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import crud
from database import INTEGRITY_ERRORS, create_db_and_tables, database
from models import (
    INT_MAX,
    NO_NUL,
    HeroCreate,
    HeroPublic,
    HeroPublicWithTeam,
    HeroUpdate,
    TeamCreate,
    TeamPublic,
    TeamPublicWithHeroes,
    TeamUpdate,
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await create_db_and_tables()
    await database.connect()
    yield
    await database.disconnect()  # close the pool inside the event loop it belongs to


app = FastAPI(title="Heroes, lesson 07: the databases package", lifespan=lifespan)


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


async def get_database() -> Database:
    # Without the lifespan, databases 0.9.0 fails on PostgreSQL with a bare AssertionError
    # and on SQLite not at all: make it one clear error everywhere (mistake M2).
    if not database.is_connected:
        raise RuntimeError("The database is not connected: did the app's lifespan run?")
    return database


# No session and no request-wide transaction: each statement commits on its own, and
# crud.py opens db.transaction() where several statements must succeed or fail together.
DatabaseDep = Annotated[Database, Depends(get_database)]
# An id below 1 or beyond PostgreSQL's INTEGER is a 422 here, not a database error.
Id = Annotated[int, Path(ge=1, le=INT_MAX)]


async def get_hero_or_404(
    db: Database, hero_id: int, with_team: bool = False
) -> HeroPublicWithTeam:
    hero = await crud.get_hero(db, hero_id, with_team=with_team)
    if hero is None:
        raise HTTPException(status_code=404, detail="Hero not found")
    return hero


async def get_team_or_404(
    db: Database, team_id: int, with_heroes: bool = False
) -> TeamPublicWithHeroes:
    team = await crud.get_team(db, team_id, with_heroes=with_heroes)
    if team is None:
        raise HTTPException(status_code=404, detail="Team not found")
    return team


async def check_team_exists(
    db: Database, team_id: int | None, loc: tuple[str | int, ...] = ("body", "team_id")
) -> None:
    # SQLite does not enforce foreign keys by default: check, so both databases agree.
    if team_id is not None and await crud.get_team(db, team_id) is None:
        raise invalid(loc, f"No team with id {team_id}")


def name_taken(name: str, kind: str = "hero") -> HTTPException:
    # Nothing to roll back: the failed INSERT or UPDATE ran, and failed, on its own.
    return HTTPException(status_code=409, detail=f"A {kind} named {name!r} already exists")


# What a request that lost a race with another request is told.
CHANGED_MEANWHILE = "Another request changed the same row at the same time; try again"


def changed_meanwhile() -> HTTPException:
    # Another request deleted the row after this one read it: the UPDATE or DELETE found none.
    return HTTPException(status_code=409, detail=CHANGED_MEANWHILE)


@app.post(
    "/heroes/",
    response_model=HeroPublic,
    responses={
        400: {"model": Message, "description": "The body is not UTF-8 JSON"},
        409: {"model": Message, "description": "The name is taken"},
    },
)
async def create_hero(hero: HeroCreate, db: DatabaseDep) -> HeroPublic:
    await check_team_exists(db, hero.team_id)
    try:
        return await crud.create_hero(db, hero)
    except INTEGRITY_ERRORS:
        raise name_taken(hero.name) from None


@app.get("/heroes/", response_model=list[HeroPublic])
async def read_heroes(
    db: DatabaseDep,
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=0, le=100)] = 100,
    min_age: Annotated[int | None, Query(ge=0, le=INT_MAX)] = None,
    max_age: Annotated[int | None, Query(ge=0, le=INT_MAX)] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, pattern=NO_NUL)] = None,
) -> list[HeroPublic]:
    heroes = await crud.get_heroes(
        db,
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
async def read_hero(hero_id: Id, db: DatabaseDep) -> HeroPublicWithTeam:
    return await get_hero_or_404(db, hero_id, with_team=True)


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
async def update_hero(hero_id: Id, hero: HeroUpdate, db: DatabaseDep) -> HeroPublic:
    db_hero = await get_hero_or_404(db, hero_id)
    await check_team_exists(db, hero.team_id)
    try:
        updated = await crud.update_hero(db, db_hero, hero)
    except INTEGRITY_ERRORS:
        raise name_taken(hero.name or "") from None
    if updated is None:
        raise changed_meanwhile()
    return updated


@app.delete(
    "/heroes/{hero_id}",
    responses={
        404: {"model": Message, "description": "No hero has this id"},
        409: {"model": Message, "description": "Another request deleted the hero meanwhile"},
    },
)
async def delete_hero(hero_id: Id, db: DatabaseDep) -> dict[str, bool]:
    if not await crud.delete_hero(db, await get_hero_or_404(db, hero_id)):
        raise changed_meanwhile()
    return {"ok": True}


@app.post(
    "/teams/",
    response_model=TeamPublic,
    responses={
        400: {"model": Message, "description": "The body is not UTF-8 JSON"},
        409: {"model": Message, "description": "The name is taken"},
    },
)
async def create_team(team: TeamCreate, db: DatabaseDep) -> TeamPublic:
    try:
        return await crud.create_team(db, team)
    except INTEGRITY_ERRORS:
        raise name_taken(team.name, "team") from None


@app.get("/teams/", response_model=list[TeamPublic])
async def read_teams(
    db: DatabaseDep,
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=0, le=100)] = 100,
) -> list[TeamPublic]:
    return list(await crud.get_teams(db, offset=offset, limit=limit))


@app.get(
    "/teams/{team_id}",
    response_model=TeamPublicWithHeroes,
    responses={404: {"model": Message, "description": "No team has this id"}},
)
async def read_team(team_id: Id, db: DatabaseDep) -> TeamPublicWithHeroes:
    return await get_team_or_404(db, team_id, with_heroes=True)


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
async def update_team(team_id: Id, team: TeamUpdate, db: DatabaseDep) -> TeamPublic:
    db_team = await get_team_or_404(db, team_id)
    try:
        updated = await crud.update_team(db, db_team, team)
    except INTEGRITY_ERRORS:
        raise name_taken(team.name or "", "team") from None
    if updated is None:
        raise changed_meanwhile()
    return updated


@app.delete(
    "/teams/{team_id}",
    responses={
        404: {"model": Message, "description": "No team has this id"},
        409: {"model": Message, "description": "Another request deleted the team meanwhile"},
    },
)
async def delete_team(team_id: Id, db: DatabaseDep) -> dict[str, bool]:
    if not await crud.delete_team(db, await get_team_or_404(db, team_id)):
        raise changed_meanwhile()
    return {"ok": True}


@app.get(
    "/teams/{team_id}/heroes",
    response_model=list[HeroPublic],
    responses={404: {"model": Message, "description": "No team has this id"}},
)
async def read_team_heroes(
    team_id: Id,
    db: DatabaseDep,
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=0, le=100)] = 100,
) -> list[HeroPublic]:
    team = await get_team_or_404(db, team_id)
    return list(await crud.get_team_heroes(db, team, offset=offset, limit=limit))


@app.get("/rosters/", response_model=list[TeamPublicWithHeroes])
async def read_rosters(
    db: DatabaseDep,
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=0, le=100)] = 100,
) -> list[TeamPublicWithHeroes]:
    return list(await crud.get_rosters(db, offset=offset, limit=limit))


@app.get(
    "/heroes/{hero_id}/teammates",
    response_model=list[HeroPublic],
    responses={404: {"model": Message, "description": "No hero has this id"}},
)
async def read_teammates(hero_id: Id, db: DatabaseDep) -> list[HeroPublic]:
    hero = await get_hero_or_404(db, hero_id)
    if hero.team_id is None:
        return []
    heroes = (await crud.get_heroes_of_teams(db, [hero.team_id]))[hero.team_id]
    return [teammate for teammate in heroes if teammate.id != hero.id]


# >>> exercise 1
@app.post(
    "/heroes/bulk",
    response_model=list[HeroPublic],
    responses={
        400: {"model": Message, "description": "The body is not UTF-8 JSON"},
        409: {"model": Message, "description": "A name in the batch is taken: nothing was saved"},
    },
)
async def create_heroes(
    heroes: Annotated[list[HeroCreate], Body(max_length=100)], db: DatabaseDep
) -> list[HeroPublic]:
    # max_length: a batch of 101 heroes is a 422 before any query, so no request can hold
    # a transaction, and SQLite's write lock, for as long as it likes.
    for i, hero in enumerate(heroes):
        await check_team_exists(db, hero.team_id, ("body", i, "team_id"))
    from sqlalchemy.exc import IntegrityError

    try:
        return await crud.create_heroes(db, heroes)
    except IntegrityError:
        raise HTTPException(
            status_code=409, detail="A hero name in the batch is already taken: nothing was saved"
        ) from None


# <<< exercise 1
