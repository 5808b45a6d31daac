"""/api/v1/teams/: create (one, or a batch), list, read (with the team's heroes), update,
delete; a team's heroes, paged; move heroes to another team; merge a team into another."""

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app.api.deps import (
    BAD_BODY,
    CHANGED_MEANWHILE,
    NAME_TAKEN,
    NO_TEAM,
    Id,
    Limit,
    Message,
    Offset,
    SessionDep,
    UnitOfWorkDep,
    check_team_exists,
    get_team_or_404,
    invalid,
    name_taken,
)
from app.models import (
    INT_MAX,
    Hero,
    HeroPublic,
    HeroTransfer,
    Team,
    TeamBatchResult,
    TeamCreate,
    TeamPublic,
    TeamPublicWithHeroes,
    TeamUpdate,
)
from app.repositories import HeroRepository, TeamRepository

router = APIRouter(prefix="/teams", tags=["teams"])


@router.post("/", response_model=TeamPublic, responses={**BAD_BODY, **NAME_TAKEN})
async def create_team(team: TeamCreate, uow: UnitOfWorkDep) -> Team:
    try:
        return await uow.teams.add(team)
    except IntegrityError:
        raise name_taken(team.name, "team") from None


@router.post("/batch", response_model=TeamBatchResult, responses=BAD_BODY)
async def create_teams(
    teams: Annotated[list[TeamCreate], Body(max_length=100)], uow: UnitOfWorkDep
) -> TeamBatchResult:
    created: list[Team] = []
    failed: list[str] = []
    for team in teams:
        try:
            async with uow.session.begin_nested():
                created.append(await uow.teams.add(team))
        except IntegrityError:
            failed.append(team.name)
    return TeamBatchResult.model_validate({"created": created, "failed": failed})


@router.get("/", response_model=list[TeamPublic])
async def read_teams(session: SessionDep, offset: Offset = 0, limit: Limit = 100) -> list[Team]:
    return list(await TeamRepository(session).list(offset=offset, limit=limit))


@router.get("/{team_id}", response_model=TeamPublicWithHeroes, responses=NO_TEAM)
async def read_team(team_id: Id, session: SessionDep) -> Team:
    return await get_team_or_404(TeamRepository(session), team_id, with_heroes=True)


@router.patch(
    "/{team_id}",
    response_model=TeamPublic,
    responses={
        **BAD_BODY,
        **NO_TEAM,
        409: {"model": Message, "description": "The name is taken, or the team was deleted"},
    },
)
async def update_team(team_id: Id, team: TeamUpdate, uow: UnitOfWorkDep) -> Team:
    db_team = await get_team_or_404(uow.teams, team_id)
    try:
        return await uow.teams.update(db_team, team.model_dump(exclude_unset=True))
    except IntegrityError:
        raise name_taken(team.name or "", "team") from None
    except StaleDataError:
        # Another request deleted the team after this one read it: the UPDATE matched none.
        raise HTTPException(status_code=409, detail=CHANGED_MEANWHILE) from None


@router.delete(
    "/{team_id}",
    # No 409: the database sets the heroes' team_id (ON DELETE SET NULL), so no versioned
    # hero UPDATE is sent that another request's change could make match no row.
    responses=NO_TEAM,
)
async def delete_team(team_id: Id, uow: UnitOfWorkDep) -> dict[str, bool]:
    await uow.teams.delete(await get_team_or_404(uow.teams, team_id))
    return {"ok": True}


@router.post(
    "/{team_id}/transfer",
    response_model=list[HeroPublic],
    responses={**BAD_BODY, **NO_TEAM},
)
async def transfer_heroes(team_id: Id, transfer: HeroTransfer, uow: UnitOfWorkDep) -> list[Hero]:
    # Several UPDATEs, one transaction: a hero that cannot move undoes the moves before it.
    await get_team_or_404(uow.teams, team_id)
    await check_team_exists(uow.teams, transfer.to_team_id, "to_team_id")
    # Every hero locked in one statement, in id order: a transfer of the same heroes
    # listed the other way round waits for ours instead of deadlocking with it.
    heroes = {hero.id: hero for hero in await uow.heroes.lock(transfer.hero_ids)}
    moved = []
    for position, hero_id in enumerate(transfer.hero_ids):
        hero = heroes.get(hero_id)
        if hero is None or hero.team_id != team_id:
            where = ("body", "hero_ids", position)
            raise invalid(where, f"Hero {hero_id} is not in team {team_id}")
        moved.append(await uow.heroes.update(hero, {"team_id": transfer.to_team_id}))
    return moved


@router.post(
    "/{team_id}/merge",
    response_model=TeamPublicWithHeroes,
    responses={
        **NO_TEAM,
        409: {"model": Message, "description": "One of its heroes changed meanwhile"},
    },
)
async def merge_team(
    team_id: Id, into: Annotated[int, Query(ge=1, le=INT_MAX)], uow: UnitOfWorkDep
) -> Team:
    team = await get_team_or_404(uow.teams, team_id)
    target = await get_team_or_404(uow.teams, into)
    if target.id == team.id:
        raise invalid(("query", "into"), "A team cannot merge into itself")
    for hero in await uow.heroes.in_team(team_id, limit=INT_MAX):
        await uow.heroes.update(hero, {"team_id": into})
    await uow.teams.delete(team)
    # The answer shows the target's heroes, the moved ones included: load them now, awaited.
    await target.awaitable_attrs.heroes
    return target


@router.get("/{team_id}/heroes", response_model=list[HeroPublic], responses=NO_TEAM)
async def read_team_heroes(
    team_id: Id, session: SessionDep, offset: Offset = 0, limit: Limit = 100
) -> list[Hero]:
    # Two statements whatever the page: the team (an unknown one is a 404), then its heroes.
    await get_team_or_404(TeamRepository(session), team_id)
    heroes = await HeroRepository(session).in_team(team_id, offset=offset, limit=limit)
    return list(heroes)
