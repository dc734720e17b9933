"""What a run reports: per-tenant results and the ``--report`` JSON (``refresh`` has its own)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Literal

from tenantdocs import __version__
from tenantdocs.errors import Problem, Severity, TenantdocsError


class TenantStatus(StrEnum):
    """What happened to a tenant in a run; the value is how output and reports spell it."""

    BUILT = "built"
    UNCHANGED = "unchanged"
    CHECKED = "checked"
    FAILED = "failed"


Command = Literal["build", "check"]
"""The commands whose outcome is a :class:`RunResult`."""


@dataclass(frozen=True, slots=True)
class TenantResult:
    """What happened to one tenant in a run."""

    slug: str
    """The tenant."""
    status: TenantStatus
    """Built, unchanged (skipped), checked or failed."""
    name: str | None = None
    """The tenant's display name, when its file could be read."""
    pages: int = 0
    """Pages in its site."""
    seconds: float = 0.0
    """Time spent on it."""
    reason: str = ""
    """Why it was rebuilt (or skipped)."""
    problems: tuple[Problem, ...] = ()
    """Its errors and warnings."""

    @property
    def failed(self) -> bool:
        """True when the tenant could not be built or checked."""
        return self.status is TenantStatus.FAILED


@dataclass(frozen=True, slots=True)
class RunResult:
    """The outcome of a run: per tenant, plus problems that concern no tenant in particular."""

    command: Command
    """The command that ran."""
    tenants: tuple[TenantResult, ...]
    """Per tenant, sorted by slug."""
    problems: tuple[Problem, ...] = ()
    """Template warnings and other run-wide findings."""

    @property
    def exit_code(self) -> int:
        """0 when every tenant succeeded, 1 when some failed or ``check`` found errors."""
        errors = any(p.severity is Severity.ERROR for p in self.problems)
        return 1 if errors or any(t.failed for t in self.tenants) else 0

    def missing_values(self) -> dict[str, list[str]]:
        """The tenant × key matrix of missing values: key → tenants that lack it."""
        matrix: dict[str, set[str]] = {}
        for tenant in self.tenants:
            for problem in tenant.problems:
                if problem.missing_key:
                    matrix.setdefault(problem.missing_key, set()).add(tenant.slug)
        return {key: sorted(slugs) for key, slugs in sorted(matrix.items())}

    def to_json(self) -> dict[str, Any]:
        """The ``--report`` document."""
        return {
            "tool": "tenantdocs",
            "version": __version__,
            "command": self.command,
            "exit_code": self.exit_code,
            "problems": [problem_json(p) for p in self.problems],
            "missing_values": self.missing_values(),
            "tenants": [
                {
                    "slug": t.slug,
                    "name": t.name,
                    "status": t.status,
                    "pages": t.pages,
                    "seconds": round(t.seconds, 3),
                    "reason": t.reason,
                    "errors": [problem_json(p) for p in t.problems if p.severity is Severity.ERROR],
                    "warnings": [
                        problem_json(p) for p in t.problems if p.severity is Severity.WARNING
                    ],
                }
                for t in self.tenants
            ],
        }


def problem_json(problem: Problem) -> dict[str, Any]:
    """A problem as it appears in ``--report`` files."""
    return {
        "path": str(problem.location.path),
        "line": problem.location.line,
        "column": problem.location.column,
        "severity": problem.severity.value,
        "message": problem.message,
        "text": str(problem),
    }


def failed_result(
    slug: str, name: str, exc: TenantdocsError, started: float, earlier: Sequence[Problem] = ()
) -> TenantResult:
    """The result of a tenant that could not be built (its previous site stays)."""
    problems = tuple(p if p.tenant else replace(p, tenant=slug) for p in (*earlier, *exc.problems))
    return TenantResult(
        slug,
        TenantStatus.FAILED,
        name,
        0,
        time.monotonic() - started,
        "previous site kept",
        problems,
    )
