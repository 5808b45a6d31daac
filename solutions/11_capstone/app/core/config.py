"""Settings from the environment, read once at import by pydantic-settings.

DATABASE_URL; the pool's POOL_CLASS, POOL_SIZE, MAX_OVERFLOW, POOL_TIMEOUT, POOL_PRE_PING
and POOL_RECYCLE (lesson 08); and the pre-start step's PRESTART_ATTEMPTS and
PRESTART_INTERVAL (app/prestart.py). They are validated like any pydantic model:
`POOL_SIZE=lots` fails at startup, not at the first request.
"""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The lesson folder (app/core/config.py -> app/core -> app -> the lesson): the default
# database sits there, wherever uvicorn or alembic is started from.
LESSON_DIR = Path(__file__).resolve().parents[2]
DEFAULT_DATABASE_URL = f"sqlite+aiosqlite:///{LESSON_DIR / 'heroes.db'}"
ALEMBIC_INI = LESSON_DIR / "alembic.ini"


class Settings(BaseSettings):
    # Environment variables only, by their exact names: no .env file is read.
    model_config = SettingsConfigDict(case_sensitive=True)

    DATABASE_URL: str = DEFAULT_DATABASE_URL
    POOL_CLASS: Literal["QueuePool", "NullPool"] = "QueuePool"
    POOL_SIZE: int = 5
    MAX_OVERFLOW: int = 10
    POOL_TIMEOUT: float = 30.0
    POOL_PRE_PING: bool = True
    POOL_RECYCLE: float = -1.0
    # The pre-start step tries the database this many times, this many seconds apart.
    PRESTART_ATTEMPTS: int = Field(default=30, ge=1)
    PRESTART_INTERVAL: float = Field(default=1.0, ge=0)


settings = Settings()
