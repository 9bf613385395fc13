"""`python -m purehealth_pipelines.deploy up|down|status|restart`: `purehealth deploy ...` without importing
every other domain's commands first (the full `purehealth` parser loads Dagster, pandas and the rest, about
10–20 s on a busy two-core host) — what a service manager's unit or a health-check script should call.
"""

from __future__ import annotations

import argparse
import sys

from purehealth_pipelines.deploy.cli import register


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="purehealth")  # usage reads `purehealth deploy ...`: same options
    commands = parser.add_subparsers(dest="command", required=True)
    register(commands)
    args = parser.parse_args(["deploy", *(sys.argv[1:] if argv is None else argv)])
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
