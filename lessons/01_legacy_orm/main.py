"""The heroes API in the legacy style: `@app.on_event`, `Depends(get_db)`, `response_model`.

Run it: uvicorn main:app --reload (from this folder), then open http://127.0.0.1:8000/docs
"""

from fastapi import Depends, FastAPI, HTTPException, Query
from sqlalchemy.orm import Session

import crud
import models
import schemas
from database import SessionLocal, engine

app = FastAPI(title="Heroes, lesson 01: the legacy ORM")


@app.on_event("startup")
def create_tables() -> None:
    models.Base.metadata.create_all(bind=engine)


# >>> exercise 2
# TODO(exercise 2): add what runs when the app stops: close the connections the engine's
# pool still holds, with the same legacy event API as create_tables above.
# <<< exercise 2


def get_db():
    # One session per request, closed (and its connection given back) when the request ends.
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


@app.post("/heroes/", response_model=schemas.HeroRead)
def create_hero(hero: schemas.HeroCreate, db: Session = Depends(get_db)):
    return crud.create_hero(db, hero)


@app.get("/heroes/", response_model=list[schemas.HeroRead])
def read_heroes(
    offset: int = Query(default=0, ge=0, le=models.INT_MAX),
    limit: int = Query(default=100, ge=0, le=100),
    # >>> exercise 1
    # TODO(exercise 1): add an optional `name` query parameter (no NUL character).
    # <<< exercise 1
    db: Session = Depends(get_db),
):
    # >>> exercise 1
    # TODO(exercise 1): pass the name on to crud.get_heroes.
    return crud.get_heroes(db, offset=offset, limit=limit)
    # <<< exercise 1


# >>> exercise 3
# TODO(exercise 3): GET /heroes/count answers {"count": N}, the number of heroes (with
# ?name=, of heroes with exactly that name). Choose how to count: see the README.
# <<< exercise 3


@app.get("/heroes/{hero_id}", response_model=schemas.HeroRead)
def read_hero(hero_id: int, db: Session = Depends(get_db)):
    db_hero = crud.get_hero(db, hero_id)
    if db_hero is None:
        raise HTTPException(status_code=404, detail="Hero not found")
    return db_hero


@app.patch("/heroes/{hero_id}", response_model=schemas.HeroRead)
def update_hero(hero_id: int, hero: schemas.HeroUpdate, db: Session = Depends(get_db)):
    db_hero = crud.get_hero(db, hero_id)
    if db_hero is None:
        raise HTTPException(status_code=404, detail="Hero not found")
    return crud.update_hero(db, db_hero, hero)


@app.delete("/heroes/{hero_id}")
def delete_hero(hero_id: int, db: Session = Depends(get_db)):
    db_hero = crud.get_hero(db, hero_id)
    if db_hero is None:
        raise HTTPException(status_code=404, detail="Hero not found")
    crud.delete_hero(db, db_hero)
    return {"ok": True}
