"""The API: every resource's router, gathered under one version prefix, /api/v1.

A client that was written for /api/v1 keeps working the day a /api/v2 with another
contract is served beside it. /health, /pool and the OpenAPI pages (/docs,
/openapi.json) describe this process, not the API's resources: they stay at the root
(app/main.py).
"""

from fastapi import APIRouter

from app.api.routes import heroes, teams

API_V1 = "/api/v1"

api_router = APIRouter(prefix=API_V1)
api_router.include_router(heroes.router)
api_router.include_router(teams.router)
