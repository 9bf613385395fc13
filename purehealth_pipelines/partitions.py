"""Partition definitions shared by every domain, so upstream and downstream assets line up.

Days are Indian Standard Time days (what operators in Maharashtra mean by "yesterday"); windows are stored
as UTC instants. Every partitioned asset uses a single-run backfill policy and works on
`context.partition_time_window`, so a 365-day backfill is one run writing one window, not 365 runs.
"""

import warnings
from datetime import datetime

import dagster as dg

from purehealth_pipelines.vocabulary import TIMEZONE

daily = dg.DailyPartitionsDefinition(start_date="2024-01-01", timezone=TIMEZONE, end_offset=1)
hourly = dg.HourlyPartitionsDefinition(start_date="2024-01-01-00:00", timezone=TIMEZONE, end_offset=1)
weekly = dg.WeeklyPartitionsDefinition(start_date="2024-01-01", timezone=TIMEZONE)
monthly = dg.MonthlyPartitionsDefinition(start_date="2012-01-01", timezone=TIMEZONE)
# NWMP tables are published per calendar year; the compilation in shared/data starts in 2012.
yearly = dg.TimeWindowPartitionsDefinition(
    start="2012", fmt="%Y", cron_schedule="0 0 1 1 *", timezone=TIMEZONE
)

single_run = dg.BackfillPolicy.single_run()
# `backfill_policy` is marked beta; it is chosen deliberately here (one run per backfill), so its warning —
# printed once per asset at every import, 13 times per run and code-server start — is silenced at its home.
warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy`", category=dg.BetaWarning)
# MPCB's reports and the annual WQI mart run on the Indian financial year, April to March; the key is the
# year it starts in ("2025" = April 2025 – March 2026, MPCB's "2025-26"). A year is a partition once complete.
financial_yearly = dg.TimeWindowPartitionsDefinition(
    start=datetime(2012, 4, 1), fmt="%Y", cron_schedule="0 0 1 4 *", timezone=TIMEZONE
)
