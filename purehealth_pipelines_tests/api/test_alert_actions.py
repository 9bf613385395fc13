"""POST /api/alerts/{id}/ack|assign|resolve against the real app and PostgreSQL: operator tokens, the
narrow writer login, the audit trail, 401/403/404/409, and the read endpoints still on the analyst."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from purehealth_pipelines.alerts import operators
from purehealth_pipelines.api.alert_actions import ACTOR_URL_ENV, actor_url
from purehealth_pipelines.api.app import ApiConfig, create_app
from purehealth_pipelines.api.db import analyst_url
from purehealth_pipelines_tests.alerts.conftest import outbox, raise_alerts, subscribe


@pytest.fixture
def world(module_warehouse_url: str) -> Iterator[tuple[TestClient, str, dict[str, str]]]:
    """Two open critical alerts (#1, #2), a subscriber, operators with all / only-ack rights, the app."""
    url = module_warehouse_url
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE ops.alert_delivery_attempts, ops.alert_outbox, ops.alert_subscriptions, "
            "ops.alert_actions, ops.alert_operators, mart.alerts RESTART IDENTITY CASCADE"
        )
        tokens = {
            "asha": operators.issue(conn, "asha", note="duty officer"),
            "ravi": operators.issue(conn, "ravi", ["ack"]),
            "gone": operators.issue(conn, "gone"),
        }
        assert operators.revoke(conn, "gone")
        stored = conn.execute("SELECT token_hash FROM ops.alert_operators WHERE name = 'asha'").fetchone()[0]
    assert stored.startswith("$7$") and tokens["asha"].split(":", 1)[1] not in stored  # hashed only
    subscribe(url, "duty", email="duty@example.org")
    raise_alerts(url, {("IOT-API1", "do_mg_l"): [3.5, 3.0], ("IOT-API2", "do_mg_l"): [3.4]}, "2026-02-01")
    app = create_app(ApiConfig(database_url=analyst_url(url)))
    with TestClient(app) as client:
        yield client, url, tokens


def _post(client: TestClient, path: str, token: str | None = None, **body) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.post(path, json=body or None, headers=headers)
    return response.status_code, response.json()


def test_ack_assign_resolve_with_the_operator_in_the_audit(world) -> None:
    client, url, tokens = world
    status, body = _post(client, "/api/alerts/1/ack", tokens["asha"], note="on my way")
    assert status == 200, body
    assert (body["acknowledged_by"], body["actor"], body["action"]) == ("asha", "asha", "ack")
    status, body = _post(client, "/api/alerts/1/ack", tokens["asha"])
    assert status == 409 and "already acknowledged by asha" in body["error"]
    status, body = _post(client, "/api/alerts/1/assign", tokens["asha"], to="ravi", note="nearest")
    assert status == 200 and body["assigned_to"] == "ravi"
    status, body = _post(client, "/api/alerts/1/resolve", tokens["asha"], note="aerator restarted")
    assert status == 200 and body["status"] == "resolved" and body["notifications_owed"] == 1
    status, body = _post(client, "/api/alerts/1/resolve", tokens["asha"])
    assert status == 409 and "is resolved" in body["error"]
    with psycopg.connect(url, autocommit=True) as conn:
        audit = conn.execute(
            "SELECT alert_id, action, actor, via, assignee, note FROM ops.alert_actions ORDER BY action_id"
        ).fetchall()
    assert audit == [
        (1, "ack", "asha", "api", None, "on my way"),
        (1, "assign", "asha", "api", "ravi", "nearest"),
        (1, "resolve", "asha", "api", None, "aerator restarted"),
    ]
    resolved = outbox(url, "kind = 'resolved'")
    assert len(resolved) == 1 and resolved[0][3] == "pending"  # owed to the subscriber, in the same commit


def test_401_403_404_and_422_say_what_is_wrong_and_change_nothing(world) -> None:
    client, url, tokens = world
    response = client.post("/api/alerts/2/ack")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "operator token is required" in response.json()["error"]
    wrong = tokens["asha"].split(":")[0] + ":not-the-secret"
    for token in (wrong, tokens["gone"], "nobody:secret", "no-colon"):
        status, body = _post(client, "/api/alerts/2/ack", token)
        assert status == 401 and body["error"] == "unknown, revoked or wrong operator token", token
    status, body = _post(client, "/api/alerts/2/resolve", tokens["ravi"])
    assert status == 403 and "'ravi' may not resolve alerts (allowed: ack)" in body["error"]
    assert _post(client, "/api/alerts/999/ack", tokens["asha"]) == (
        404,
        {"error": "no alert #999: GET /api/alerts?status=all lists them"},
    )
    status, body = _post(client, "/api/alerts/2/assign", tokens["asha"], note="no assignee")
    assert status == 422 and body["error"] == "body.to: Field required"
    status, body = _post(client, "/api/alerts/zero/ack", tokens["asha"])
    assert status == 422
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM ops.alert_actions").fetchone()[0] == 0
        assert _post(client, "/api/alerts/2/ack", tokens["ravi"])[0] == 200  # ravi may ack
        assert conn.execute("SELECT actor, via FROM ops.alert_actions").fetchall() == [("ravi", "api")]


def test_writes_go_through_the_narrow_login_and_reads_stay_on_the_analyst(world) -> None:
    client, url, _ = world
    with client.app.state.alert_actions.connection() as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "alert_api"
    with client.app.state.database.connection() as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "analyst"
    with psycopg.connect(actor_url(url), autocommit=True) as conn:
        for statement in (
            "INSERT INTO core.readings (station_id, parameter, ts, value) VALUES ('X', 'ph', now(), 7)",
            "UPDATE mart.alerts SET severity = 'info'",  # only the action columns
            "SELECT webhook_secret FROM ops.alert_subscriptions",  # no subscriber secrets
            "DELETE FROM ops.alert_actions",  # the audit is append-only for it
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    assert client.get("/api/alerts?status=all").status_code == 200
    assert client.delete("/api/alerts/1/ack").status_code == 405


def test_a_writer_login_broader_than_alert_actions_is_refused(world, monkeypatch) -> None:
    _, url, tokens = world
    monkeypatch.setenv(ACTOR_URL_ENV, url)  # the owner: can write everything
    with TestClient(create_app(ApiConfig(database_url=analyst_url(url)))) as client:
        status, body = _post(client, "/api/alerts/2/ack", tokens["asha"])
    assert status == 503 and "can also write" in body["error"]


def test_openapi_documents_the_actions_with_bearer_auth(world) -> None:
    client, _, _ = world
    spec = client.get("/openapi.json").json()
    for action in ("ack", "assign", "resolve"):
        operation = spec["paths"][f"/api/alerts/{{alert_id}}/{action}"]["post"]
        assert set(operation["responses"]) >= {"200", "401", "403", "404", "409"}
        assert operation["security"] == [{"HTTPBearer": []}]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
