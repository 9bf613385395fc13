"""The deployment's topology, configuration checks, backoff and status table (pure functions)."""

from pathlib import Path

import yaml

from purehealth_pipelines.deploy.cli import format_status
from purehealth_pipelines.deploy.topology import (
    CODE_LOCATION,
    DeployConfig,
    deploy_instance_dir,
    environment,
    prepare_dagster_home,
    restart_delay,
    services,
    validate,
)


def config(**overrides) -> DeployConfig:
    return DeployConfig(
        state_dir="/tmp/x",
        webserver_ports=(13000, 13001),
        code_server_port=14266,
        ws_tokens=("t",),
        dagster_pg_url="postgresql+psycopg2://u:p@127.0.0.1:5432/d",
        **overrides,
    )


def test_every_piece_of_the_topology_is_there_in_start_order() -> None:
    specs = services(config())
    names = [s.name for s in specs]
    assert names == [
        "code-server",
        "daemon",
        "webserver-1",
        "webserver-2",
        "bridge",
        "broadcaster",
        "api",
        "notify",
    ]
    by_name = {s.name: s for s in specs}
    assert by_name["code-server"].argv[2:5] == ("dagster", "code-server", "start")
    assert "14266" in by_name["code-server"].argv and CODE_LOCATION in by_name["code-server"].argv
    workspace = str(deploy_instance_dir() / "workspace.yaml")
    for name in ("daemon", "webserver-1", "webserver-2"):
        assert workspace in by_name[name].argv  # all load the code location from the code server
    assert by_name["webserver-2"].probe.target == "http://127.0.0.1:13001/server_info"
    assert by_name["code-server"].probe.kind == "grpc" and by_name["daemon"].probe.kind == "daemon"
    assert by_name["api"].argv[by_name["api"].argv.index("--ws-url") + 1] == "ws://{host}:8765/"
    assert [s.name for s in services(config(live_path=False))][-2:] == ["api", "notify"]
    assert "bridge" not in [s.name for s in services(config(live_path=False))]


def test_the_shipped_workspace_points_at_the_code_server_from_the_environment() -> None:
    workspace = yaml.safe_load((deploy_instance_dir() / "workspace.yaml").read_text())
    (grpc,) = [entry["grpc_server"] for entry in workspace["load_from"]]
    assert grpc == {
        "host": {"env": "PUREHEALTH_CODE_SERVER_HOST"},
        "port": {"env": "PUREHEALTH_CODE_SERVER_PORT"},
        "location_name": CODE_LOCATION,
    }
    env = environment(config(), base={})
    assert env["PUREHEALTH_CODE_SERVER_PORT"] == "14266" and env["DAGSTER_HOME"] == "/tmp/x/dagster_home"
    instance = yaml.safe_load((deploy_instance_dir() / "dagster.yaml").read_text())
    assert instance["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_PG_URL"}
    assert instance["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert instance["run_retries"]["enabled"] and instance["run_monitoring"]["enabled"]
    # The demo's instance and workspace are not the deployment's (make demo keeps `dagster dev`).
    root = yaml.safe_load((Path(deploy_instance_dir()).parent / "workspace.yaml").read_text())
    assert "python_module" in root["load_from"][0]


def test_bad_configurations_are_refused_with_reasons() -> None:
    assert validate(config()) == []
    problems = validate(config(api_port=13000))
    assert problems == ["ports used twice: [13000]"]
    problems = validate(
        DeployConfig(
            state_dir="/tmp/x", webserver_ports=(), dagster_pg_url="postgresql://u@h/d", ws_tokens=()
        )
    )
    assert any("at least one webserver" in p for p in problems)
    assert any("psycopg2" in p for p in problems)
    assert any("1..65535" in p for p in validate(config(api_port=70000)))


def test_restart_backoff_doubles_to_a_minute() -> None:
    assert [restart_delay(n) for n in range(0, 9)] == [0, 1, 2, 4, 8, 16, 32, 60, 60]


def test_config_round_trips_through_the_state_folder(tmp_path: Path) -> None:
    original = config(bridge_args=("--client-id", "b1"), env={"A": "1"})
    original = DeployConfig(**{**original.__dict__, "state_dir": str(tmp_path)})
    saved = original.save()
    assert DeployConfig.load(tmp_path) == original
    assert saved.stat().st_mode & 0o777 == 0o600  # it holds passwords and tokens


def test_status_table_has_a_line_per_service() -> None:
    state = {
        "services": {
            "code-server": {"pid": 11, "started_at": 1000.0, "restarts": 1, "state": "healthy",
                            "address": "grpc://127.0.0.1:4266", "detail": "serving"},
            "notify": {"pid": None, "started_at": None, "restarts": 3, "state": "backoff", "address": "",
                       "detail": "exited with 1 after 0 s; restart in 4 s"},
        },
        "draining_groups": [42],
    }  # fmt: skip
    lines = format_status(state, now=1000.0 + 3700).splitlines()
    assert lines[0].split() == ["SERVICE", "PID", "UP", "SINCE", "RESTARTS", "HEALTH", "ADDRESS", "DETAIL"]
    assert lines[1].split()[:2] == ["code-server", "11"] and "(61m)" in lines[1] and "healthy" in lines[1]
    assert (
        lines[2].split()[:3] == ["notify", "-", "-"]
        and "backoff" in lines[2]
        and "restart in 4 s" in lines[2]
    )
    assert "groups [42]" in lines[3]


def test_the_purehealth_command_has_deploy() -> None:
    from purehealth_pipelines.cli import build_parser

    args = build_parser().parse_args(["deploy", "restart", "daemon", "--state-dir", "/tmp/x"])
    assert args.service == "daemon" and args.handler.__name__ == "_restart"
    args = build_parser().parse_args(["deploy", "up", "--webserver-port", "1", "--webserver-port", "2"])
    assert args.webserver_port == [1, 2]


def test_dagster_home_is_in_the_state_folder_and_links_the_shipped_instance(tmp_path: Path) -> None:
    home = prepare_dagster_home(tmp_path)
    assert home == tmp_path / "dagster_home"
    assert (home / "dagster.yaml").resolve() == (deploy_instance_dir() / "dagster.yaml").resolve()
    assert prepare_dagster_home(tmp_path) == home  # again: replaces its own link
