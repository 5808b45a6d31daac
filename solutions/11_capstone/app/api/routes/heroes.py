"""/heroes/: create, list, read (with the hero's team), update, delete."""

from fastapi import APIRouter, HTTPException
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from app import crud
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
    invalid,
    name_taken,
)
from app.models import Hero, HeroCreate, HeroPublic, HeroPublicWithTeam, HeroUpdate

router = APIRouter(prefix="/heroes", tags=["heroes"])


async def get_hero_or_404(session: AsyncSession, hero_id: int, with_team: bool = False) -> Hero:
    hero = await crud.get_hero(session=session, hero_id=hero_id, with_team=with_team)
    if hero is None:
        raise HTTPException(status_code=404, detail="Hero not found")
    return hero


async def check_team_exists(session: AsyncSession, team_id: int | None) -> None:
    # SQLite does not enforce foreign keys by default: check, so both databases agree.
    if team_id is not None and await crud.get_team(session=session, team_id=team_id) is None:
        raise invalid(("body", "team_id"), f"Team {team_id} does not exist")


@router.post("/", response_model=HeroPublic, responses={**BAD_BODY, **NAME_TAKEN})
async def create_hero(hero: HeroCreate, session: SessionDep) -> Hero:
    await check_team_exists(session, hero.team_id)
    try:
        return await crud.create_hero(session=session, hero=hero)
    except IntegrityError:
        raise await name_taken(session, hero.name, "hero") from None


@router.get("/", response_model=list[HeroPublic])
async def read_heroes(session: SessionDep, offset: Offset = 0, limit: Limit = 100) -> list[Hero]:
    return list(await crud.get_heroes(session=session, offset=offset, limit=limit))


@router.get("/{hero_id}", response_model=HeroPublicWithTeam, responses=NO_HERO)
async def read_hero(hero_id: Id, session: SessionDep) -> Hero:
    return await get_hero_or_404(session, hero_id, with_team=True)


@router.patch(
    "/{hero_id}",
    response_model=HeroPublic,
    responses={
        **BAD_BODY,
        **NO_HERO,
        409: {"model": Message, "description": "The name is taken, or the hero has changed"},
    },
)
async def update_hero(hero_id: Id, hero: HeroUpdate, session: SessionDep) -> Hero:
    db_hero = await get_hero_or_404(session, hero_id)
    # >>> exercise 2
    # Changed since the client read it: refuse before sending any UPDATE. A change that
    # commits between this check and our UPDATE is caught by version_id_col instead.
    if hero.version_id is not None and hero.version_id != db_hero.version_id:
        raise HTTPException(status_code=409, detail=STALE_HERO)
    # <<< exercise 2
    await check_team_exists(session, hero.team_id)
    try:
        return await crud.update_hero(session=session, db_hero=db_hero, hero=hero)
    except IntegrityError:
        raise await name_taken(session, hero.name or "", "hero") from None


@router.delete(
    "/{hero_id}",
    responses={
        **NO_HERO,
        409: {"model": Message, "description": "The hero changed while it was deleted"},
    },
)
async def delete_hero(hero_id: Id, session: SessionDep) -> dict[str, bool]:
    await crud.delete_hero(session=session, hero=await get_hero_or_404(session, hero_id))
    return {"ok": True}


# >>> exercise 3
@router.post("/{hero_id}/birthday", response_model=HeroPublic, responses=NO_HERO)
async def celebrate_birthday(hero_id: Id, session: SessionDep) -> Hero:
    hero = await get_hero_or_404(session, hero_id)
    if hero.age is None:
        raise invalid(("path", "hero_id"), "The hero's age is unknown")
    return await crud.celebrate_birthday(session=session, hero=hero)


# <<< exercise 3
