"""Reads and writes, with the legacy `Session.query()` API."""

from sqlalchemy.orm import Session

import models
import schemas


def get_hero(db: Session, hero_id: int) -> models.Hero | None:
    if not 1 <= hero_id <= models.INT_MAX:
        return None  # no generated id is out of this range, and the database refuses huge ints
    return db.query(models.Hero).filter(models.Hero.id == hero_id).first()


def get_heroes(
    db: Session,
    offset: int = 0,
    limit: int = 100,
    # >>> exercise 1
    name: str | None = None,
    # <<< exercise 1
) -> list[models.Hero]:
    query = db.query(models.Hero)
    # >>> exercise 1
    if name is not None:
        query = query.filter(models.Hero.name == name)
    # <<< exercise 1
    return query.order_by(models.Hero.id).offset(offset).limit(limit).all()


def create_hero(db: Session, hero: schemas.HeroCreate) -> models.Hero:
    db_hero = models.Hero(name=hero.name, secret_name=hero.secret_name, age=hero.age)
    db.add(db_hero)
    db.commit()
    db.refresh(db_hero)
    return db_hero


def update_hero(db: Session, db_hero: models.Hero, hero: schemas.HeroUpdate) -> models.Hero:
    for key, value in hero.dict(exclude_unset=True).items():
        setattr(db_hero, key, value)
    db.commit()
    db.refresh(db_hero)
    return db_hero


def delete_hero(db: Session, db_hero: models.Hero) -> None:
    db.delete(db_hero)
    db.commit()


# >>> exercise 3
def count_heroes(db: Session, name: str | None = None) -> int:
    return db.query(models.Hero).count()


# <<< exercise 3
