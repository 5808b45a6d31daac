"""The heroes API with one SQLModel class: lifespan, `SessionDep`, 409 on a duplicate name.

Run it: uvicorn main:app --reload (from this folder), then open http://127.0.0.1:8000/docs
"""

import math
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

# >>> exercise 2
from pydantic import BaseModel, ValidationError

# <<< exercise 2
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session

import crud
from database import create_db_and_tables, engine
from models import INT_MAX, NO_NUL, Hero


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    create_db_and_tables()
    yield
    engine.dispose()


app = FastAPI(title="Heroes, lesson 04: one SQLModel class", lifespan=lifespan)


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


def get_session() -> Iterator[Session]:
    # One session per request, closed (and its connection given back) when the request ends.
    # expire_on_commit=False: a write answers with what it wrote, without reading it back.
    with Session(engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
# An id below 1 or beyond PostgreSQL's INTEGER is a 422 here, not a database error.
Id = Annotated[int, Path(ge=1, le=INT_MAX)]


def get_hero_or_404(session: Session, hero_id: int) -> Hero:
    hero = crud.get_hero(session, hero_id)
    if hero is None:
        raise HTTPException(status_code=404, detail="Hero not found")
    return hero


def name_taken(session: Session, name: str) -> HTTPException:
    session.rollback()  # the failed flush left the transaction unusable
    return HTTPException(status_code=409, detail=f"A hero named {name!r} already exists")


# What a request that lost a race with another request is told.
CHANGED_MEANWHILE = "Another request changed the same row at the same time; try again"


@app.exception_handler(StaleDataError)
async def changed_meanwhile(request: Request, exc: StaleDataError) -> JSONResponse:
    # Another request deleted the row after this one read it, and the UPDATE matched none.
    return JSONResponse(status_code=409, content={"detail": CHANGED_MEANWHILE})


# >>> exercise 2
def validated(data: Hero | dict[str, object]) -> Hero:
    # Hero(...) checked nothing; model_validate checks every type and Field limit.
    try:
        return Hero.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


# <<< exercise 2


@app.post(
    "/heroes/",
    response_model=Hero,
    responses={
        400: {"model": Message, "description": "The body is not UTF-8 JSON"},
        409: {"model": Message, "description": "The name, or the id the client chose, is taken"},
    },
)
def create_hero(hero: Hero, session: SessionDep) -> Hero:
    # >>> exercise 2
    hero = validated(hero)
    try:
        return crud.create_hero(session, hero)
    except IntegrityError:
        raise name_taken(session, hero.name) from None
    # <<< exercise 2


@app.get("/heroes/", response_model=list[Hero])
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
    response_model=Hero,
    responses={404: {"model": Message, "description": "No hero has this id"}},
)
def read_hero(hero_id: Id, session: SessionDep) -> Hero:
    return get_hero_or_404(session, hero_id)


@app.patch(
    "/heroes/{hero_id}",
    response_model=Hero,
    responses={
        400: {"model": Message, "description": "The body is not UTF-8 JSON"},
        404: {"model": Message, "description": "No hero has this id"},
        409: {
            "model": Message,
            "description": "The name is taken, or another request deleted the hero meanwhile",
        },
    },
)
def update_hero(hero_id: Id, hero: Hero, session: SessionDep) -> Hero:
    db_hero = get_hero_or_404(session, hero_id)
    # >>> exercise 3
    # Build the hero the change would leave: the constructor checks it.
    sent = {key: getattr(hero, key) for key in hero.model_fields_set - {"id"}}
    Hero(**{**db_hero.model_dump(), **sent})
    # <<< exercise 3
    try:
        return crud.update_hero(session, db_hero, hero)
    except IntegrityError:
        raise name_taken(session, hero.name) from None


@app.delete(
    "/heroes/{hero_id}",
    responses={404: {"model": Message, "description": "No hero has this id"}},
)
def delete_hero(hero_id: Id, session: SessionDep) -> dict[str, bool]:
    crud.delete_hero(session, get_hero_or_404(session, hero_id))
    return {"ok": True}
