"""``python -m repkpi``: the command line."""

from __future__ import annotations

import sys

from repkpi.cli import main

sys.exit(main())
