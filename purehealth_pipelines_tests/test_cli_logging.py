"""The console stays readable: httpx per-request INFO lines (demo URLs that look live) are hidden."""

import logging

from purehealth_pipelines.cli import main


def test_httpx_request_lines_hidden_below_warning() -> None:
    root = logging.getLogger()
    saved = root.level
    root.setLevel(logging.INFO)  # as on the console; pytest's own root handler makes basicConfig a no-op
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.NOTSET)
    try:
        assert main([]) == 2  # no command: prints help after configuring logging
        for name in ("httpx", "httpcore"):
            assert not logging.getLogger(name).isEnabledFor(logging.INFO)
            assert logging.getLogger(name).isEnabledFor(logging.WARNING)
    finally:
        root.setLevel(saved)
