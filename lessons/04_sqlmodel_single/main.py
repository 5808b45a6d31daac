"""The heroes API with one SQLModel class: lifespan, `SessionDep`, 409 on a duplicate name.

Run it: uvicorn main:app --reload (from this folder), then open http://127.0.0.1:8000/docs
"""

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query

# >>> exercise 2
# <<< exercise 2
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

import crud
from database import create_db_and_tables, engine
from models import Hero


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    create_db_and_tables()
    yield
    engine.dispose()


app = FastAPI(title="Heroes, lesson 04: one SQLModel class", lifespan=lifespan)


def get_session() -> Iterator[Session]:
    # One session per request, closed (and its connection given back) when the request ends.
    with Session(engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_hero_or_404(session: Session, hero_id: int) -> Hero:
    hero = crud.get_hero(session, hero_id)
    if hero is None:
        raise HTTPException(status_code=404, detail="Hero not found")
    return hero


def name_taken(session: Session, name: str) -> HTTPException:
    session.rollback()  # the failed flush left the transaction unusable
    return HTTPException(status_code=409, detail=f"A hero named {name!r} already exists")


# >>> exercise 2
# <<< exercise 2


@app.post("/heroes/", response_model=Hero)
def create_hero(hero: Hero, session: SessionDep) -> Hero:
    # >>> exercise 2
    # TODO(exercise 2): refuse a body that breaks the model's rules with a 422, before the INSERT.
    try:
        return crud.create_hero(session, hero)
    except IntegrityError:
        raise name_taken(session, hero.name) from None
    # <<< exercise 2


@app.get("/heroes/", response_model=list[Hero])
def read_heroes(
    session: SessionDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=0, le=100)] = 100,
    min_age: Annotated[int | None, Query(ge=0)] = None,
    max_age: Annotated[int | None, Query(ge=0)] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
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


@app.get("/heroes/{hero_id}", response_model=Hero)
def read_hero(hero_id: int, session: SessionDep) -> Hero:
    return get_hero_or_404(session, hero_id)


@app.patch("/heroes/{hero_id}", response_model=Hero)
def update_hero(hero_id: int, hero: Hero, session: SessionDep) -> Hero:
    db_hero = get_hero_or_404(session, hero_id)
    # >>> exercise 3
    # TODO(exercise 3): refuse a change that would leave an invalid hero, before the UPDATE.
    # <<< exercise 3
    try:
        return crud.update_hero(session, db_hero, hero)
    except IntegrityError:
        raise name_taken(session, hero.name) from None


@app.delete("/heroes/{hero_id}")
def delete_hero(hero_id: int, session: SessionDep) -> dict[str, bool]:
    crud.delete_hero(session, get_hero_or_404(session, hero_id))
    return {"ok": True}
