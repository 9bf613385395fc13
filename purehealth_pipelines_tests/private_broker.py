"""A private Mosquitto with the project's authentication, on its own port, config and pid file.

Why: the shared broker on 1883 serves other checkouts' tests and the demo at the same time, so tests of
authentication (anonymous refused, ACLs, revocation, reload) must not change its files. This broker gets
the same service accounts and ACLs (`scripts/services.sh auth-files`) and the same settings; a whole suite
can also be pointed at it:

    python -m purehealth_pipelines_tests.private_broker start 18830 /tmp/ph-broker  # prints env to export
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from purehealth_pipelines import settings

SERVICES = settings.project_root() / "scripts" / "services.sh"


def env_for(directory: Path, port: int) -> dict[str, str]:
    """What to put in the environment so that settings (and every client) use this broker."""
    return {
        "PUREHEALTH_MQTT_HOST": "127.0.0.1",
        "PUREHEALTH_MQTT_PORT": str(port),
        "PUREHEALTH_MQTT_AUTH_DIR": str(directory / "auth"),
        "PUREHEALTH_MQTT_PID_FILE": str(directory / "mosquitto.pid"),
        "PUREHEALTH_MOSQUITTO_CONF": str(directory / "mosquitto.conf"),
    }


def start(directory: Path, port: int, tls_port: int | None = None, auth: bool = True) -> dict[str, str]:
    """Write the config (Debian-like main file allowing anonymous + our conf.d refusing it), start.

    With `tls_port`, also the field's TLS listener, with the self-signed certificate that services.sh
    generates (`tls-files`, in `<directory>/auth/tls`; clients pin `ca.crt` there). `auth=False` leaves the
    password/ACL lines out (anonymous allowed, no ACL): the "auth off" baseline of bench/bench_mqtt_auth.py.
    """
    auth_dir = directory / "auth"
    (directory / "conf.d").mkdir(parents=True, exist_ok=True)
    env = env_for(directory, port)
    subprocess.run(["bash", str(SERVICES), "auth-files"], env={**os.environ, **env}, check=True, timeout=30)
    tls = ""
    if tls_port is not None:
        subprocess.run(
            ["bash", str(SERVICES), "tls-files"], env={**os.environ, **env}, check=True, timeout=60
        )
        tls_dir = auth_dir / "tls"
        tls = f"listener {tls_port} 127.0.0.1\ncertfile {tls_dir}/server.crt\nkeyfile {tls_dir}/server.key\n"
    (directory / "mosquitto.conf").write_text(
        f"pid_file {directory}/mosquitto.pid\npersistence true\npersistence_location {directory}/\n"
        f"listener {port} 127.0.0.1\nallow_anonymous true\ninclude_dir {directory}/conf.d\n"
    )
    (directory / "conf.d" / "purehealth.conf").write_text(
        "set_tcp_nodelay true\nmax_inflight_messages 0\nmax_queued_messages 1000000\nmax_queued_bytes 0\n"
        + (
            f"allow_anonymous false\npassword_file {auth_dir}/passwd\nacl_file {auth_dir}/acl\n"
            if auth
            else ""
        )
        + tls
    )
    for path in [directory, *directory.rglob("*")]:
        shutil.chown(path, "mosquitto", "mosquitto")
    subprocess.run(["mosquitto", "-d", "-c", str(directory / "mosquitto.conf")], check=True, timeout=20)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return env
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"private mosquitto did not listen on {port}")


def stop(directory: Path) -> None:
    try:
        pid = int((directory / "mosquitto.pid").read_text().split()[0])
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError, IndexError):
        return
    for _ in range(80):
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.1)


if __name__ == "__main__":
    action, port, where = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    if action == "start":
        for key, value in start(where, port).items():
            print(f"export {key}={value}")
    else:
        stop(where)
