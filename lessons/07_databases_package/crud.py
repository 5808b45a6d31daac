"""Reads and writes with encode/databases: Core queries for heroes, raw SQL for teams.

Each function takes the `Database` and returns Pydantic models, built from `row._mapping`.
Outside `db.transaction()` every statement commits on its own.
"""

from databases import Database
from sqlalchemy import delete, insert, select, text, update

from models import (
    HeroCreate,
    HeroPublic,
    HeroPublicWithTeam,
    HeroUpdate,
    TeamCreate,
    TeamPublic,
    TeamPublicWithHeroes,
    TeamUpdate,
    hero_table,
    team_table,
)

# What a hero response shows: secret_name is stored, but never selected for output.
HERO_COLUMNS = (hero_table.c.id, hero_table.c.name, hero_table.c.age, hero_table.c.team_id)
# Raw SQL carries no column types; .columns() declares them, so `active` is a bool (M3).
TEAM_COLUMNS = (team_table.c.id, team_table.c.name, team_table.c.headquarters, team_table.c.active)


async def get_hero(
    db: Database, hero_id: int, with_team: bool = False
) -> HeroPublicWithTeam | None:
    row = await db.fetch_one(select(*HERO_COLUMNS).where(hero_table.c.id == hero_id))
    if row is None:
        return None
    # row._mapping is the row as column name -> value; dict() makes it a dict Pydantic takes (M4).
    hero = HeroPublicWithTeam.model_validate(dict(row._mapping))
    # with_team: one more SELECT, for a response that shows the team.
    if with_team and hero.team_id is not None:
        hero.team = await get_team(db, hero.team_id)
    return hero


async def get_heroes(
    db: Database,
    offset: int = 0,
    limit: int = 100,
    min_age: int | None = None,
    max_age: int | None = None,
    q: str | None = None,
) -> list[HeroPublic]:
    statement = select(*HERO_COLUMNS)
    if min_age is not None:
        statement = statement.where(hero_table.c.age >= min_age)
    if max_age is not None:
        statement = statement.where(hero_table.c.age <= max_age)
    if q is not None:
        # Not icontains(): its SQL text holds a literal %, which databases breaks on with
        # SQLite (M6). The wildcards go in the value; "/" escapes a % or _ typed by the client.
        pattern = "%" + q.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
        statement = statement.where(hero_table.c.name.ilike(pattern, escape="/"))
    rows = await db.fetch_all(statement.order_by(hero_table.c.id).offset(offset).limit(limit))
    return [HeroPublic.model_validate(dict(row._mapping)) for row in rows]


async def create_hero(db: Database, hero: HeroCreate) -> HeroPublic:
    # RETURNING: the new row, with the id the database generated, from the INSERT itself.
    statement = insert(hero_table).values(hero.model_dump()).returning(*HERO_COLUMNS)
    (row,) = await db.fetch_all(statement)
    return HeroPublic.model_validate(dict(row._mapping))


async def update_hero(db: Database, db_hero: HeroPublic, hero: HeroUpdate) -> HeroPublic | None:
    # exclude_unset: only the fields the client sent; the rest keep their values.
    changes = hero.model_dump(exclude_unset=True)
    if not changes:
        return db_hero  # nothing to SET
    statement = update(hero_table).where(hero_table.c.id == db_hero.id).values(changes)
    rows = await db.fetch_all(statement.returning(*HERO_COLUMNS))
    # No row: another request deleted the hero after the route read it.
    return HeroPublic.model_validate(dict(rows[0]._mapping)) if rows else None


async def delete_hero(db: Database, hero: HeroPublic) -> bool:
    # RETURNING says whether a row was deleted: none, if another request deleted it first.
    statement = delete(hero_table).where(hero_table.c.id == hero.id).returning(hero_table.c.id)
    return bool(await db.fetch_all(statement))


async def get_team(
    db: Database, team_id: int, with_heroes: bool = False
) -> TeamPublicWithHeroes | None:
    # Raw SQL with a named bind parameter: the value travels apart from the SQL text (M1).
    statement = text("SELECT id, name, headquarters, active FROM team WHERE id = :team_id")
    row = await db.fetch_one(statement.bindparams(team_id=team_id).columns(*TEAM_COLUMNS))
    if row is None:
        return None
    team = TeamPublicWithHeroes.model_validate(dict(row._mapping))
    # with_heroes: one more SELECT, for a response that shows the heroes.
    if with_heroes:
        team.heroes = (await get_heroes_of_teams(db, [team.id]))[team.id]
    return team


async def get_teams(db: Database, offset: int = 0, limit: int = 100) -> list[TeamPublic]:
    statement = text(
        "SELECT id, name, headquarters, active FROM team ORDER BY id LIMIT :limit OFFSET :offset"
    )
    statement = statement.bindparams(limit=limit, offset=offset)
    rows = await db.fetch_all(statement.columns(*TEAM_COLUMNS))
    return [TeamPublic.model_validate(dict(row._mapping)) for row in rows]


async def create_team(db: Database, team: TeamCreate) -> TeamPublic:
    statement = text(
        "INSERT INTO team (name, headquarters, active) VALUES (:name, :headquarters, :active) "
        "RETURNING id, name, headquarters, active"
    )
    (row,) = await db.fetch_all(statement.bindparams(**team.model_dump()).columns(*TEAM_COLUMNS))
    return TeamPublic.model_validate(dict(row._mapping))


async def update_team(db: Database, db_team: TeamPublic, team: TeamUpdate) -> TeamPublic | None:
    # Core, even for teams: the columns to SET depend on what the client sent, and Core
    # composes that without pasting anything into SQL text.
    changes = team.model_dump(exclude_unset=True)
    if not changes:
        return db_team  # nothing to SET
    statement = update(team_table).where(team_table.c.id == db_team.id).values(changes)
    rows = await db.fetch_all(statement.returning(*TEAM_COLUMNS))
    # No row: another request deleted the team after the route read it.
    return TeamPublic.model_validate(dict(rows[0]._mapping)) if rows else None


async def delete_team(db: Database, team: TeamPublic) -> bool:
    # The UPDATE does ON DELETE SET NULL's work by hand: SQLite enforces no foreign key on
    # the connections databases opens. Two statements, one transaction: if the DELETE
    # fails, the UPDATE is undone with it.
    async with db.transaction():
        query = "UPDATE hero SET team_id = NULL WHERE team_id = :team_id"
        await db.execute(query, {"team_id": team.id})
        query = "DELETE FROM team WHERE id = :team_id RETURNING id"
        return bool(await db.fetch_all(query, {"team_id": team.id}))


async def get_team_heroes(
    db: Database, team: TeamPublic, offset: int = 0, limit: int = 100
) -> list[HeroPublic]:
    statement = select(*HERO_COLUMNS).where(hero_table.c.team_id == team.id)
    rows = await db.fetch_all(statement.order_by(hero_table.c.id).offset(offset).limit(limit))
    return [HeroPublic.model_validate(dict(row._mapping)) for row in rows]


async def get_heroes_of_teams(db: Database, team_ids: list[int]) -> dict[int, list[HeroPublic]]:
    # The heroes of many teams in one SELECT ... WHERE team_id IN (...): lesson 06's
    # selectinload, written by hand.
    heroes: dict[int, list[HeroPublic]] = {team_id: [] for team_id in team_ids}
    statement = select(*HERO_COLUMNS).where(hero_table.c.team_id.in_(team_ids))
    for row in await db.fetch_all(statement.order_by(hero_table.c.id)):
        heroes[row._mapping["team_id"]].append(HeroPublic.model_validate(dict(row._mapping)))
    return heroes


async def get_rosters(
    db: Database, offset: int = 0, limit: int = 100
) -> list[TeamPublicWithHeroes]:
    teams = await get_teams(db, offset=offset, limit=limit)
    heroes = await get_heroes_of_teams(db, [team.id for team in teams])
    return [TeamPublicWithHeroes(**team.model_dump(), heroes=heroes[team.id]) for team in teams]


async def find_heroes(db: Database, name: str) -> list[HeroPublic]:
    # The bound twin of find_heroes_unsafe: the name is sent as a value, never as SQL.
    query = "SELECT id, name, age, team_id FROM hero WHERE name = :name ORDER BY id"
    rows = await db.fetch_all(query, {"name": name})
    return [HeroPublic.model_validate(dict(row._mapping)) for row in rows]


# Mistake M1, kept only so its test can prove it: no route may call this. The name is
# pasted into the SQL text, so a name such as  ' OR '1'='1  rewrites the query itself.
async def find_heroes_unsafe(db: Database, name: str) -> list[HeroPublic]:
    query = f"SELECT id, name, age, team_id FROM hero WHERE name = '{name}' ORDER BY id"
    rows = await db.fetch_all(query)
    return [HeroPublic.model_validate(dict(row._mapping)) for row in rows]


# >>> exercise 1
# TODO(exercise 1): create_heroes(db, heroes): create_hero for each, in one db.transaction().
# <<< exercise 1
