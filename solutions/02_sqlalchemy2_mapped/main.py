"""The heroes API in SQLAlchemy 2.0 style: lifespan, `SessionDep`, 409 on a duplicate name.

Run it: uvicorn main:app --reload (from this folder), then open http://127.0.0.1:8000/docs
"""

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query

# >>> exercise 3
from sqlalchemy.exc import IntegrityError

# <<< exercise 3
from sqlalchemy.orm import Session

import crud
from database import Base, SessionLocal, engine
from models import INT_MAX, Hero
from schemas import HeroCreate, HeroPublic, HeroUpdate


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    Base.metadata.create_all(engine)
    yield
    engine.dispose()


app = FastAPI(title="Heroes, lesson 02: SQLAlchemy 2.0 style", lifespan=lifespan)


def get_session() -> Iterator[Session]:
    # One session per request, closed (and its connection given back) when the request ends.
    with SessionLocal() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_hero_or_404(session: Session, hero_id: int) -> Hero:
    hero = crud.get_hero(session, hero_id)
    if hero is None:
        raise HTTPException(status_code=404, detail="Hero not found")
    return hero


# >>> exercise 3
def name_taken(session: Session, name: str) -> HTTPException:
    session.rollback()  # the failed flush left the transaction unusable
    return HTTPException(status_code=409, detail=f"A hero named {name!r} already exists")


# <<< exercise 3


@app.post("/heroes/", response_model=HeroPublic)
def create_hero(hero: HeroCreate, session: SessionDep) -> Hero:
    # >>> exercise 3
    try:
        return crud.create_hero(session, hero)
    except IntegrityError:
        raise name_taken(session, hero.name) from None
    # <<< exercise 3


@app.get("/heroes/", response_model=list[HeroPublic])
def read_heroes(
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=0, le=100)] = 100,
    # >>> exercise 1
    min_age: Annotated[int | None, Query(ge=0, le=INT_MAX)] = None,
    max_age: Annotated[int | None, Query(ge=0, le=INT_MAX)] = None,
    # <<< exercise 1
    # >>> exercise 2
    q: Annotated[str | None, Query(min_length=1, max_length=100, pattern=r"^[^\x00]*$")] = None,
    # <<< exercise 2
) -> list[Hero]:
    heroes = crud.get_heroes(
        session,
        offset=offset,
        limit=limit,
        # >>> exercise 1
        min_age=min_age,
        max_age=max_age,
        # <<< exercise 1
        # >>> exercise 2
        q=q,
        # <<< exercise 2
    )
    return list(heroes)


@app.get("/heroes/{hero_id}", response_model=HeroPublic)
def read_hero(hero_id: int, session: SessionDep) -> Hero:
    return get_hero_or_404(session, hero_id)


@app.patch("/heroes/{hero_id}", response_model=HeroPublic)
def update_hero(hero_id: int, hero: HeroUpdate, session: SessionDep) -> Hero:
    db_hero = get_hero_or_404(session, hero_id)
    # >>> exercise 3
    try:
        return crud.update_hero(session, db_hero, hero)
    except IntegrityError:
        raise name_taken(session, hero.name or "") from None
    # <<< exercise 3


@app.delete("/heroes/{hero_id}")
def delete_hero(hero_id: int, session: SessionDep) -> dict[str, bool]:
    crud.delete_hero(session, get_hero_or_404(session, hero_id))
    return {"ok": True}
