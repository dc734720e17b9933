"""``python -m tenantdocs``: the same command line as ``build.py``."""

from __future__ import annotations

import sys

from tenantdocs.cli import run

sys.exit(run())
