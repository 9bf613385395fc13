"""HTTP ingest against the real app and real PostgreSQL: tokens, validation, idempotency, rate limit, NOTIFY,
and a kill -9 of a real `purehealth api` process between COMMIT and the answer.

Credentials are issued by the real registry (`registry.add`); its broker files go to a private directory and
no broker is signalled (the ingest path reads the same `ops.devices` rows the broker's files come from).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import psycopg
import pytest
from fastapi.testclient import TestClient

from purehealth_pipelines import settings
from purehealth_pipelines.api.app import ApiConfig, create_app
from purehealth_pipelines.api.db import analyst_url
from purehealth_pipelines.api.ingest import (
    INGEST_ROLE,
    PAUSE_ENV,
    IngestConfig,
    TokenBuckets,
    bearer_credential,
    split_batch,
)
from purehealth_pipelines.devices import registry
from purehealth_pipelines.live.channels import READINGS_CHANNEL, load_secret, unseal
from purehealth_pipelines_tests.live.helpers import add_stations, free_port, scalar, wait_for

VALUES = {"do_mg_l": 6.8, "ph": 7.4}


@pytest.fixture(scope="module")
def area(module_warehouse_url: str) -> Iterator[dict]:
    """Two live stations, a credential for the first, broker files in a private directory."""
    directory = Path(tempfile.mkdtemp(prefix="ph-ingest-auth-"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PUREHEALTH_MQTT_AUTH_DIR", str(directory))
        mp.setenv("PUREHEALTH_MQTT_PID_FILE", str(directory / "no-broker.pid"))
        prefix = f"H{uuid.uuid4().hex[:6].upper()}"
        stations = [f"{prefix}-1", f"{prefix}-2"]
        add_stations(module_warehouse_url, stations)
        issued = registry.add(module_warehouse_url, stations[0], "probe")
        yield {"url": module_warehouse_url, "stations": stations, "issued": issued, "mp": mp}


def make_client(url: str, **ingest: float) -> TestClient:
    config = ApiConfig(
        database_url=analyst_url(url),
        ws_url=None,
        extra={"ingest": IngestConfig(database_url=url, **ingest)},
    )
    return TestClient(create_app(config))


@pytest.fixture(scope="module")
def client(area: dict) -> Iterator[TestClient]:
    with make_client(area["url"], rate_per_s=1000.0, burst=5000.0) as test_client:
        yield test_client


def auth(issued: registry.Issued) -> dict[str, str]:
    return {"Authorization": f"Bearer {issued.http_token}"}


def payload(ts: datetime, values: dict[str, float] | None = None, **extra: object) -> bytes:
    return orjson.dumps({"ts": ts.isoformat(), "values": values or VALUES, **extra})


def messages(url: str, station: str) -> int:
    return scalar(url, "SELECT count(*) FROM raw.sensor_messages WHERE station_id = %s", (station,))


def dead_letters(url: str, station: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT origin, reason, payload FROM ops.dead_letters WHERE source = 'http' AND origin LIKE %s"
            " ORDER BY id",
            (f"%/{station}/%",),
        ).fetchall()


def unique_ts() -> datetime:
    """A distinct past instant per call, so tests sharing a station never share a key."""
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=uuid.uuid4().int % 10**7)


# --- pure pieces ---
def test_token_bucket_admits_burst_then_rate_and_says_how_long_to_wait() -> None:
    buckets = TokenBuckets(rate=2.0, burst=3.0)
    assert [buckets.take("a", 1, 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", 1, 100.0) == pytest.approx(0.5)  # one token at 2/s
    assert buckets.take("b", 1, 100.0) == 0.0  # per sensor
    assert buckets.take("a", 1, 100.5) == 0.0
    # A batch larger than the bucket passes only when the bucket is full, and leaves it in debt.
    assert buckets.take("c", 10, 0.0) == 0.0
    assert buckets.take("c", 1, 0.0) == pytest.approx(4.0)  # 7 tokens of debt + 1 at 2/s


def test_bearer_credential_and_split_batch() -> None:
    assert bearer_credential("Bearer ST-1/p/ab12:s3cr:et") == ("ST-1/p/ab12", "s3cr:et")
    assert bearer_credential("Basic abc") is None
    assert bearer_credential("Bearer no-colon") is None
    assert bearer_credential(None) is None
    assert split_batch(b'[{"a":1},2]') == [b'{"a":1}', b"2"]
    assert split_batch(b'{"a":1}').reason == "not_an_array"  # type: ignore[union-attr]
    assert split_batch(b"[").reason == "invalid_json"  # type: ignore[union-attr]
    assert split_batch(b"[]").reason == "empty_batch"  # type: ignore[union-attr]


# --- auth ---
def test_missing_bad_and_revoked_tokens_are_401_and_store_nothing(area: dict, client: TestClient) -> None:
    station = area["stations"][0]
    path = f"/ingest/v1/stations/{station}/readings"
    issued = area["issued"]
    before = messages(area["url"], station)
    letters_before = len(dead_letters(area["url"], station))
    body = payload(unique_ts())
    missing = client.post(path, content=body)
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization" in missing.json()["error"]
    assert client.post(path, content=body, headers={"Authorization": "Bearer nonsense"}).status_code == 401
    wrong = {"Authorization": f"Bearer {issued.username}:not-the-secret"}
    assert client.post(path, content=body, headers=wrong).status_code == 401
    unknown = {"Authorization": f"Bearer {station}/probe/000000:{issued.secret}"}
    assert client.post(path, content=body, headers=unknown).status_code == 401

    other = registry.add(area["url"], station, "to-revoke")
    assert client.post(path, content=payload(unique_ts()), headers=auth(other)).status_code == 201
    assert registry.revoke(area["url"], station, "to-revoke") == [other.username]
    revoked = client.post(path, content=payload(unique_ts()), headers=auth(other))
    assert revoked.status_code == 401, revoked.text
    assert messages(area["url"], station) == before + 1  # only the one sent while the credential was valid
    assert (
        len(dead_letters(area["url"], station)) == letters_before
    )  # unauthenticated: not even a dead letter


def test_valid_token_for_another_station_is_403(area: dict, client: TestClient) -> None:
    a, b = area["stations"]
    response = client.post(
        f"/ingest/v1/stations/{b}/readings", content=payload(unique_ts()), headers=auth(area["issued"])
    )
    assert response.status_code == 403
    assert a in response.json()["error"]
    assert messages(area["url"], b) == 0


def test_ingest_sessions_run_as_the_narrow_ingest_role(area: dict, client: TestClient) -> None:
    station = area["stations"][0]
    client.post(
        f"/ingest/v1/stations/{station}/readings", content=payload(unique_ts()), headers=auth(area["issued"])
    )
    service = client.app.state.ingest  # type: ignore[attr-defined]
    conn = next(slot.writer.conn for slot in service._slots if slot.writer.conn is not None)
    try:
        assert conn.execute("SELECT current_user").fetchone()[0] == INGEST_ROLE
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE ref.stations SET name = name WHERE false")
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM raw.sensor_messages WHERE false")
    finally:
        conn.rollback()


# --- landing ---
def test_the_same_request_twice_lands_once(area: dict, client: TestClient) -> None:
    station = area["stations"][0]
    path = f"/ingest/v1/stations/{station}/readings"
    ts = unique_ts()
    body = payload(ts, {"do_mg_l": 7.1, "ph": 7.2, "temp_c": 26.5}, sensor_id="probe", seq=5)
    first = client.post(path, content=body, headers=auth(area["issued"]))
    assert first.status_code == 201, first.text
    assert first.json() == {"status": "stored", "messages": 1, "new": 1, "duplicates": 0}
    second = client.post(path, content=body, headers=auth(area["issued"]))
    assert second.status_code == 200, second.text
    assert second.json() == {"status": "duplicate", "messages": 1, "new": 0, "duplicates": 1}
    with psycopg.connect(area["url"]) as conn:
        rows = conn.execute(
            "SELECT parameter, value, sensor_id, seq FROM raw.sensor_readings"
            " WHERE station_id = %s AND ts = %s ORDER BY parameter",
            (station, ts),
        ).fetchall()
        health = conn.execute(
            "SELECT status, last_reading_ts FROM ops.sensor_health WHERE station_id = %s", (station,)
        ).fetchone()
    assert rows == [("do_mg_l", 7.1, "probe", 5), ("ph", 7.2, "probe", 5), ("temp_c", 26.5, "probe", 5)]
    assert health[0] == "online" and health[1] >= ts

    # Same key, other content: not a retry; refused with 409 and dead-lettered, the stored message unchanged.
    clash = client.post(
        path, content=payload(ts, {"do_mg_l": 1.0}, sensor_id="probe"), headers=auth(area["issued"])
    )
    assert clash.status_code == 409 and clash.json()["reason"] == "conflicting_duplicate"
    assert "conflicting_duplicate" in {reason for _, reason, _ in dead_letters(area["url"], station)}


def test_malformed_is_4xx_with_the_reason_and_one_dead_letter_even_when_retried(
    area: dict, client: TestClient
) -> None:
    station = area["stations"][0]
    path = f"/ingest/v1/stations/{station}/readings"
    before = messages(area["url"], station)
    naive = b'{"ts": "2026-01-05T10:15:00", "values": {"ph": 7.4}}'
    for _ in range(2):  # a retried bad request is recorded once
        response = client.post(path, content=naive, headers=auth(area["issued"]))
        assert response.status_code == 422
        assert response.json()["reason"] == "timestamp_without_offset"
        assert response.json()["dead_lettered"] is True
    unknown = client.post(path, content=payload(unique_ts(), {"nope": 1.0}), headers=auth(area["issued"]))
    assert unknown.status_code == 422 and unknown.json()["reason"] == "unknown_parameter"
    too_big = client.post(path, content=b"{" + b" " * 20_000 + b"}", headers=auth(area["issued"]))
    assert too_big.status_code == 413 and too_big.json()["reason"] == "payload_too_large"
    not_json = client.post(f"{path}/batch", content=b"[{", headers=auth(area["issued"]))
    assert not_json.status_code == 400 and not_json.json()["reason"] == "invalid_json"

    letters = dead_letters(area["url"], station)
    reasons = [reason for _, reason, _ in letters]
    for reason in ("timestamp_without_offset", "unknown_parameter", "payload_too_large", "invalid_json"):
        assert reasons.count(reason) == 1, reasons
    assert (path, "timestamp_without_offset", naive.decode()) in letters
    assert messages(area["url"], station) == before


def test_a_batch_lands_in_one_transaction_and_reports_new_duplicates_and_rejects(
    area: dict, client: TestClient
) -> None:
    station = area["stations"][0]
    path = f"/ingest/v1/stations/{station}/readings/batch"
    base = unique_ts()
    items = [{"ts": (base + timedelta(minutes=i)).isoformat(), "values": VALUES, "seq": i} for i in range(50)]
    first = client.post(path, content=orjson.dumps(items), headers=auth(area["issued"]))
    assert first.status_code == 200, first.text
    assert first.json() == {"messages": 50, "accepted": 50, "new": 50, "duplicates": 0, "rejected": []}
    window = (station, base, base + timedelta(minutes=60))
    with psycopg.connect(area["url"]) as conn:
        transactions = conn.execute(
            "SELECT count(DISTINCT xmin::text), count(DISTINCT ingested_at), count(*)"
            " FROM raw.sensor_messages WHERE station_id = %s AND ts >= %s AND ts < %s",
            window,
        ).fetchone()
    assert transactions == (1, 1, 50)  # one transaction wrote all 50

    # Resent with 10 more and one bad: 10 new, 50 duplicates, the bad one dead-lettered and reported.
    more = items + [
        {"ts": (base + timedelta(minutes=50 + i)).isoformat(), "values": VALUES} for i in range(10)
    ]
    more.insert(7, {"ts": base.isoformat(), "values": {"ph": "seven"}})
    second = client.post(path, content=orjson.dumps(more), headers=auth(area["issued"]))
    assert second.status_code == 422, second.text
    body = second.json()
    assert (body["messages"], body["accepted"], body["new"], body["duplicates"]) == (61, 60, 10, 50)
    assert body["rejected"] == [
        {"index": 7, "reason": "value_not_a_number", "detail": "values.ph is str, expected a number"}
    ]
    assert (
        scalar(
            area["url"],
            "SELECT count(*) FROM raw.sensor_messages WHERE station_id = %s AND ts >= %s AND ts < %s",
            window,
        )
        == 60
    )


def test_rate_limit_answers_429_with_retry_after(area: dict) -> None:
    station = area["stations"][0]
    path = f"/ingest/v1/stations/{station}/readings"
    with make_client(area["url"], rate_per_s=0.05, burst=3.0) as limited:
        codes = [
            limited.post(path, content=payload(unique_ts()), headers=auth(area["issued"])).status_code
            for _ in range(3)
        ]
        assert codes == [201, 201, 201]
        refused = limited.post(path, content=payload(unique_ts()), headers=auth(area["issued"]))
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 20  # one token at 0.05/s
        # A batch larger than what is left waits too; another sensor has its own bucket.
        batch = [{"ts": unique_ts().isoformat(), "values": VALUES}]
        assert (
            limited.post(
                f"{path}/batch", content=orjson.dumps(batch), headers=auth(area["issued"])
            ).status_code
            == 429
        )
        other = registry.add(area["url"], station, "second-probe")
        assert limited.post(path, content=payload(unique_ts()), headers=auth(other)).status_code == 201


def test_an_http_reading_reaches_the_live_notify_channel_sealed(area: dict, client: TestClient) -> None:
    station = area["stations"][0]
    ts = unique_ts()
    with psycopg.connect(area["url"], autocommit=True) as listener:
        secret = load_secret(listener)
        listener.execute(f"LISTEN {READINGS_CHANNEL}")
        response = client.post(
            f"/ingest/v1/stations/{station}/readings",
            content=payload(ts, {"do_mg_l": 5.5}, seq=9),
            headers=auth(area["issued"]),
        )
        assert response.status_code == 201
        bodies = [
            unseal(secret, READINGS_CHANNEL, n.payload) for n in listener.notifies(timeout=10, stop_after=1)
        ]
    assert bodies and bodies[0] is not None
    station_id, _, message = bodies[0].partition("\t")
    assert station_id == station
    assert orjson.loads(message) == {
        "type": "reading", "station_id": station, "ts": ts.isoformat(), "values": {"do_mg_l": 5.5}, "seq": 9
    }  # fmt: skip


# --- a real server killed between COMMIT and the answer ---
class ApiProcess:
    def __init__(self, url: str, port: int, env: dict[str, str]) -> None:
        self.url, self.port = url, port
        self.env = {
            **os.environ,
            **env,
            "PYTHONPATH": str(settings.project_root()),
            "PUREHEALTH_API_DATABASE_URL": analyst_url(url),
            "PUREHEALTH_INGEST_DATABASE_URL": url,
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> ApiProcess:
        command = [
            sys.executable,
            "-m",
            "purehealth_pipelines.cli",
            "api",
            "--port",
            str(self.port),
            "--ws-url",
            "none",
        ]
        self.process = subprocess.Popen(
            command, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

        def up() -> bool:
            assert self.process.poll() is None, self.process.stderr.read().decode()[-2000:]
            return httpx.get(f"http://127.0.0.1:{self.port}/api/health", timeout=2).status_code == 200

        wait_for(up, 60, what="purehealth api to answer")
        return self

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def test_kill_9_between_commit_and_answer_loses_nothing_and_doubles_nothing(area: dict) -> None:
    station = area["stations"][0]
    port = free_port()
    base = unique_ts()
    items = [{"ts": (base + timedelta(seconds=i)).isoformat(), "values": VALUES, "seq": i} for i in range(20)]
    body = orjson.dumps(items)
    url = f"http://127.0.0.1:{port}/ingest/v1/stations/{station}/readings/batch"
    window = "SELECT count(*) FROM raw.sensor_messages WHERE station_id = %s AND ts >= %s AND ts < %s"
    args = (station, base, base + timedelta(minutes=1))

    # The test-only hook holds every answer 120 s after COMMIT: the kill lands in that window for certain.
    server = ApiProcess(area["url"], port, {PAUSE_ENV: "120"}).start()
    outcome: dict[str, object] = {}

    def post() -> None:
        try:
            outcome["response"] = httpx.post(url, content=body, headers=auth(area["issued"]), timeout=150)
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    sender = threading.Thread(target=post)
    try:
        sender.start()
        wait_for(lambda: scalar(area["url"], window, args) == 20, 60, what="the batch to be committed")
        server.kill9()
        sender.join(30)
        assert "error" in outcome and "response" not in outcome  # the client never got an answer
    finally:
        server.stop()
    assert scalar(area["url"], window, args) == 20  # committed before the kill: nothing lost

    # The client retries against a restarted server (no pause): nothing is doubled, and it is told so.
    server = ApiProcess(area["url"], port, {}).start()
    try:
        retry = httpx.post(url, content=body, headers=auth(area["issued"]), timeout=30)
    finally:
        server.stop()
    assert retry.status_code == 200, retry.text
    assert retry.json()["new"] == 0 and retry.json()["duplicates"] == 20
    assert scalar(area["url"], window, args) == 20


def test_concurrent_requests_share_one_transaction_and_each_gets_its_own_answer(area: dict) -> None:
    """Requests queued together are landed by one committer in one transaction (group commit); the answers
    are still per request. Queued before the committers start, so the grouping is certain."""
    from purehealth_pipelines.api.ingest import IngestService, _Request

    a, b = area["stations"]
    issued = area["issued"]
    service = IngestService(IngestConfig(database_url=area["url"], pool_size=1, rate_per_s=1000, burst=5000))
    ts = [unique_ts() for _ in range(3)]
    batch = orjson.dumps([{"ts": ts[1].isoformat(), "values": VALUES}, {"ts": "yesterday", "values": VALUES}])
    requests = [
        _Request(a, issued.username, issued.secret, payload(ts[0]), False),  # new
        _Request(a, issued.username, issued.secret, payload(ts[0]), False),  # the same again: duplicate
        _Request(a, issued.username, issued.secret, batch, True),  # one stored, one refused
        _Request(b, issued.username, issued.secret, payload(ts[2]), False),  # another station: 403
        _Request(a, issued.username, "wrong", payload(ts[2]), False),  # 401
        _Request(a, issued.username, issued.secret, b"[1]", False),  # refused: 422
    ]
    for request in requests:
        service._queue.put(request)
    try:
        service._start()
        for request in requests:
            assert request.done.wait(30)
    finally:
        service.close()
    answers = [(r.answer.status, r.answer.body.get("new"), r.answer.body.get("reason")) for r in requests]
    assert answers == [
        (201, 1, None),
        (200, 0, None),
        (422, 1, None),
        (403, None, None),
        (401, None, None),
        (422, None, "not_an_object"),
    ]
    assert requests[2].answer.body["rejected"][0]["reason"] == "bad_timestamp"
    with psycopg.connect(area["url"]) as conn:
        rows = conn.execute(
            "SELECT ts, xmin::text FROM raw.sensor_messages WHERE station_id = %s AND ts = ANY(%s)", (a, ts)
        ).fetchall()
        letters = conn.execute(
            "SELECT DISTINCT xmin::text FROM ops.dead_letters"
            " WHERE source = 'http' AND reason = 'not_an_object' AND payload = '[1]'"
        ).fetchall()
    assert sorted(t for t, _ in rows) == sorted(ts[:2])  # ts[2] came only from the refused requests
    assert len({x for _, x in rows} | {x for (x,) in letters}) == 1  # one transaction for the whole group
