"""The heroes and teams API of lesson 08, on a schema that Alembic's migrations build.

`/health` pings the database, `/pool` shows the pool's counters, and a request that finds
no free connection in time answers 503 with Retry-After instead of hanging or failing 500.
The tables come from `alembic upgrade head`, no longer from create_all(): at startup the
app checks that the database is at the migrations' head, and refuses to start if not.

Run it: alembic upgrade head, then uvicorn main:app --reload (both from this folder), then
open http://127.0.0.1:8000/docs
"""

import math
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.pool import QueuePool
from sqlmodel import Session

import crud
from database import check_schema_is_current, engine, health_engine, logger
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
    check_schema_is_current()
    yield
    engine.dispose()


app = FastAPI(title="Heroes, lesson 09: Alembic migrations", lifespan=lifespan)


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


# Seconds a client should wait before trying again after a 503.
RETRY_AFTER = "1"


@app.exception_handler(PoolTimeoutError)
async def pool_timeout_handler(request: Request, exc: PoolTimeoutError) -> JSONResponse:
    # Every connection stayed busy for pool_timeout seconds: say so, rather than a bare 500.
    logger.warning("pool timeout on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        status_code=503,
        content={"detail": "The database is busy: no connection came free in time. Retry soon."},
        headers={"Retry-After": RETRY_AFTER},
    )


@app.exception_handler(DBAPIError)
async def connection_lost_handler(request: Request, exc: DBAPIError) -> JSONResponse:
    # The connection broke under the request (a restart, a failover, pg_terminate_backend).
    # SQLAlchemy has thrown it away, so the same request sent again gets a fresh one.
    if not exc.connection_invalidated:
        raise exc  # any other database error is a bug to fix, not to retry: still a 500
    logger.warning("connection lost on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        status_code=503,
        content={"detail": "The connection to the database was lost. Retry soon."},
        headers={"Retry-After": RETRY_AFTER},
    )


def get_session() -> Iterator[Session]:
    # One session per request, closed (and its connection given back) when the request ends.
    # expire_on_commit=False: a write answers with what it wrote, without reading it back.
    with Session(engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
# An id below 1 or beyond PostgreSQL's INTEGER is a 422 here, not a database error.
Id = Annotated[int, Path(ge=1, le=INT_MAX)]


def get_hero_or_404(session: Session, hero_id: int, with_team: bool = False) -> Hero:
    hero = crud.get_hero(session, hero_id, with_team=with_team)
    if hero is None:
        raise HTTPException(status_code=404, detail="Hero not found")
    return hero


def get_team_or_404(session: Session, team_id: int, with_heroes: bool = False) -> Team:
    team = crud.get_team(session, team_id, with_heroes=with_heroes)
    if team is None:
        raise HTTPException(status_code=404, detail="Team not found")
    return team


def check_team_exists(session: Session, team_id: int | None) -> None:
    # Checked here so the client gets a clear 422; the foreign key is the last line of defence.
    if team_id is not None and crud.get_team(session, team_id) is None:
        raise invalid(("body", "team_id"), f"No team with id {team_id}")


def name_taken(session: Session, name: str, kind: str = "hero") -> HTTPException:
    session.rollback()  # the failed flush left the transaction unusable
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
def create_hero(hero: HeroCreate, session: SessionDep) -> Hero:
    check_team_exists(session, hero.team_id)
    try:
        return crud.create_hero(session, hero)
    except IntegrityError:
        raise name_taken(session, hero.name) from None


@app.get("/heroes/", response_model=list[HeroPublic])
def read_heroes(
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=0, le=100)] = 100,
    min_age: Annotated[int | None, Query(ge=0, le=INT_MAX)] = None,
    max_age: Annotated[int | None, Query(ge=0, le=INT_MAX)] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, pattern=NO_NUL)] = None,
) -> list[Hero]:
    heroes = crud.get_heroes(
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
def read_hero(hero_id: Id, session: SessionDep) -> Hero:
    return get_hero_or_404(session, hero_id, with_team=True)


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
def update_hero(hero_id: Id, hero: HeroUpdate, session: SessionDep) -> Hero:
    db_hero = get_hero_or_404(session, hero_id)
    check_team_exists(session, hero.team_id)
    try:
        return crud.update_hero(session, db_hero, hero)
    except IntegrityError:
        raise name_taken(session, hero.name or "") from None


@app.delete(
    "/heroes/{hero_id}",
    responses={404: {"model": Message, "description": "No hero has this id"}},
)
def delete_hero(hero_id: Id, session: SessionDep) -> dict[str, bool]:
    crud.delete_hero(session, get_hero_or_404(session, hero_id))
    return {"ok": True}


@app.post(
    "/teams/",
    response_model=TeamPublic,
    responses={
        400: {"model": Message, "description": "The body is not UTF-8 JSON"},
        409: {"model": Message, "description": "The name is taken"},
    },
)
def create_team(team: TeamCreate, session: SessionDep) -> Team:
    try:
        return crud.create_team(session, team)
    except IntegrityError:
        raise name_taken(session, team.name, "team") from None


@app.get("/teams/", response_model=list[TeamPublic])
def read_teams(
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=0, le=100)] = 100,
) -> list[Team]:
    return list(crud.get_teams(session, offset=offset, limit=limit))


@app.get(
    "/teams/{team_id}",
    response_model=TeamPublicWithHeroes,
    responses={404: {"model": Message, "description": "No team has this id"}},
)
def read_team(team_id: Id, session: SessionDep) -> Team:
    return get_team_or_404(session, team_id, with_heroes=True)


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
def update_team(team_id: Id, team: TeamUpdate, session: SessionDep) -> Team:
    db_team = get_team_or_404(session, team_id)
    try:
        return crud.update_team(session, db_team, team)
    except IntegrityError:
        raise name_taken(session, team.name or "", "team") from None


@app.delete(
    "/teams/{team_id}",
    responses={404: {"model": Message, "description": "No team has this id"}},
)
def delete_team(team_id: Id, session: SessionDep) -> dict[str, bool]:
    crud.delete_team(session, get_team_or_404(session, team_id))
    return {"ok": True}


@app.get(
    "/teams/{team_id}/heroes",
    response_model=list[HeroPublic],
    responses={404: {"model": Message, "description": "No team has this id"}},
)
def read_team_heroes(
    team_id: Id,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=0, le=100)] = 100,
) -> list[Hero]:
    team = get_team_or_404(session, team_id)
    return list(crud.get_team_heroes(session, team, offset=offset, limit=limit))


# The threads /health's check may run in: its own, never the worker threads (40) in which
# FastAPI runs `def` routes, and where, under overload, they all wait for the pool.
HEALTH_CHECK_THREADS = anyio.CapacityLimiter(1)


def ping_database() -> None:
    # On a connection of its own (health_engine): never one the requests are queueing for.
    with health_engine.connect() as connection:
        connection.execute(text("SELECT 1"))


@app.get(
    "/health",
    responses={503: {"model": Message, "description": "The database does not answer"}},
)
async def health() -> dict[str, str]:
    # Readiness: does the database accept a connection and answer a query right now?
    # async def: no worker thread to wait for; the blocking check runs in a thread of its own.
    try:
        await anyio.to_thread.run_sync(ping_database, limiter=HEALTH_CHECK_THREADS)
    except DBAPIError as exc:
        logger.warning("health check failed: %s", exc)
        raise HTTPException(
            status_code=503,
            detail="The database is unavailable",
            headers={"Retry-After": RETRY_AFTER},
        ) from None
    return {"status": "ok"}


@app.get("/pool")
async def pool_stats() -> dict[str, str | int]:
    # async def, and no connection: it reads counters in memory, so it answers at once even
    # when every connection is lent out and every worker thread waits for one.
    pool = engine.pool
    stats: dict[str, str | int] = {"pool": type(pool).__name__, "status": pool.status()}
    if isinstance(pool, QueuePool):  # NullPool and StaticPool keep no counters
        stats["size"] = pool.size()
        stats["checked_in"] = pool.checkedin()
        stats["checked_out"] = pool.checkedout()
        stats["overflow"] = pool.overflow()
    return stats
