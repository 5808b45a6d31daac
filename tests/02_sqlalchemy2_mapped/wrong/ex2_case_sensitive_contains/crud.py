"""Reads and writes with `select()`, `Session.scalars()` and `Session.get()`."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Hero
from schemas import HeroCreate, HeroUpdate


def get_hero(session: Session, hero_id: int) -> Hero | None:
    return session.get(Hero, hero_id)


def get_heroes(
    session: Session,
    offset: int = 0,
    limit: int = 100,
    # >>> exercise 1
    min_age: int | None = None,
    max_age: int | None = None,
    # <<< exercise 1
    # >>> exercise 2
    q: str | None = None,
    # <<< exercise 2
) -> Sequence[Hero]:
    statement = select(Hero)
    # >>> exercise 1
    if min_age is not None:
        statement = statement.where(Hero.age >= min_age)
    if max_age is not None:
        statement = statement.where(Hero.age <= max_age)
    # <<< exercise 1
    # >>> exercise 2
    if q is not None:
        statement = statement.where(Hero.name.contains(q, autoescape=True))
    # <<< exercise 2
    return session.scalars(statement.order_by(Hero.id).offset(offset).limit(limit)).all()


def create_hero(session: Session, hero_create: HeroCreate) -> Hero:
    hero = Hero(**hero_create.model_dump())
    session.add(hero)
    session.commit()  # the INSERT gave hero its id; expire_on_commit=False keeps the rest
    return hero


def update_hero(session: Session, hero: Hero, hero_update: HeroUpdate) -> Hero:
    # exclude_unset: only the fields the client sent; the rest keep their values.
    for key, value in hero_update.model_dump(exclude_unset=True).items():
        setattr(hero, key, value)
    session.commit()
    return hero


def delete_hero(session: Session, hero: Hero) -> None:
    session.delete(hero)
    session.commit()
