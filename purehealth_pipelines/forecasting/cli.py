"""`purehealth forecast train|backtest|issue`: the forecasting steps from the command line."""

from __future__ import annotations

import argparse
import logging

import pandas as pd

from purehealth_pipelines import settings

log = logging.getLogger(__name__)


def _warehouse(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from purehealth_pipelines.resources import WarehouseResource

    return WarehouseResource(url=args.url or settings.warehouse_url())


def _as_of(args: argparse.Namespace) -> pd.Timestamp:
    if not args.as_of:
        return pd.Timestamp.now(tz="UTC")
    ts = pd.Timestamp(args.as_of)
    return ts.tz_convert("UTC") if ts.tzinfo else ts.tz_localize("UTC")


def _train(args: argparse.Namespace) -> int:
    from purehealth_pipelines.forecasting.service import train_and_register

    report = train_and_register(
        _warehouse(args), _as_of(args), days=args.days, train_kwargs={"num_boost_round": args.rounds}
    )
    for parameter, summary in report.trained.items():
        print(f"{report.version} {parameter}: {summary}")
    for parameter, reason in report.skipped.items():
        print(f"{report.version} {parameter}: skipped ({reason})")
    return 0 if report.trained else 1


def _backtest(args: argparse.Namespace) -> int:
    from purehealth_pipelines.forecasting.backtest import skill_table_markdown
    from purehealth_pipelines.forecasting.service import run_backtest

    report = run_backtest(
        _warehouse(args),
        _as_of(args),
        days=args.days,
        n_folds=args.folds,
        fold_hours=args.fold_hours,
        train_kwargs={"num_boost_round": args.rounds},
    )
    print(f"run {report.run_id} (stored in ml.backtests)\n")
    print(skill_table_markdown(report.table))
    return 0 if not report.table.empty else 1


def _issue(args: argparse.Namespace) -> int:
    from purehealth_pipelines.forecasting.service import issue_forecasts

    report = issue_forecasts(_warehouse(args), args.group, _as_of(args))
    print(
        f"issued {len(report.forecasts)} forecasts for {report.forecasts['station_id'].nunique()} stations "
        f"(origin {report.origin.isoformat()}), {len(report.alerts)} forecast alerts, "
        f"{report.notifications} notifications; models {report.versions}; missing {report.missing_models}"
    )
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    forecast = commands.add_parser("forecast", help="LightGBM forecasts: train, backtest, issue")
    actions = forecast.add_subparsers(dest="forecast_command", metavar="ACTION", required=True)

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--url", help="warehouse URL (default: PUREHEALTH_WAREHOUSE_URL)")
        parser.add_argument("--as-of", help="ISO timestamp taken as 'now' (default: now)")

    train = actions.add_parser(
        "train", help="train P10/P50/P90 models per parameter and horizon, store them in ml.models"
    )
    common(train)
    train.add_argument("--days", type=int, default=365, help="training window in days (default 365)")
    train.add_argument("--rounds", type=int, default=100, help="boosting rounds per model (default 100)")
    train.set_defaults(handler=_train)

    bt = actions.add_parser("backtest", help="rolling-origin backtest; prints the skill table")
    common(bt)
    bt.add_argument("--days", type=int, default=90, help="history used, in days (default 90)")
    bt.add_argument("--folds", type=int, default=3, help="number of folds (default 3)")
    bt.add_argument("--fold-hours", type=int, default=168, help="test window per fold (default 168)")
    bt.add_argument("--rounds", type=int, default=100, help="boosting rounds per model (default 100)")
    bt.set_defaults(handler=_backtest)

    issue = actions.add_parser("issue", help="forecast now from the approved models; store, alert, notify")
    common(issue)
    issue.add_argument("--group", choices=["live", "other"], default="live", help="station group")
    issue.set_defaults(handler=_issue)
