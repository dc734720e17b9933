#!/usr/bin/env python3
"""Build the tenant documentation sites: ``python build.py [build|check] …`` (see README)."""

from __future__ import annotations

import sys

from tenantdocs.cli import run

if __name__ == "__main__":
    sys.exit(run())
