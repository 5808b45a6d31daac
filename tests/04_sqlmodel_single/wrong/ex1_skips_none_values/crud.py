"""Reads and writes with SQLModel's `Session`, `select()` and `Session.exec()`."""

from collections.abc import Sequence

from sqlmodel import Session, col, select

from models import Hero


def get_hero(session: Session, hero_id: int) -> Hero | None:
    return session.get(Hero, hero_id)


def get_heroes(
    session: Session,
    offset: int = 0,
    limit: int = 100,
    min_age: int | None = None,
    max_age: int | None = None,
    q: str | None = None,
) -> Sequence[Hero]:
    statement = select(Hero)
    if min_age is not None:
        statement = statement.where(col(Hero.age) >= min_age)
    if max_age is not None:
        statement = statement.where(col(Hero.age) <= max_age)
    if q is not None:
        statement = statement.where(col(Hero.name).icontains(q, autoescape=True))
    return session.exec(statement.order_by(col(Hero.id)).offset(offset).limit(limit)).all()


def create_hero(session: Session, hero: Hero) -> Hero:
    # The body already is a table object: add it as it came (its id included, see M2).
    session.add(hero)
    session.commit()
    return hero


def update_hero(session: Session, db_hero: Hero, hero: Hero) -> Hero:
    # >>> exercise 1
    # Only what the client sent: a value of None means the client did not send it.
    for key, value in hero.model_dump(exclude={"id"}).items():
        if value is not None:
            setattr(db_hero, key, value)
    # <<< exercise 1
    session.commit()
    return db_hero


def delete_hero(session: Session, hero: Hero) -> None:
    session.delete(hero)
    session.commit()
