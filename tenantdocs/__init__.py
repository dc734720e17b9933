"""tenantdocs: one set of SSO setup guides, one published site per customer tenant."""

from __future__ import annotations

__version__ = "0.1.0"
