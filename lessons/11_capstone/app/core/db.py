"""The async engine, its pool sized from the settings, the session factory, and the
migrations driven from inside the event loop (upgrade, and the startup check).
"""

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import ALEMBIC_INI, settings

engine = create_async_engine(
    settings.DATABASE_URL,
    pool_size=settings.POOL_SIZE,
    max_overflow=settings.MAX_OVERFLOW,
    pool_timeout=settings.POOL_TIMEOUT,
    pool_pre_ping=settings.POOL_PRE_PING,
    pool_recycle=settings.POOL_RECYCLE,
)
# expire_on_commit=False: objects keep their loaded values after `await session.commit()`,
# so building the response never needs a lazy load outside an await (lesson 06).
SessionLocal = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def alembic_config(connection: Connection | None = None) -> Config:
    """The lesson's alembic.ini; with a connection, env.py runs the migrations on it."""
    config = Config(ALEMBIC_INI)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


async def upgrade(revision: str = "head") -> None:
    """`alembic upgrade` from inside a running event loop: on our connection, via run_sync.

    command.upgrade() alone would reach env.py's asyncio.run() and fail (mistake M1).
    """
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)


async def check_schema_is_current() -> None:
    """Refuse to start on a database the migrations have not brought up to date (lesson 09)."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    async with engine.connect() as connection:
        current = await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_heads()
        )
    if set(current) != set(heads):
        have = ", ".join(current) or "none (an empty database)"
        raise RuntimeError(
            f"The database schema is at revision {have}, but this code needs "
            f"{', '.join(heads)}: run `alembic upgrade head` in {ALEMBIC_INI.parent} first"
        )
