"""Locations, problems and the small exception hierarchy every module raises from.

Every user-facing error points at a place in a file and reads ``path:line[:col]: message``.
Only :mod:`tenantdocs.cli` turns these exceptions into stderr lines and exit codes.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """A place in an input file; ``line`` and ``column`` are 1-based, 0 when unknown."""

    path: Path
    """The file the problem is in."""
    line: int = 0
    """1-based line number, or 0 for the whole file."""
    column: int = 0
    """1-based column number, or 0 when only the line is known."""

    def __str__(self) -> str:
        text = one_line(display_path(self.path))
        if self.line:
            text += f":{self.line}"
            if self.column:
                text += f":{self.column}"
        return text


def display_path(path: Path) -> str:
    """Return ``path`` relative to the working directory when it lies below it."""
    return _display_path(str(path), os.getcwd())  # noqa: PTH109 - a string key, no Path per call


@functools.lru_cache(maxsize=4096)
def _display_path(path: str, cwd: str) -> str:
    # Every value's provenance names its file: a tenant's few files are shown thousands of
    # times per run, so each (path, working directory) is worked out once.
    found = Path(path)
    try:
        return (
            os.path.relpath(found, cwd)
            if found.is_absolute() and found.is_relative_to(cwd)
            else path
        )
    except ValueError:  # pragma: no cover - other drive on Windows
        return path


# C0 and C1 controls, Unicode line and paragraph separators, bidirectional overrides.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def one_line(text: str) -> str:
    """``text`` with control characters written as escapes (``\\n``, ``\\x1b``, ``\\u202e``).

    Messages quote untrusted text (YAML keys, server answers, file names); escaping keeps
    each message on one line and stops it from forging other lines or steering a terminal.
    """
    return _UNPRINTABLE.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)


class Severity(StrEnum):
    """How bad a problem is: errors stop a tenant or the run, warnings are reported only."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Problem:
    """One located finding, as printed on one line and written to the report."""

    location: Location
    """Where the problem is."""
    message: str
    """What is wrong, in one line, without dumping tenant data."""
    severity: Severity = Severity.ERROR
    """Error or warning."""
    tenant: str | None = None
    """The tenant slug the problem concerns, when it concerns one."""
    missing_key: str | None = None
    """For "no value" errors: the key the tenant lacks (feeds the tenant × key matrix)."""

    def __str__(self) -> str:
        return f"{self.location}: {self.severity.value}: {one_line(self.message)}"


def decode_utf8(data: bytes, path: Path, error: type[TenantdocsError]) -> str:
    """A file's text (a leading BOM dropped), or ``error`` located at the first bad byte."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise error(Problem(Location(path, line, column), "file is not UTF-8 text")) from None


class TenantdocsError(Exception):
    """Base class of every error the tool reports to its user rather than as a bug."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | Problem) -> None:
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __reduce__(self) -> tuple[type[TenantdocsError], tuple[list[Problem]]]:
        # Keep the problems when the error crosses a process boundary (parallel builds).
        return (type(self), (self.problems,))


class UsageError(TenantdocsError):
    """Raised by the CLI and the project loader for bad options or missing folders."""


class TemplateError(TenantdocsError):
    """Raised while scanning templates and app files: a problem every tenant would share."""


class TenantError(TenantdocsError):
    """Raised for one tenant's file, values or metadata; that tenant fails, others go on."""

    exit_code = 1


class MetadataError(TenantError):
    """Raised by :mod:`tenantdocs.metadata` for a federation metadata document it cannot use."""


class SiteBuildError(TenantError):
    """Raised by :mod:`tenantdocs.sitebuild` when MkDocs fails for a tenant."""


class PublishError(TenantdocsError):
    """Raised by :mod:`tenantdocs.publish` when the site folder (or the cache) cannot be
    written, or the site folder is locked by another build."""
