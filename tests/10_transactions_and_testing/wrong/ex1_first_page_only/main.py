"""The heroes and teams API of lesson 09, with transactions it owns on purpose.

Every request that writes runs inside one unit of work (unit_of_work.py): its changes are
committed together or rolled back together. POST /teams/{id}/transfer moves heroes in one
transaction; POST /heroes/batch keeps the good heroes and rolls back the bad ones, each in
its own savepoint; PATCH /heroes/{id} answers 409 when someone else changed the hero
since the client read it (optimistic locking with the hero's version_id).

Run it: alembic upgrade head, then uvicorn main:app --reload (both from this folder), then
open http://127.0.0.1:8000/docs
"""

import math
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio
from fastapi import Body, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.pool import QueuePool
from sqlmodel import Session

from database import check_schema_is_current, engine, health_engine, logger
from models import (
    INT_MAX,
    NO_NUL,
    Hero,
    HeroBatchResult,
    HeroCreate,
    HeroPublic,
    HeroPublicWithTeam,
    HeroTransfer,
    HeroUpdate,
    Team,
    TeamBatchResult,  # noqa: F401  (unused until you write exercise 2)
    TeamCreate,
    TeamPublic,
    TeamPublicWithHeroes,
    TeamUpdate,
)
from repositories import HeroRepository, TeamRepository
from unit_of_work import UnitOfWork


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    check_schema_is_current()
    yield
    engine.dispose()


app = FastAPI(title="Heroes, lesson 10: transactions and testing", lifespan=lifespan)


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


# The errors that say "another transaction was in the way, try again": PostgreSQL's
# serialization failure, deadlock and lock timeout (by SQLSTATE), SQLite's busy database.
RETRY_SQLSTATES = {"40001", "40P01", "55P03"}


def must_retry(exc: OperationalError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    sqlite_error = getattr(exc.orig, "sqlite_errorname", "")
    return sqlstate in RETRY_SQLSTATES or sqlite_error.startswith("SQLITE_BUSY")


@app.exception_handler(OperationalError)
async def contention_handler(request: Request, exc: OperationalError) -> JSONResponse:
    # The transaction has been rolled back; the same request can succeed a moment later.
    if not must_retry(exc):
        return await connection_lost_handler(request, exc)  # a 503 if it was lost, else a 500
    logger.warning("contention on %s %s: %s", request.method, request.url.path, exc.orig)
    return JSONResponse(
        status_code=503,
        content={"detail": "Another request held what this one needed. Retry soon."},
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


def get_hero_or_404(heroes: HeroRepository, hero_id: int, with_team: bool = False) -> Hero:
    hero = heroes.get(hero_id, with_team=with_team)
    if hero is None:
        raise HTTPException(status_code=404, detail="Hero not found")
    return hero


def get_team_or_404(teams: TeamRepository, team_id: int, with_heroes: bool = False) -> Team:
    team = teams.get(team_id, with_heroes=with_heroes)
    if team is None:
        raise HTTPException(status_code=404, detail="Team not found")
    return team


def check_team_exists(teams: TeamRepository, team_id: int | None, field: str = "team_id") -> None:
    # Checked here so the client gets a clear 422; the foreign key is the last line of defence.
    if team_id is not None and teams.get(team_id) is None:
        raise invalid(("body", field), f"No team with id {team_id}")


def name_taken(name: str, kind: str = "hero") -> HTTPException:
    # The unit of work has already rolled back the failed transaction (M2).
    return HTTPException(status_code=409, detail=f"A {kind} named {name!r} already exists")


# What a request that lost a race with another request is told.
CHANGED_MEANWHILE = "Another request changed the same row at the same time; try again"
# What a client that lost the race for a hero is told: read the hero again, then decide.
STALE_HERO = "The hero was changed by someone else since you read it: read it again, then retry"


@app.exception_handler(StaleDataError)
async def stale_data_handler(request: Request, exc: StaleDataError) -> JSONResponse:
    # A hero's UPDATE or DELETE matched no row at the version this request read: another
    # request changed the hero, or deleted it, in between (M3).
    return JSONResponse(status_code=409, content={"detail": STALE_HERO})


@app.post(
    "/heroes/",
    response_model=HeroPublic,
    responses={
        400: {"model": Message, "description": "The body is not UTF-8 JSON"},
        409: {"model": Message, "description": "The name is taken"},
    },
)
def create_hero(hero: HeroCreate, session: SessionDep) -> Hero:
    try:
        with UnitOfWork(session) as uow:
            check_team_exists(uow.teams, hero.team_id)
            return uow.heroes.add(hero)
    except IntegrityError:
        raise name_taken(hero.name) from None


@app.post(
    "/heroes/batch",
    response_model=HeroBatchResult,
    responses={400: {"model": Message, "description": "The body is not UTF-8 JSON"}},
)
def create_heroes(
    heroes: Annotated[list[HeroCreate], Body(max_length=100)], session: SessionDep
) -> HeroBatchResult:
    created: list[Hero] = []
    failed: list[str] = []
    with UnitOfWork(session) as uow:
        for hero in heroes:
            try:
                # A savepoint per hero: a taken name rolls back this hero only.
                with session.begin_nested():
                    check_team_exists(uow.teams, hero.team_id)
                    created.append(uow.heroes.add(hero))
            except (IntegrityError, HTTPException):
                failed.append(hero.name)
        result = HeroBatchResult.model_validate({"created": created, "failed": failed})
    return result


@app.get("/heroes/", response_model=list[HeroPublic])
def read_heroes(
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=0, le=100)] = 100,
    min_age: Annotated[int | None, Query(ge=0, le=INT_MAX)] = None,
    max_age: Annotated[int | None, Query(ge=0, le=INT_MAX)] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, pattern=NO_NUL)] = None,
) -> list[Hero]:
    heroes = HeroRepository(session).list(
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
    return get_hero_or_404(HeroRepository(session), hero_id, with_team=True)


@app.patch(
    "/heroes/{hero_id}",
    response_model=HeroPublic,
    responses={
        400: {"model": Message, "description": "The body is not UTF-8 JSON"},
        404: {"model": Message, "description": "No hero has this id"},
        409: {"model": Message, "description": "The name is taken, or the hero has changed"},
    },
)
def update_hero(hero_id: Id, hero: HeroUpdate, session: SessionDep) -> Hero:
    try:
        with UnitOfWork(session) as uow:
            db_hero = get_hero_or_404(uow.heroes, hero_id)
            if hero.version_id is not None and hero.version_id != db_hero.version_id:
                # Already changed before we read it: a 409 without trying the UPDATE.
                raise HTTPException(status_code=409, detail=STALE_HERO)
            check_team_exists(uow.teams, hero.team_id)
            # exclude_unset: only the fields the client sent; version_id is SQLAlchemy's.
            data = hero.model_dump(exclude_unset=True, exclude={"version_id"})
            return uow.heroes.update(db_hero, data)
    except IntegrityError:
        raise name_taken(hero.name or "") from None


@app.delete(
    "/heroes/{hero_id}",
    responses={
        404: {"model": Message, "description": "No hero has this id"},
        409: {"model": Message, "description": "The hero changed while it was deleted"},
    },
)
def delete_hero(hero_id: Id, session: SessionDep) -> dict[str, bool]:
    with UnitOfWork(session) as uow:
        uow.heroes.delete(get_hero_or_404(uow.heroes, hero_id))
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
        with UnitOfWork(session) as uow:
            return uow.teams.add(team)
    except IntegrityError:
        raise name_taken(team.name, "team") from None


# >>> exercise 2
@app.post(
    "/teams/batch",
    response_model=TeamBatchResult,
    responses={400: {"model": Message, "description": "The body is not UTF-8 JSON"}},
)
def create_teams(
    teams: Annotated[list[TeamCreate], Body(max_length=100)], session: SessionDep
) -> TeamBatchResult:
    created: list[Team] = []
    failed: list[str] = []
    with UnitOfWork(session) as uow:
        for team in teams:
            try:
                with session.begin_nested():
                    created.append(uow.teams.add(team))
            except IntegrityError:
                failed.append(team.name)
        result = TeamBatchResult.model_validate({"created": created, "failed": failed})
    return result


# <<< exercise 2


@app.get("/teams/", response_model=list[TeamPublic])
def read_teams(
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=0, le=100)] = 100,
) -> list[Team]:
    return list(TeamRepository(session).list(offset=offset, limit=limit))


@app.get(
    "/teams/{team_id}",
    response_model=TeamPublicWithHeroes,
    responses={404: {"model": Message, "description": "No team has this id"}},
)
def read_team(team_id: Id, session: SessionDep) -> Team:
    return get_team_or_404(TeamRepository(session), team_id, with_heroes=True)


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
    try:
        with UnitOfWork(session) as uow:
            db_team = get_team_or_404(uow.teams, team_id)
            return uow.teams.update(db_team, team.model_dump(exclude_unset=True))
    except IntegrityError:
        raise name_taken(team.name or "", "team") from None
    except StaleDataError:
        # Another request deleted the team after this one read it: the UPDATE matched none.
        raise HTTPException(status_code=409, detail=CHANGED_MEANWHILE) from None


@app.delete(
    "/teams/{team_id}",
    # No 409: the database sets the heroes' team_id (ON DELETE SET NULL), so no versioned
    # hero UPDATE is sent that another request's change could make match no row.
    responses={404: {"model": Message, "description": "No team has this id"}},
)
def delete_team(team_id: Id, session: SessionDep) -> dict[str, bool]:
    with UnitOfWork(session) as uow:
        uow.teams.delete(get_team_or_404(uow.teams, team_id))
    return {"ok": True}


@app.post(
    "/teams/{team_id}/transfer",
    response_model=list[HeroPublic],
    responses={
        400: {"model": Message, "description": "The body is not UTF-8 JSON"},
        404: {"model": Message, "description": "No team has this id"},
    },
)
def transfer_heroes(team_id: Id, transfer: HeroTransfer, session: SessionDep) -> list[Hero]:
    # Several UPDATEs, one transaction: a hero that cannot move undoes the moves before it.
    with UnitOfWork(session) as uow:
        get_team_or_404(uow.teams, team_id)
        check_team_exists(uow.teams, transfer.to_team_id, "to_team_id")
        # Every hero locked in one statement, in id order: a transfer of the same heroes
        # listed the other way round waits for ours instead of deadlocking with it (M5).
        heroes = {hero.id: hero for hero in uow.heroes.lock(transfer.hero_ids)}
        moved = []
        for position, hero_id in enumerate(transfer.hero_ids):
            hero = heroes.get(hero_id)
            if hero is None or hero.team_id != team_id:
                where = ("body", "hero_ids", position)
                raise invalid(where, f"Hero {hero_id} is not in team {team_id}")
            moved.append(uow.heroes.update(hero, {"team_id": transfer.to_team_id}))
    return moved


# >>> exercise 1
@app.post(
    "/teams/{team_id}/merge",
    response_model=TeamPublicWithHeroes,
    responses={
        404: {"model": Message, "description": "No team has this id"},
        409: {"model": Message, "description": "One of its heroes changed meanwhile"},
    },
)
def merge_team(
    team_id: Id, into: Annotated[int, Query(ge=1, le=INT_MAX)], session: SessionDep
) -> TeamPublicWithHeroes:
    with UnitOfWork(session) as uow:
        team = get_team_or_404(uow.teams, team_id)
        target = get_team_or_404(uow.teams, into)
        if target.id == team.id:
            raise invalid(("query", "into"), "A team cannot merge into itself")
        for hero in uow.heroes.in_team(team_id):
            uow.heroes.update(hero, {"team_id": into})
        uow.teams.delete(team)
        # Team.heroes is lazy="raise": load the target's heroes, the moved ones among them,
        # now, inside the transaction, so the answer is what the merge wrote.
        session.refresh(target, ["heroes"])
        merged = TeamPublicWithHeroes.model_validate(target)
    return merged


# <<< exercise 1


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
    get_team_or_404(TeamRepository(session), team_id)
    return list(HeroRepository(session).in_team(team_id, offset=offset, limit=limit))


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
