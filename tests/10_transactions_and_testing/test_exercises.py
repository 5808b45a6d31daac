"""Lesson 10 exercises. Each test fails until you solve it in
lessons/10_transactions_and_testing/main.py.

Exercise 1: POST /teams/{team_id}/merge?into=N, one atomic operation (merge_team).
Exercise 2: POST /teams/batch, one transaction with a savepoint per team (create_teams).

What is committed is read through another connection (``rows``), never through the app.
"""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text

MERGE_MISSING = (
    "POST /teams/{team_id}/merge?into=N is not there yet: write merge_team in main.py (exercise 1)"
)
BATCH_MISSING = "POST /teams/batch is not there yet: write create_teams in main.py (exercise 2)"


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


def team_of_each_hero(rows):
    return {h["name"]: h["team_id"] for h in rows("hero")}


@pytest.fixture
def lenient_client(migrated):
    """The committing app, answering 500 for an unhandled error as a real client sees it."""
    with TestClient(migrated.app, raise_server_exceptions=False) as test_client:
        yield test_client


# ---------------------------------------------------------------- exercise 1


@pytest.mark.exercise(1)
def test_merge_moves_every_hero_and_deletes_the_team(client, create_hero):
    a, b = two_teams(client, create_hero)
    response = merge(client, a["id"], b["id"])
    assert response.status_code == 200, response.text
    merged = response.json()
    assert merged["id"] == b["id"], "merge_team answers with the target team (into)"
    assert [h["name"] for h in merged["heroes"]] == ["Deadpond", "Rusty-Man", "Tarantula"], (
        "the target team must hold every hero of both teams, in id order: merge_team in "
        "main.py moves each hero of the merged team before deleting it"
    )
    assert client.get(f"/teams/{a['id']}").status_code == 404, (
        "after the merge the merged team must be gone: merge_team in main.py deletes it"
    )


@pytest.mark.exercise(1)
def test_merge_answers_what_its_transaction_wrote_and_reads_nothing_after_its_commit(
    migrated, committing_client, create_hero, statements_after_commit
):
    a, b = two_teams(committing_client, create_hero)
    with statements_after_commit(migrated.database.engine) as after:
        response = merge(committing_client, a["id"], b["id"])
    assert response.status_code == 200, response.text
    assert [h["name"] for h in response.json()["heroes"]] == ["Deadpond", "Rusty-Man", "Tarantula"]
    assert after == [], (
        f"merge_team answered with rows read after its COMMIT ({len(after)} statement(s) sent "
        "after it: the target team's heroes). Load them and build the answer inside the unit "
        "of work, TeamPublicWithHeroes.model_validate(...) as create_heroes builds its result, "
        "and return it after the with block"
    )


@pytest.mark.exercise(1)
def test_merge_loads_the_target_teams_heroes_itself_before_answering(
    lenient_client, rows, create_hero
):
    a, b = two_teams(lenient_client, create_hero)
    before = team_of_each_hero(rows)
    response = merge(lenient_client, a["id"], b["id"])
    assert response.status_code == 200, (
        f'merge answered {response.status_code}: Team.heroes is lazy="raise" (models.py), '
        "so reading target.heroes that nobody loaded raises InvalidRequestError. Load the "
        "target's heroes inside the unit of work, after the moves, before building the answer"
    )
    assert team_of_each_hero(rows) != before, "the merge answered 200 and moved no hero"


@pytest.mark.exercise(1)
def test_merge_moves_every_hero_of_a_team_of_more_than_100(client, connection, create_hero):
    a, b = make_team(client, "Preventers"), make_team(client, "Z-Force")
    connection.execute(
        text("INSERT INTO hero (name, secret_name, team_id) VALUES (:name, 'x', :team_id)"),
        [{"name": f"Recruit {i:03}", "team_id": a["id"]} for i in range(101)],
    )
    response = merge(client, a["id"], b["id"])
    assert response.status_code == 200, response.text
    teams = connection.execute(text("SELECT team_id, count(*) FROM hero GROUP BY team_id")).all()
    assert teams == [(b["id"], 101)], (
        "merging a team of 101 heroes left heroes behind (heroes per team_id: "
        f"{sorted(teams, key=str)}): a repository list is a page of 100 by default; merge_team "
        "in main.py must move every hero of the team"
    )


@pytest.mark.exercise(1)
def test_merge_that_fails_halfway_through_the_moves_changes_nothing(
    migrated, committing_client, rows, create_hero, monkeypatch
):
    a, b = two_teams(committing_client, create_hero)
    before = team_of_each_hero(rows)
    real_update = migrated.repositories.HeroRepository.update
    calls = []

    def update_fails_the_second_time(self, db_hero, data):
        calls.append(db_hero.name)
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        return real_update(self, db_hero, data)

    monkeypatch.setattr(
        migrated.repositories.HeroRepository, "update", update_fails_the_second_time
    )
    with pytest.raises(RuntimeError):
        response = merge(committing_client, a["id"], b["id"])
        pytest.fail(
            f"merge did not move the heroes with uow.heroes.update(): {response.status_code}"
        )
    assert team_of_each_hero(rows) == before, (
        f"the second move failed, and the first one stayed ({team_of_each_hero(rows)}): the "
        "moves were committed before the failure. Do the whole merge in one unit of work in "
        "merge_team (main.py), and commit nothing yourself"
    )
    assert [t["name"] for t in rows("team")] == ["Preventers", "Z-Force"]


@pytest.mark.exercise(1)
def test_merge_that_fails_after_the_moves_changes_nothing(
    migrated, committing_client, rows, create_hero, monkeypatch
):
    a, b = two_teams(committing_client, create_hero)
    before = team_of_each_hero(rows)

    def delete_fails(self, team):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(migrated.repositories.TeamRepository, "delete", delete_fails)
    with pytest.raises(RuntimeError):
        response = merge(committing_client, a["id"], b["id"])
        pytest.fail(f"merge did not delete the team with uow.teams.delete(): {response}")
    assert team_of_each_hero(rows) == before, (
        f"the delete failed after the heroes were moved, and the moves stayed "
        f"({team_of_each_hero(rows)}): the moves were committed before the failure. Do the "
        "whole merge in one unit of work in merge_team (main.py), and commit nothing yourself"
    )
    assert [t["name"] for t in rows("team")] == ["Preventers", "Z-Force"]


@pytest.mark.exercise(1)
def test_merge_into_itself_is_422_and_changes_nothing(lenient_client, rows, create_hero):
    a, _ = two_teams(lenient_client, create_hero)
    before = team_of_each_hero(rows)
    itself = merge(lenient_client, a["id"], a["id"])
    assert itself.status_code == 422, (
        f"merging a team into itself answered {itself.status_code}: it must be a 422 "
        "(merge_team in main.py checks it before changing anything)"
    )
    error = {
        "type": "value_error",
        "loc": ["query", "into"],
        "msg": "A team cannot merge into itself",
    }
    assert itself.json() == {"detail": [error]}, (
        f"merging a team into itself answered {itself.json()}: a 422 the app raises has "
        f"FastAPI's own shape, {{'detail': [{error}]}}: raise it with invalid() in merge_team "
        "(main.py)"
    )
    assert team_of_each_hero(rows) == before and len(rows("team")) == 2, (
        "a merge into itself must change nothing"
    )


@pytest.mark.exercise(1)
def test_merge_with_a_missing_team_is_404(client, create_hero):
    a, _ = two_teams(client, create_hero)
    missing = client.post(f"/teams/{a['id']}/merge", params={"into": 999})
    assert missing.status_code == 404 and missing.json() == {"detail": "Team not found"}, (
        "a target team that does not exist is a 404 Team not found (merge_team in main.py)"
    )
    assert merge(client, 999, a["id"]).status_code == 404, "so is a missing team to merge"
    assert len(client.get(f"/teams/{a['id']}/heroes").json()) == 2


# ---------------------------------------------------------------- exercise 2


def post_batch(client, batch):
    response = client.post("/teams/batch", json=batch)
    assert response.status_code != 405, BATCH_MISSING
    return response


BATCH = [
    {"name": "Z-Force", "headquarters": "Sister Margaret's Bar"},
    {"name": "Preventers", "headquarters": "Elsewhere"},
    {"name": "Avengers", "headquarters": "Tower"},
]


@pytest.mark.exercise(2)
def test_teams_batch_keeps_the_good_teams_and_rolls_back_the_taken_name(lenient_client, rows):
    make_team(lenient_client, "Preventers")
    response = post_batch(lenient_client, BATCH)
    assert response.status_code == 200, (
        f"a batch holding a taken name answered {response.status_code}: after the failed "
        "INSERT the transaction is unusable, unless that INSERT ran inside its own savepoint "
        f"(create_teams in main.py): {response.text[:300]}"
    )
    body = response.json()
    assert [t["name"] for t in body["created"]] == ["Z-Force", "Avengers"], (
        "created lists the new teams, in the order sent"
    )
    assert body["failed"] == ["Preventers"], "a taken name goes in failed, by name"
    assert [(t["name"], t["headquarters"]) for t in rows("team")] == [
        ("Preventers", "HQ"),
        ("Z-Force", "Sister Margaret's Bar"),
        ("Avengers", "Tower"),
    ], "the teams before and after the failed one must be committed"


@pytest.mark.exercise(2)
def test_teams_batch_rolls_back_each_team_to_its_own_savepoint(
    migrated, committing_client, count_statements
):
    make_team(committing_client, "Preventers")
    with count_statements(migrated.database.engine) as log:
        response = post_batch(committing_client, BATCH)
    assert response.status_code == 200, response.text
    savepoints = [s for s in log.statements if s.upper().startswith("SAVEPOINT")]
    rollbacks = [s for s in log.statements if s.upper().startswith("ROLLBACK TO SAVEPOINT")]
    assert len(savepoints) == 3 and len(rollbacks) == 1, (
        f"a batch of 3 teams sent {len(savepoints)} SAVEPOINT and {len(rollbacks)} ROLLBACK "
        "TO SAVEPOINT statement(s); expected one savepoint per team and one rollback to it for "
        f"the taken name (create_teams in main.py). The statements:\n{log}"
    )


@pytest.mark.exercise(2)
def test_teams_batch_is_one_transaction(migrated, committing_client, rows):
    make_team(committing_client, "Preventers")
    seen_meanwhile = []

    def look_from_another_connection(conn, cursor, statement, *args):
        if statement.upper().startswith("INSERT INTO TEAM"):
            seen_meanwhile.append([t["name"] for t in rows("team")])

    engine = migrated.database.engine
    event.listen(engine, "before_cursor_execute", look_from_another_connection)
    try:
        response = post_batch(committing_client, BATCH)
    finally:
        event.remove(engine, "before_cursor_execute", look_from_another_connection)
    assert response.status_code == 200, response.text
    assert seen_meanwhile and seen_meanwhile[-1] == ["Preventers"], (
        "another connection saw teams of the batch before the batch ended "
        f"({seen_meanwhile}): one commit per team. The batch must be one transaction, "
        "committed once at the end, with a savepoint inside it per team (create_teams in "
        "main.py)"
    )
    assert [t["name"] for t in rows("team")] == ["Preventers", "Z-Force", "Avengers"]


@pytest.mark.exercise(2)
def test_teams_batch_takes_at_most_100_teams(committing_client, rows):
    batch = [{"name": f"Team {i:03}", "headquarters": "HQ"} for i in range(101)]
    too_many = post_batch(committing_client, batch)
    assert too_many.status_code == 422, (
        f"a batch of 101 teams answered {too_many.status_code}: the body of POST "
        "/teams/batch holds at most 100 teams, refused with a 422 before any INSERT "
        "(create_teams in main.py, like create_heroes)"
    )
    assert rows("team") == [], "a refused batch creates nothing"
    full = post_batch(committing_client, batch[:100])
    assert full.status_code == 200 and len(full.json()["created"]) == 100, (
        "a batch of exactly 100 teams is allowed"
    )


@pytest.mark.exercise(2)
def test_teams_batch_of_only_taken_names_creates_nothing(lenient_client, rows):
    make_team(lenient_client, "Preventers")
    response = post_batch(lenient_client, [{"name": "Preventers", "headquarters": "X"}])
    assert response.status_code == 200, (
        f"a batch of one taken name answered {response.status_code}: it is a 200 listing the "
        "name in failed (create_teams in main.py)"
    )
    assert response.json() == {"created": [], "failed": ["Preventers"]}
    assert [t["headquarters"] for t in rows("team")] == ["HQ"], "nothing may change"
