"""The pre-start step: wait for the database, then migrate it to head. Run it before the app:

    python -m app.prestart        (from the lesson folder; `nox -s serve -- 11` runs it)

A database that starts beside the app (a container, a managed server after a restart)
may not answer yet when the app does. This step tries it up to PRESTART_ATTEMPTS times,
PRESTART_INTERVAL seconds apart, and gives up with a message saying what it tried and
the last error; once it answers, it runs `alembic upgrade head` on it. The app itself
still only checks the schema (lesson 09): it never migrates.
"""

import asyncio
import logging

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from app.core.config import settings
from app.core.db import engine, upgrade

logger = logging.getLogger("app.prestart")


class DatabaseUnavailable(RuntimeError):
    """The database did not answer within the pre-start step's attempts."""


async def wait_for_database(attempts: int, interval: float) -> int:
    """Try `SELECT 1` until it works, at most `attempts` times: the attempt that worked."""
    error: Exception | None = None
    for attempt in range(1, attempts + 1):
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (DBAPIError, OSError) as exc:
            # OSError: asyncpg raises the socket's own error when nothing listens on the port.
            error = exc
            logger.warning("database not ready (attempt %d of %d): %s", attempt, attempts, exc)
            if attempt < attempts:
                await asyncio.sleep(interval)
            continue
        logger.info("database ready (attempt %d of %d)", attempt, attempts)
        return attempt
    where = make_url(settings.DATABASE_URL).render_as_string(hide_password=True)
    raise DatabaseUnavailable(
        f"The database at {where} did not answer after {attempts} attempts, "
        f"{interval:g} s apart. Last error: {error}"
    )


async def prestart() -> None:
    try:
        await wait_for_database(settings.PRESTART_ATTEMPTS, settings.PRESTART_INTERVAL)
        await upgrade("head")
    finally:
        await engine.dispose()


def main() -> None:
    # The command line's logging: alembic's "Running upgrade ..." lines and ours.
    logging.basicConfig(level=logging.INFO, format="%(levelname)-5.5s [%(name)s] %(message)s")
    try:
        asyncio.run(prestart())
    except DatabaseUnavailable as exc:
        raise SystemExit(f"prestart: {exc}") from None


if __name__ == "__main__":
    main()
