"""`python -m realtime_bridge bridge|broadcast|simulate ...` (the same subcommands as `purehealth`)."""

import sys

from realtime_bridge.cli import main

sys.exit(main())
