"""Lesson 10 exercises. Each test fails until you solve it in
lessons/10_transactions_and_testing/main.py.

Exercise 1: POST /teams/{team_id}/merge?into=N, one atomic operation.
Exercise 2: POST /teams/batch, one savepoint per team.
"""

import pytest

MERGE_MISSING = (
    "POST /teams/{team_id}/merge?into=N is not there yet: write merge_team in main.py "
    "(exercise 1), all of its work inside `with UnitOfWork(session) as uow:`"
)
BATCH_MISSING = (
    "POST /teams/batch is not there yet: write create_teams in main.py (exercise 2), "
    "like create_heroes, with `with session.begin_nested():` around each uow.teams.add()"
)


def make_team(client, name):
    response = client.post("/teams/", json={"name": name, "headquarters": "HQ"})
    assert response.status_code == 200, response.text
    return response.json()


def two_teams(client, create_hero):
    a, b = make_team(client, "Preventers"), make_team(client, "Z-Force")
    create_hero(client, "Deadpond", "Dive Wilson", team_id=a["id"])
    create_hero(client, "Rusty-Man", "Tommy Sharp", team_id=a["id"])
    create_hero(client, "Tarantula", "Natalia", team_id=b["id"])
    return a, b


def merge(client, team_id, into):
    response = client.post(f"/teams/{team_id}/merge", params={"into": into})
    assert response.status_code not in (404, 405) or response.json() in (
        {"detail": "Team not found"},
    ), MERGE_MISSING
    return response


# ---------------------------------------------------------------- exercise 1


@pytest.mark.exercise(1)
def test_merge_moves_every_hero_and_deletes_the_team(client, create_hero):
    a, b = two_teams(client, create_hero)
    response = merge(client, a["id"], b["id"])
    assert response.status_code == 200, response.text
    merged = response.json()
    assert merged["id"] == b["id"]
    assert [h["name"] for h in merged["heroes"]] == ["Deadpond", "Rusty-Man", "Tarantula"], (
        "the target team must hold every hero of both teams: move each hero of the merged "
        "team with uow.heroes.update(hero, {'team_id': into})"
    )
    assert client.get(f"/teams/{a['id']}").status_code == 404, (
        "after the merge the merged team must be gone: uow.teams.delete(team)"
    )


@pytest.mark.exercise(1)
def test_merge_that_fails_after_the_moves_changes_nothing(
    migrated, committing_client, rows, create_hero, monkeypatch
):
    a, b = two_teams(committing_client, create_hero)

    def delete_fails(self, team):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(migrated.repositories.TeamRepository, "delete", delete_fails)
    with pytest.raises(RuntimeError):
        response = merge(committing_client, a["id"], b["id"])
        pytest.fail(f"merge did not call uow.teams.delete(team): {response.status_code}")
    assert {h["name"]: h["team_id"] for h in rows("hero")} == {
        "Deadpond": a["id"],
        "Rusty-Man": a["id"],
        "Tarantula": b["id"],
    }, (
        "the delete failed after the heroes were moved, and the moves stayed: do all of the "
        "work in one `with UnitOfWork(session) as uow:` and never commit yourself"
    )
    assert [t["name"] for t in rows("team")] == ["Preventers", "Z-Force"]


@pytest.mark.exercise(1)
def test_merge_into_a_missing_team_is_404_and_into_itself_is_422(client, create_hero):
    a, _ = two_teams(client, create_hero)
    itself = merge(client, a["id"], a["id"])
    assert itself.status_code == 422, "merging a team into itself must be a 422"
    assert itself.json() == {"detail": "A team cannot merge into itself"}
    missing = client.post(f"/teams/{a['id']}/merge", params={"into": 999})
    assert missing.status_code == 404 and missing.json() == {"detail": "Team not found"}, (
        "a target team that does not exist is a 404 Team not found: get_team_or_404"
    )
    assert len(client.get(f"/teams/{a['id']}/heroes").json()) == 2


# ---------------------------------------------------------------- exercise 2


@pytest.mark.exercise(2)
def test_teams_batch_keeps_the_good_teams_and_rolls_back_the_taken_name(committing_client, rows):
    make_team(committing_client, "Preventers")
    batch = [
        {"name": "Z-Force", "headquarters": "Sister Margaret's Bar"},
        {"name": "Preventers", "headquarters": "Elsewhere"},
        {"name": "Avengers", "headquarters": "Tower"},
    ]
    response = committing_client.post("/teams/batch", json=batch)
    assert response.status_code != 405, BATCH_MISSING
    assert response.status_code == 200, response.text
    body = response.json()
    assert [t["name"] for t in body["created"]] == ["Z-Force", "Avengers"]
    assert body["failed"] == ["Preventers"], (
        "a taken name goes in failed: catch IntegrityError around `with session.begin_nested():`"
    )
    assert [(t["name"], t["headquarters"]) for t in rows("team")] == [
        ("Preventers", "HQ"),
        ("Z-Force", "Sister Margaret's Bar"),
        ("Avengers", "Tower"),
    ], "the teams before and after the failed one must be committed"


@pytest.mark.exercise(2)
def test_teams_batch_of_only_taken_names_creates_nothing(client):
    make_team(client, "Preventers")
    response = client.post("/teams/batch", json=[{"name": "Preventers", "headquarters": "X"}])
    assert response.status_code != 405, BATCH_MISSING
    assert response.json() == {"created": [], "failed": ["Preventers"]}
    assert [t["headquarters"] for t in client.get("/teams/").json()] == ["HQ"]
