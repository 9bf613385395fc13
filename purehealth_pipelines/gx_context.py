"""The one way the asset checks get a great-expectations context (GX 1.x, ephemeral, quiet).

GX is imported here, lazily (it costs 2-3 s, docs/stack_notes.md), not at module import. Its
`data_context.types.base` module forces its own logger to INFO and announces a temporary docs directory and
its datasources on every check, once per check in every run log and in `purehealth demo run`'s output;
progress bars are off for the same reason.
"""

from __future__ import annotations

import logging
from typing import Any

GX_LOGGERS = ("great_expectations", "great_expectations.data_context.types.base")


def ephemeral_context() -> Any:
    """A fresh ephemeral GX context with progress bars and INFO chatter off."""
    import great_expectations as gx

    for name in GX_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    return context
