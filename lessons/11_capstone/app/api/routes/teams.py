"""/teams/: create, list (each team with its heroes), read, update, delete."""

from fastapi import APIRouter, HTTPException
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from app import crud
from app.api.deps import (
    BAD_BODY,
    NAME_TAKEN,
    NO_TEAM,
    Id,
    Limit,
    Message,
    Offset,
    SessionDep,
    name_taken,
)
from app.models import (
    Hero,
    HeroPublic,
    Team,
    TeamCreate,
    TeamPublic,
    TeamPublicWithHeroes,
    TeamUpdate,
)

router = APIRouter(prefix="/teams", tags=["teams"])


async def get_team_or_404(session: AsyncSession, team_id: int, with_heroes: bool = False) -> Team:
    team = await crud.get_team(session=session, team_id=team_id, with_heroes=with_heroes)
    if team is None:
        raise HTTPException(status_code=404, detail="Team not found")
    return team


@router.post("/", response_model=TeamPublic, responses={**BAD_BODY, **NAME_TAKEN})
async def create_team(team: TeamCreate, session: SessionDep) -> Team:
    try:
        return await crud.create_team(session=session, team=team)
    except IntegrityError:
        raise await name_taken(session, team.name, "team") from None


@router.get("/", response_model=list[TeamPublicWithHeroes])
async def read_teams(session: SessionDep, offset: Offset = 0, limit: Limit = 100) -> list[Team]:
    return list(await crud.get_teams(session=session, offset=offset, limit=limit))


@router.get("/{team_id}", response_model=TeamPublicWithHeroes, responses=NO_TEAM)
async def read_team(team_id: Id, session: SessionDep) -> Team:
    return await get_team_or_404(session, team_id, with_heroes=True)


@router.patch(
    "/{team_id}", response_model=TeamPublic, responses={**BAD_BODY, **NO_TEAM, **NAME_TAKEN}
)
async def update_team(team_id: Id, team: TeamUpdate, session: SessionDep) -> Team:
    db_team = await get_team_or_404(session, team_id)
    try:
        return await crud.update_team(session=session, db_team=db_team, team=team)
    except IntegrityError:
        raise await name_taken(session, team.name or "", "team") from None


@router.delete(
    "/{team_id}",
    responses={
        **NO_TEAM,
        409: {"model": Message, "description": "One of its heroes changed meanwhile"},
    },
)
async def delete_team(team_id: Id, session: SessionDep) -> dict[str, bool]:
    await crud.delete_team(session=session, team=await get_team_or_404(session, team_id))
    return {"ok": True}


@router.get("/{team_id}/heroes", response_model=list[HeroPublic], responses=NO_TEAM)
async def read_team_heroes(
    team_id: Id, session: SessionDep, offset: Offset = 0, limit: Limit = 100
) -> list[Hero]:
    # Two statements whatever the page: the team (an unknown one is a 404), then its heroes.
    await get_team_or_404(session, team_id)
    heroes = await crud.get_team_heroes(
        session=session, team_id=team_id, offset=offset, limit=limit
    )
    return list(heroes)
