"""The heroes API in SQLAlchemy 2.0 style: lifespan, `SessionDep`, 409 on a duplicate name.

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
from pydantic import BaseModel

# >>> exercise 3
# <<< exercise 3
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

import crud
from database import Base, SessionLocal, engine

# >>> exercise 2
from models import INT_MAX, Hero

# <<< exercise 2
from schemas import HeroCreate, HeroPublic, HeroUpdate


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    Base.metadata.create_all(engine)
    yield
    engine.dispose()


app = FastAPI(title="Heroes, lesson 02: SQLAlchemy 2.0 style", lifespan=lifespan)


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
    # FastAPI's own 422, with the echoed input made JSON-safe (mistake M4 explains why).
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
    with SessionLocal() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
# An id below 1 or beyond PostgreSQL's INTEGER is a 422 here, not a database error.
Id = Annotated[int, Path(ge=1, le=INT_MAX)]


def get_hero_or_404(session: Session, hero_id: int) -> Hero:
    hero = crud.get_hero(session, hero_id)
    if hero is None:
        raise HTTPException(status_code=404, detail="Hero not found")
    return hero


# >>> exercise 3
# TODO(exercise 3): name_taken(session, name) -> HTTPException, what a route raises when the
# database refuses a taken name: 409, {"detail": "A hero named 'X' already exists"}; the
# session must be usable again afterwards.
# <<< exercise 3


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
    # >>> exercise 3
    # TODO(exercise 3): a name that is taken is a 409 (see name_taken above), not a 500.
    return crud.create_hero(session, hero)
    # <<< exercise 3


@app.get("/heroes/", response_model=list[HeroPublic])
def read_heroes(
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=0, le=100)] = 100,
    # >>> exercise 1
    # TODO(exercise 1): add optional min_age and max_age query parameters (0 to INT_MAX).
    # <<< exercise 1
    # >>> exercise 2
    # TODO(exercise 2): add an optional `q` query parameter (1 to 100 characters, no NUL:
    # the pattern NO_NUL from models; import it in the exercise-2 region at the top).
    # <<< exercise 2
) -> list[Hero]:
    heroes = crud.get_heroes(
        session,
        offset=offset,
        limit=limit,
        # >>> exercise 1
        # TODO(exercise 1): pass min_age and max_age on.
        # <<< exercise 1
        # >>> exercise 2
        # TODO(exercise 2): pass q on.
        # <<< exercise 2
    )
    return list(heroes)


@app.get(
    "/heroes/{hero_id}",
    response_model=HeroPublic,
    responses={404: {"model": Message, "description": "No hero has this id"}},
)
def read_hero(hero_id: Id, session: SessionDep) -> Hero:
    return get_hero_or_404(session, hero_id)


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
    # >>> exercise 3
    # TODO(exercise 3): renaming a hero to a taken name is a 409 too.
    return crud.update_hero(session, db_hero, hero)
    # <<< exercise 3


@app.delete(
    "/heroes/{hero_id}",
    responses={404: {"model": Message, "description": "No hero has this id"}},
)
def delete_hero(hero_id: Id, session: SessionDep) -> dict[str, bool]:
    crud.delete_hero(session, get_hero_or_404(session, hero_id))
    return {"ok": True}
