"""``python -m tests.benchmarks``: see ``tests/benchmarks/__init__.py``."""

from __future__ import annotations

import sys

from tests.benchmarks.runner import main

sys.exit(main())
