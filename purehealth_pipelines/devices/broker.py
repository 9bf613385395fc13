"""Render the broker's password and ACL files from the warehouse, and make Mosquitto reload them.

Layout of the auth directory (`PUREHEALTH_MQTT_AUTH_DIR`, default /etc/mosquitto/purehealth):
- `service.passwd` / `service.acl`: the service accounts, written by scripts/services.sh (bridge: read
  only; the local tools/test account: `test/#` and `bench/#` only);
- `sensors.<database>.passwd` / `.acl`: one fragment per warehouse, rendered from its `ops.devices` —
  per database so that a test warehouse's sensors never overwrite the real registry's;
- `passwd` / `acl`: what Mosquitto reads, the concatenation of all fragments (service first).
Every write goes to a temporary file and is renamed into place (the broker never reads half a file), under
an exclusive lock (two `sensors add` at once cannot lose each other's fragment). Then SIGHUP: Mosquitto
re-reads both files and keeps every session; a revoked client is refused on its next connect.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import os
import signal
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from purehealth_pipelines import settings

SERVICE = "service"
TOPIC_ROOT = "purehealth/v1"


@dataclass(frozen=True)
class DeviceEntry:
    username: str
    station_id: str
    secret_hash: str


def fragment_name(database_url: str) -> str:
    """The fragment a warehouse renders: its database name (safe characters only), never anything else of the
    connection string (a key=value conninfo carries the password)."""
    try:
        name = conninfo_to_dict(database_url).get("dbname") or "default"
    except psycopg.ProgrammingError:
        name = "default"
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in str(name))


def render(devices: Iterable[DeviceEntry], topic_root: str = TOPIC_ROOT) -> tuple[str, str]:
    """(password-file text, ACL text) for active devices: each may WRITE its own station's two topics only.

    Explicit `user` blocks rather than a `pattern` line: a pattern can only substitute the whole username
    or client id, so confining to a station with a pattern forces username == station id (one credential
    per station). A generated block per credential keeps per-sensor credentials and the same confinement.
    """
    passwd, acl = [], []
    for device in devices:
        passwd.append(f"{device.username}:{device.secret_hash}")
        base = f"{topic_root}/stations/{device.station_id}"
        acl += [f"user {device.username}", f"topic write {base}/readings", f"topic write {base}/status", ""]
    return "".join(line + "\n" for line in passwd), "\n".join(acl)


@contextlib.contextmanager
def _locked(auth_dir: Path) -> Iterator[None]:
    auth_dir.mkdir(parents=True, exist_ok=True)
    with open(auth_dir / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    with contextlib.suppress(KeyError, PermissionError):  # the broker drops to the mosquitto user
        os.chown(tmp, -1, grp.getgrnam("mosquitto").gr_gid)
    os.replace(tmp, path)


def _assemble(auth_dir: Path) -> None:
    def parts(suffix: str) -> str:
        files = [auth_dir / f"{SERVICE}.{suffix}", *sorted(auth_dir.glob(f"sensors.*.{suffix}"))]
        return "\n".join(p.read_text() for p in files if p.exists())

    _write(auth_dir / "passwd", parts("passwd"), 0o640)
    _write(auth_dir / "acl", parts("acl"), 0o640)


def publish_fragment(name: str, devices: Iterable[DeviceEntry], auth_dir: Path | None = None) -> bool:
    """Write this warehouse's fragment, re-assemble the broker's files, SIGHUP the broker (True if sent)."""
    auth_dir = auth_dir or settings.mqtt_auth_dir()
    passwd, acl = render(devices)
    with _locked(auth_dir):
        _write(auth_dir / f"sensors.{name}.passwd", passwd, 0o640)
        _write(auth_dir / f"sensors.{name}.acl", acl, 0o640)
        _assemble(auth_dir)
    return reload_broker()


def remove_fragment(name: str, auth_dir: Path | None = None) -> bool:
    """Drop a warehouse's fragment (a test database going away) and reload."""
    auth_dir = auth_dir or settings.mqtt_auth_dir()
    with _locked(auth_dir):
        for suffix in ("passwd", "acl"):
            (auth_dir / f"sensors.{name}.{suffix}").unlink(missing_ok=True)
        _assemble(auth_dir)
    return reload_broker()


def reload_broker(pid_file: Path | None = None) -> bool:
    """SIGHUP the broker named by its pid file; False when there is none (files apply at its next start)."""
    pid_file = pid_file or settings.mqtt_pid_file()
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError, IndexError):
        return False
    return True
