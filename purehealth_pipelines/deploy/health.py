"""Health probes of the deployment's processes: each answers (healthy, one line of detail).

I/O only; which probe a process gets is decided in `topology.py`. A probe never raises: a probe that cannot
reach its target reports unhealthy with the reason, so one bad service never stops the supervisor's loop.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import UTC, datetime

from purehealth_pipelines.deploy.topology import Probe

# A daemon heartbeat older than this is stale (the daemon heartbeats every 30 s; Dagster's own liveness
# tolerance is 30 minutes, far too long for a supervisor to notice anything).
DAEMON_HEARTBEAT_MAX_AGE_S = 90.0


def probe_http(url: str, timeout: float = 3.0) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return False, f"unreachable ({exc.__class__.__name__})"


def probe_grpc(target: str, timeout: int = 5) -> tuple[bool, str]:
    """The code server answers (what `dagster api grpc-health-check` asks, without starting a process) and
    its code location loaded: a server that serves only a load error is up but not healthy.
    """
    from dagster._grpc.client import DagsterGrpcClient
    from dagster._serdes import deserialize_value
    from dagster._utils.error import SerializableErrorInfo

    host, port = target.rsplit(":", 1)
    try:
        client = DagsterGrpcClient(host=host, port=int(port))
        server_id = client.get_server_id(timeout=timeout)
        loaded = deserialize_value(client.list_repositories())
    except Exception as exc:  # grpc raises its own error types; every failure means "not serving"
        return False, f"not serving ({exc.__class__.__name__})"
    if isinstance(loaded, SerializableErrorInfo):
        return False, "code location failed to load: " + " ".join(loaded.message.split())[:160]
    return True, f"serving, server id {server_id[:8]}"


def probe_daemon(instance, since: float) -> tuple[bool, str]:
    """Every daemon the instance requires has heartbeated since the process started, and recently."""
    try:
        required = instance.get_required_daemon_types()
        beats = instance.get_daemon_heartbeats()
    except Exception as exc:  # the instance database is down or unreachable
        return False, f"instance unreachable ({exc.__class__.__name__})"
    now = datetime.now(UTC).timestamp()
    missing = [t for t in required if t not in beats or beats[t].timestamp < since]
    stale = [t for t in required if t in beats and now - beats[t].timestamp > DAEMON_HEARTBEAT_MAX_AGE_S]
    if missing:
        return False, f"no heartbeat yet from {', '.join(sorted(missing))}"
    if stale:
        return False, f"stale heartbeat: {', '.join(sorted(stale))}"
    errors = [t for t in required if beats[t].errors]
    detail = f"{len(required)} daemons heartbeating"
    return True, detail + (f" ({', '.join(sorted(errors))} reported errors)" if errors else "")


def check(probe: Probe, *, started_at: float, instance=None) -> tuple[bool, str]:
    if probe.kind == "http":
        return probe_http(probe.target)
    if probe.kind == "grpc":
        return probe_grpc(probe.target)
    if probe.kind == "daemon":
        if instance is None:
            return False, "no Dagster instance to read heartbeats from"
        return probe_daemon(instance, started_at)
    return True, "running (no health endpoint)"
