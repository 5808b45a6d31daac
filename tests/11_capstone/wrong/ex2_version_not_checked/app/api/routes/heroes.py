"""/api/v1/heroes/: create (one, or a batch), list (with filters), read (with the hero's
team), update, delete. A route that writes takes the request's unit of work."""

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query
from sqlalchemy.exc import IntegrityError

from app.api.deps import (
    BAD_BODY,
    NAME_TAKEN,
    NO_HERO,
    STALE_HERO,  # noqa: F401  (unused until you write exercise 2)
    Id,
    Limit,
    Message,
    Offset,
    SessionDep,
    UnitOfWorkDep,
    check_team_exists,
    get_hero_or_404,
    invalid,  # noqa: F401  (unused until you write exercise 3)
    name_taken,
)
from app.models import (
    INT_MAX,
    NO_NUL,
    Hero,
    HeroBatchResult,
    HeroCreate,
    HeroPublic,
    HeroPublicWithTeam,
    HeroUpdate,
)
from app.repositories import HeroRepository

router = APIRouter(prefix="/heroes", tags=["heroes"])


@router.post("/", response_model=HeroPublic, responses={**BAD_BODY, **NAME_TAKEN})
async def create_hero(hero: HeroCreate, uow: UnitOfWorkDep) -> Hero:
    await check_team_exists(uow.teams, hero.team_id)
    try:
        return await uow.heroes.add(hero)
    except IntegrityError:
        raise name_taken(hero.name) from None


@router.post("/batch", response_model=HeroBatchResult, responses=BAD_BODY)
async def create_heroes(
    heroes: Annotated[list[HeroCreate], Body(max_length=100)], uow: UnitOfWorkDep
) -> HeroBatchResult:
    created: list[Hero] = []
    failed: list[str] = []
    for hero in heroes:
        try:
            # A savepoint per hero: a taken name rolls back this hero only.
            async with uow.session.begin_nested():
                await check_team_exists(uow.teams, hero.team_id)
                created.append(await uow.heroes.add(hero))
        except (IntegrityError, HTTPException):
            failed.append(hero.name)
    return HeroBatchResult.model_validate({"created": created, "failed": failed})


@router.get("/", response_model=list[HeroPublic])
async def read_heroes(
    session: SessionDep,
    offset: Offset = 0,
    limit: Limit = 100,
    min_age: Annotated[int | None, Query(ge=0, le=INT_MAX)] = None,
    max_age: Annotated[int | None, Query(ge=0, le=INT_MAX)] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, pattern=NO_NUL)] = None,
) -> list[Hero]:
    heroes = await HeroRepository(session).list(
        offset=offset,
        limit=limit,
        min_age=min_age,
        max_age=max_age,
        q=q,
    )
    return list(heroes)


@router.get("/{hero_id}", response_model=HeroPublicWithTeam, responses=NO_HERO)
async def read_hero(hero_id: Id, session: SessionDep) -> Hero:
    return await get_hero_or_404(HeroRepository(session), hero_id, with_team=True)


@router.patch(
    "/{hero_id}",
    response_model=HeroPublic,
    responses={
        **BAD_BODY,
        **NO_HERO,
        409: {"model": Message, "description": "The name is taken, or the hero has changed"},
    },
)
async def update_hero(hero_id: Id, hero: HeroUpdate, uow: UnitOfWorkDep) -> Hero:
    db_hero = await get_hero_or_404(uow.heroes, hero_id)
    # >>> exercise 2
    # version_id is in HeroUpdate: SQLAlchemy's version_id_col checks it when it updates.
    # <<< exercise 2
    await check_team_exists(uow.teams, hero.team_id)
    # exclude_unset: only the fields the client sent; version_id is SQLAlchemy's.
    data = hero.model_dump(exclude_unset=True, exclude={"version_id"})
    try:
        return await uow.heroes.update(db_hero, data)
    except IntegrityError:
        raise name_taken(hero.name or "") from None


@router.delete(
    "/{hero_id}",
    responses={
        **NO_HERO,
        409: {"model": Message, "description": "The hero changed while it was deleted"},
    },
)
async def delete_hero(hero_id: Id, uow: UnitOfWorkDep) -> dict[str, bool]:
    await uow.heroes.delete(await get_hero_or_404(uow.heroes, hero_id))
    return {"ok": True}


# >>> exercise 3
@router.post("/{hero_id}/birthday", response_model=HeroPublic, responses=NO_HERO)
async def celebrate_birthday(hero_id: Id, uow: UnitOfWorkDep) -> Hero:
    hero = await get_hero_or_404(uow.heroes, hero_id)
    if hero.age is None:
        raise invalid(("path", "hero_id"), "The hero's age is unknown")
    return await uow.heroes.celebrate_birthday(hero)


# <<< exercise 3
