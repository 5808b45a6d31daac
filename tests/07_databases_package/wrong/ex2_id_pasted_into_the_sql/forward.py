"""The way forward: crud.py's queries on SQLAlchemy's own AsyncConnection, without databases.

encode/databases has had no release since 0.9.0 (March 2024). SQLAlchemy's asyncio
extension runs the same Core statements and the same raw SQL, on the same drivers. No
route uses this module; the tests run it beside crud.py and compare the answers:

    async with engine.connect() as connection:  # reads
        heroes = await get_heroes(connection, limit=10)
    async with engine.begin() as connection:  # a transaction: committed when the block ends
        await delete_team(connection, team)
"""

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from crud import HERO_COLUMNS, TEAM_COLUMNS
from database import SQLALCHEMY_DATABASE_URL
from models import HeroCreate, HeroPublic, TeamPublic, hero_table

# One pooled engine for the whole app; `await engine.dispose()` closes it at shutdown.
engine = create_async_engine(SQLALCHEMY_DATABASE_URL)


async def get_heroes(
    connection: AsyncConnection,
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
        statement = statement.where(hero_table.c.name.icontains(q, autoescape=True))
    statement = statement.order_by(hero_table.c.id).offset(offset).limit(limit)
    result = await connection.execute(statement)
    # SQLAlchemy's row._mapping is a real Mapping: Pydantic takes it as it is (compare M4).
    return [HeroPublic.model_validate(row._mapping) for row in result]


async def create_hero(connection: AsyncConnection, hero: HeroCreate) -> HeroPublic:
    statement = insert(hero_table).values(hero.model_dump()).returning(*HERO_COLUMNS)
    row = (await connection.execute(statement)).one()
    return HeroPublic.model_validate(row._mapping)


async def get_teams(
    connection: AsyncConnection, offset: int = 0, limit: int = 100
) -> list[TeamPublic]:
    statement = text(
        "SELECT id, name, headquarters, active FROM team ORDER BY id LIMIT :limit OFFSET :offset"
    )
    # The values travel beside the statement, bound by name, as with databases.
    params = {"limit": limit, "offset": offset}
    result = await connection.execute(statement.columns(*TEAM_COLUMNS), params)
    return [TeamPublic.model_validate(row._mapping) for row in result]


async def delete_team(connection: AsyncConnection, team: TeamPublic) -> None:
    # Call it inside `async with engine.begin()`: that block is the transaction, committed
    # at its end and rolled back if anything in it raises, like `db.transaction()`.
    query = "UPDATE hero SET team_id = NULL WHERE team_id = :team_id"
    await connection.execute(text(query), {"team_id": team.id})
    await connection.execute(text("DELETE FROM team WHERE id = :team_id"), {"team_id": team.id})


# >>> exercise 2
async def get_team(connection: AsyncConnection, team_id: int) -> TeamPublic | None:
    # team_id is an int, so pasting it looks harmless
    statement = text(f"SELECT id, name, headquarters, active FROM team WHERE id = {team_id}")
    result = await connection.execute(statement.columns(*TEAM_COLUMNS))
    row = result.one_or_none()
    return None if row is None else TeamPublic.model_validate(row._mapping)


# <<< exercise 2
