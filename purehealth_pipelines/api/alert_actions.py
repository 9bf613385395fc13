"""POST /api/alerts/{id}/ack | assign | resolve: operators act on alerts through the API, audited.

Why a second pool with its own login: the read endpoints stay on the analyst login, which the database
itself keeps read-only (db.py); these three write, so they go through `alert_api`, a login in
`purehealth_alert_actor` (migration 1200) that may change only the columns an ack / assign / resolve
changes, append ops.alert_actions, owe the resolve's notifications and read operators' token hashes — not
the pipeline's writer, which can write everything. The pool refuses a login that could write elsewhere.

Who: `Authorization: Bearer <name>:<secret>`, a token from `purehealth alerts operators add NAME` (stored
hashed; alerts/operators.py). The audit row records the operator's name as the actor, `via = 'api'`.
Answers: 200 with the alert's state after the action; 401 no / unknown / revoked token; 403 the operator
may not do this action; 404 no such alert; 409 the alert's state forbids it (already acknowledged, not
open); 503 the writer login is not available. Errors are `{"error": "<sentence>"}` like the read API's.
The actions themselves are alerts/outbox.py's, the same the CLI runs.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from typing import Annotated, Any

import orjson
import psycopg
from fastapi import APIRouter, Depends, FastAPI, Path
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout
from pydantic import BaseModel, Field

from purehealth_pipelines import settings
from purehealth_pipelines.alerts import operators, outbox

log = logging.getLogger("purehealth_pipelines.api")

ACTOR_URL_ENV = "PUREHEALTH_ALERT_API_DATABASE_URL"
ACTOR_LOGIN = "alert_api"
# What the writer login may change; anything else writable means it is not the narrow role.
ALLOWED_WRITES = {"mart.alerts", "ops.alert_actions", "ops.alert_outbox"}


def actor_url(read_url: str) -> str:
    """`PUREHEALTH_ALERT_API_DATABASE_URL`, else the read API's database with the `alert_api` login."""
    configured = os.environ.get(ACTOR_URL_ENV)
    if configured:
        return configured
    params = conninfo_to_dict(read_url)
    params.update(user=ACTOR_LOGIN, password=settings.alert_api_password())
    return make_conninfo(**params)


class Unavailable(RuntimeError):
    """The writer login cannot be used (missing, or broader than alert actions): 503, reads unaffected."""


class ActorDatabase:
    """A small pool of `alert_api` sessions, opened with the app and proven narrow on first use."""

    def __init__(self, url: str, max_size: int = 4) -> None:
        self.pool = ConnectionPool(
            url,
            min_size=0,
            max_size=max_size,
            open=False,
            kwargs={"autocommit": True, "application_name": "purehealth-api-actions"},
            check=ConnectionPool.check_connection,
            timeout=10,
        )
        self._verified = False
        self._lock = threading.Lock()

    def open(self) -> None:
        self.pool.open(wait=False)

    def close(self) -> None:
        self.pool.close()

    def _verify(self, conn: psycopg.Connection) -> None:
        rows = conn.execute(
            """SELECT n.nspname || '.' || c.relname
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname IN ('ref', 'core', 'mart', 'raw', 'ml', 'ops') AND c.relkind IN ('r', 'p')
                  AND (has_table_privilege(current_user, c.oid, 'INSERT,UPDATE,DELETE,TRUNCATE')
                       OR has_any_column_privilege(current_user, c.oid, 'UPDATE'))"""
        ).fetchall()
        broader = sorted({r[0] for r in rows} - ALLOWED_WRITES)
        if broader:
            raise Unavailable(
                f"the alert-action login {conn.info.user!r} can also write {', '.join(broader[:5])}; "
                "the API acts on alerts only through the narrow alert_api login (migration 1200)"
            )

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        try:
            with self.pool.connection() as conn:
                if not self._verified:
                    with self._lock:
                        self._verify(conn)
                        self._verified = True
                yield conn
        except psycopg.OperationalError as exc:
            log.warning("alert actions: writer login unavailable: %s", exc)
            raise Unavailable(
                "alert actions are unavailable: the API cannot log in as its alert_api writer "
                "(run `purehealth db migrate`, check PUREHEALTH_ALERT_API_PASSWORD)"
            ) from exc
        except PoolTimeout as exc:
            raise Unavailable("alert actions are unavailable: no database session free; retry") from exc


# --- request / response bodies (documented in the OpenAPI schema) ------------------------------------------
class ActionBody(BaseModel):
    note: str | None = Field(default=None, max_length=2000, description="free text kept in the audit trail")


class AssignBody(ActionBody):
    to: str = Field(min_length=1, max_length=200, description="who will work on the alert")


class AlertState(BaseModel):
    alert_id: int
    status: str
    severity: str
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    assigned_to: str | None
    resolved_at: datetime | None
    escalation_tier: int
    action: str = Field(description="the action just recorded in the audit trail")
    actor: str = Field(description="the operator recorded as having done it")
    notifications_owed: int = Field(description="notifications the action owes subscribers (resolve)")


class ActionError(BaseModel):
    error: str = Field(description="what is wrong and what would be accepted")


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ActionError, "description": "no token, or an unknown / revoked / wrong one"},
    403: {"model": ActionError, "description": "the operator may not do this action"},
    404: {"model": ActionError, "description": "no such alert"},
    409: {
        "model": ActionError,
        "description": "the alert's state forbids it (already acknowledged, not open)",
    },
    422: {"model": ActionError, "description": "malformed body or id"},
    503: {"model": ActionError, "description": "the alert-action writer login is unavailable"},
}


class ActionFailed(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def _json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json", headers=headers)


STATE_SQL = """SELECT alert_id, status, severity, acknowledged_at, acknowledged_by, assigned_to, resolved_at,
                      escalation_tier FROM mart.alerts WHERE alert_id = %s"""
bearer = HTTPBearer(auto_error=False, description="an operator token: `purehealth alerts operators add NAME`")
Token = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
AlertId = Annotated[int, Path(ge=1, le=2**63 - 1, description="mart.alerts.alert_id")]


def _operator(conn: psycopg.Connection, credentials: HTTPAuthorizationCredentials | None, action: str):
    challenge = {"WWW-Authenticate": 'Bearer realm="purehealth-alerts"'}
    if credentials is None:
        raise ActionFailed(
            401, "an operator token is required: Authorization: Bearer <name>:<secret>", challenge
        )
    operator = operators.authenticate(conn, credentials.credentials)
    if operator is None:
        raise ActionFailed(401, "unknown, revoked or wrong operator token", challenge)
    if action not in operator.actions:
        raise ActionFailed(
            403,
            f"operator {operator.name!r} may not {action} alerts (allowed: {', '.join(operator.actions)})",
        )
    return operator


def router(database: ActorDatabase) -> APIRouter:
    routes = APIRouter(prefix="/api/alerts", tags=["alert actions"])

    def act(alert_id: int, action: str, credentials: HTTPAuthorizationCredentials | None, run) -> Response:
        try:
            with database.connection() as conn:
                operator = _operator(conn, credentials, action)
                try:
                    owed = run(conn, operator.name) or 0
                except outbox.AlertNotFound as exc:
                    message = f"no alert #{alert_id}: GET /api/alerts?status=all lists them"
                    raise ActionFailed(404, message) from exc
                except outbox.AlertConflict as exc:
                    raise ActionFailed(409, str(exc)) from exc
                row = conn.execute(STATE_SQL, (alert_id,)).fetchone()
        except Unavailable as exc:
            return _json({"error": str(exc)}, 503)
        except ActionFailed as exc:
            return _json({"error": exc.message}, exc.status, exc.headers)
        columns = ("alert_id", "status", "severity", "acknowledged_at", "acknowledged_by", "assigned_to",
                   "resolved_at", "escalation_tier")  # fmt: skip
        state = {**dict(zip(columns, row, strict=True)), "action": action, "actor": operator.name}
        return _json({**state, "notifications_owed": owed})

    @routes.post(
        "/{alert_id}/ack",
        response_model=AlertState,
        responses=ERRORS,
        summary="Acknowledge an open alert (stops its escalation)",
    )
    def ack(alert_id: AlertId, credentials: Token, body: ActionBody | None = None) -> Response:
        note = body.note if body else None
        return act(
            alert_id, "ack", credentials, lambda c, who: outbox.acknowledge(c, alert_id, who, note, via="api")
        )

    @routes.post(
        "/{alert_id}/assign",
        response_model=AlertState,
        responses=ERRORS,
        summary="Assign an open alert to someone",
    )
    def assign(alert_id: AlertId, body: AssignBody, credentials: Token) -> Response:
        return act(
            alert_id,
            "assign",
            credentials,
            lambda c, who: outbox.assign(c, alert_id, body.to, who, body.note, via="api"),
        )

    @routes.post(
        "/{alert_id}/resolve",
        response_model=AlertState,
        responses=ERRORS,
        summary="Resolve an open alert by hand (subscribers are told)",
    )
    def resolve(alert_id: AlertId, credentials: Token, body: ActionBody | None = None) -> Response:
        note = body.note if body else None
        return act(
            alert_id, "resolve", credentials, lambda c, who: outbox.resolve(c, alert_id, who, note, via="api")
        )

    return routes


def mount(app: FastAPI, read_url: str) -> None:
    """Add the three endpoints and open / close their pool with the app (wrapping its lifespan)."""
    database = ActorDatabase(actor_url(read_url))
    app.include_router(router(database))
    app.state.alert_actions = database
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        async with inner(application) as state:
            database.open()
            try:
                yield state
            finally:
                database.close()

    app.router.lifespan_context = lifespan
