"""The capstone app: routers, lifespan, the error handlers and /health.

Run it (from the repository root, after `alembic upgrade head` in the lesson folder):
uvicorn app.main:app --app-dir lessons/11_capstone, then open http://127.0.0.1:8000/docs
"""

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import StaleDataError  # noqa: F401  (unused until you write exercise 2)

from app.api.deps import (
    STALE_HERO,  # noqa: F401  (unused until you write exercise 2)
    Message,
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


def json_safe(value: Any) -> Any:
    """What a 422 echoes back, made sendable as JSON. Python's json module reads NaN,
    Infinity and 1e400 (as float('inf')), and strings holding a lone UTF-16 surrogate
    such as "\\ud800"; JSON cannot carry the first back, UTF-8 cannot encode the second."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf", "-inf"
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {json_safe(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


@app.exception_handler(RequestValidationError)
async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's own 422, with the echoed input made JSON-safe (lesson 02 explains why).
    detail = json_safe(jsonable_encoder(exc.errors()))
    return JSONResponse(status_code=422, content={"detail": detail})


@app.exception_handler(PoolTimeoutError)
async def pool_timeout_handler(request: Request, exc: PoolTimeoutError) -> JSONResponse:
    # Every connection stayed busy for POOL_TIMEOUT seconds: say so, rather than a bare 500.
    logger.warning("pool timeout on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        status_code=503,
        content={"detail": "The database is busy: no connection came free in time. Retry soon."},
        headers={"Retry-After": RETRY_AFTER},
    )


@app.exception_handler(DBAPIError)
async def connection_lost_handler(request: Request, exc: DBAPIError) -> JSONResponse:
    # The connection broke under the request (a restart, a failover, pg_terminate_backend).
    # SQLAlchemy has thrown it away, so the same request sent again gets a fresh one.
    if not exc.connection_invalidated:
        raise exc  # any other database error is a bug to fix, not to retry: still a 500
    logger.warning("connection lost on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        status_code=503,
        content={"detail": "The connection to the database was lost. Retry soon."},
        headers={"Retry-After": RETRY_AFTER},
    )


# >>> exercise 2
@app.exception_handler(StaleDataError)
async def stale_data_handler(request: Request, exc: StaleDataError) -> JSONResponse:
    # The UPDATE matched no row at the version this request read: someone else won the race
    # between our SELECT and our UPDATE. The session has rolled back; the client retries.
    return JSONResponse(status_code=409, content={"detail": STALE_HERO})


# <<< exercise 2


@app.get(
    "/health",
    responses={503: {"model": Message, "description": "The database does not answer"}},
)
async def health() -> dict[str, str]:
    # A real round trip through the pool: 200 only if the database answers (lesson 08).
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (DBAPIError, OSError) as exc:
        # OSError: asyncpg raises the socket's own error when nothing listens on the port.
        logger.warning("health check failed: %s", exc)
        raise HTTPException(
            status_code=503,
            detail="The database is unavailable",
            headers={"Retry-After": RETRY_AFTER},
        ) from None
    return {"status": "ok"}
