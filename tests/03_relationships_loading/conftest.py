"""Lesson 03: helpers that create teams, powers and heroes, shared by its three test files."""

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def create_power() -> Callable[..., dict[str, Any]]:
    """``create_power(client, "Flight")``: POST a power, assert 200, return the JSON."""

    def _create(client: Any, name: str) -> Any:
        response = client.post("/powers/", json={"name": name})
        assert response.status_code == 200, response.text
        return response.json()

    return _create


def hero_json(hero: Any) -> dict[str, Any]:
    return {"id": hero.id, "name": hero.name, "age": hero.age, "team_id": hero.team_id}


@pytest.fixture
def seed_teams(lesson) -> Callable[..., list[dict[str, Any]]]:
    """``seed_teams(client, teams=10, heroes=2)``: teams, each with its heroes, as JSON.

    Stored through the lesson's models in one transaction (fast); returns what
    ``GET /teams/`` should answer: every team with its heroes in id order.
    """
    Hero, Team = lesson.models.Hero, lesson.models.Team

    def _seed(client: Any, teams: int = 10, heroes: int = 2) -> list[dict[str, Any]]:
        with lesson.database.SessionLocal() as session:
            rows = []
            for t in range(teams):
                team = Team(name=f"Team {t}", headquarters="Sharp Tower")
                members = [
                    Hero(name=f"Hero {t}-{h}", secret_name=f"Secret {t}-{h}", team=team)
                    for h in range(heroes)
                ]
                session.add_all([team, *members])
                rows.append((team, members))
            session.commit()
            return [
                {
                    "id": team.id,
                    "name": team.name,
                    "headquarters": team.headquarters,
                    "heroes": [hero_json(hero) for hero in members],
                }
                for team, members in rows
            ]

    return _seed


@pytest.fixture
def seed_powers(lesson) -> Callable[..., list[dict[str, Any]]]:
    """``seed_powers(client, powers=10, heroes=2)``: powers, each given to its own heroes.

    Stored through the lesson's models in one transaction (fast); returns what
    ``GET /powers/`` should answer: every power with its heroes in id order.
    """
    Hero, Power = lesson.models.Hero, lesson.models.Power

    def _seed(client: Any, powers: int = 10, heroes: int = 2) -> list[dict[str, Any]]:
        with lesson.database.SessionLocal() as session:
            rows = []
            for p in range(powers):
                power = Power(name=f"Power {p}")
                holders = [
                    Hero(name=f"Holder {p}-{h}", secret_name=f"Secret {p}-{h}", powers=[power])
                    for h in range(heroes)
                ]
                session.add_all([power, *holders])
                rows.append((power, holders))
            session.commit()
            return [
                {"id": power.id, "name": power.name, "heroes": [hero_json(h) for h in holders]}
                for power, holders in rows
            ]

    return _seed
