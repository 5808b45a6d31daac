"""The capstone app: routers, lifespan, the pool-timeout handler and /health.

Run it (from the repository root, after `alembic upgrade head` in the lesson folder):
uvicorn app.main:app --app-dir lessons/11_capstone, then open http://127.0.0.1:8000/docs
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import StaleDataError  # noqa: F401  (unused until you write exercise 2)

from app.api.deps import (
    STALE_HERO,  # noqa: F401  (unused until you write exercise 2)
    SessionDep,
)
from app.api.routes import heroes, teams
from app.core.db import check_schema_is_current, engine

# A child of uvicorn's logger: it prints where uvicorn prints.
logger = logging.getLogger("uvicorn.error.capstone")
# Seconds a client should wait before trying again after a 503.
RETRY_AFTER = "1"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    try:
        await check_schema_is_current()
        yield
    finally:
        await engine.dispose()  # close the pooled connections inside their event loop


app = FastAPI(title="Heroes, lesson 11: the capstone", lifespan=lifespan)
app.include_router(heroes.router)
app.include_router(teams.router)


@app.exception_handler(PoolTimeoutError)
async def pool_timeout_handler(request: Request, exc: PoolTimeoutError) -> JSONResponse:
    # Every connection stayed busy for POOL_TIMEOUT seconds: say so, rather than a bare 500.
    logger.warning("pool timeout on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        status_code=503,
        content={"detail": "The database is busy: no connection came free in time. Retry soon."},
        headers={"Retry-After": RETRY_AFTER},
    )


# >>> exercise 2
# The version check in update_hero answers every stale PATCH: no handler needed here.
# <<< exercise 2


@app.get("/health")
async def health(session: SessionDep) -> dict[str, str]:
    # A real round trip through the pool: 200 only if the database answers.
    await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    return {"status": "ok"}
