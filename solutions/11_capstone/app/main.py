"""The capstone app: the API router, lifespan, the error handlers, /health and /pool.

Run it: `nox -s serve -- 11`, or from the lesson folder `python -m app.prestart` (wait for
the database, migrate it), then `uvicorn app.main:app --reload`, then open
http://127.0.0.1:8000/docs
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
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.pool import QueuePool

from app.api.deps import STALE_HERO, Message
from app.api.main import api_router
from app.core.db import check_schema_is_current, engine, health_engine

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
app.include_router(api_router)


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


# The errors that say "another transaction was in the way, try again": PostgreSQL's
# serialization failure, deadlock and lock timeout (by SQLSTATE), SQLite's busy database.
RETRY_SQLSTATES = {"40001", "40P01", "55P03"}


def must_retry(exc: DBAPIError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    sqlite_error = getattr(exc.orig, "sqlite_errorname", "")
    return sqlstate in RETRY_SQLSTATES or sqlite_error.startswith("SQLITE_BUSY")


# Every DBAPIError, not only OperationalError: asyncpg's deadlock and lock timeout arrive as
# a plain DBAPIError (mistake M3).
@app.exception_handler(DBAPIError)
async def contention_handler(request: Request, exc: DBAPIError) -> JSONResponse:
    # The transaction has been rolled back; the same request can succeed a moment later.
    if not must_retry(exc):
        return await connection_lost_handler(request, exc)  # a 503 if it was lost, else a 500
    logger.warning("contention on %s %s: %s", request.method, request.url.path, exc.orig)
    return JSONResponse(
        status_code=503,
        content={"detail": "Another request held what this one needed. Retry soon."},
        headers={"Retry-After": RETRY_AFTER},
    )


@app.exception_handler(StaleDataError)
async def stale_data_handler(request: Request, exc: StaleDataError) -> JSONResponse:
    # A hero's UPDATE or DELETE matched no row at the version this request read: another
    # request changed the hero, or deleted it, in between (lesson 10).
    return JSONResponse(status_code=409, content={"detail": STALE_HERO})


@app.get(
    "/health",
    responses={503: {"model": Message, "description": "The database does not answer"}},
)
async def health() -> dict[str, str]:
    # Readiness: does the database accept a connection and answer a query right now?
    try:
        # On a connection of its own (health_engine): never one the requests are queueing for.
        async with health_engine.connect() as connection:
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


@app.get("/pool")
async def pool_stats() -> dict[str, str | int]:
    # Read the counters only: this route takes no connection, and as an async route no
    # worker thread either, so it answers even when every connection is lent out.
    pool = engine.pool
    stats: dict[str, str | int] = {"pool": type(pool).__name__, "status": pool.status()}
    if isinstance(pool, QueuePool):  # NullPool and StaticPool keep no counters
        stats["size"] = pool.size()
        stats["checked_in"] = pool.checkedin()
        stats["checked_out"] = pool.checkedout()
        stats["overflow"] = pool.overflow()
    return stats
