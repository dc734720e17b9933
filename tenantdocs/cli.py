"""Command line: ``python build.py [build|check] …`` (also installed as ``tenantdocs``).

The one place that turns domain errors into stderr lines and exit codes: 0 all good,
1 some tenant failed (the others are published), 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Never, TextIO

if TYPE_CHECKING:
    from tqdm import tqdm

from tenantdocs import __version__
from tenantdocs.errors import Location, Problem, PublishError, Severity, TenantdocsError
from tenantdocs.fetch import DEFAULT_FETCH_JOBS, DEFAULT_PER_HOST, MAX_PER_HOST, FetchSettings
from tenantdocs.pipeline import Project, Selection, build, check, default_jobs
from tenantdocs.publish import write_atomic
from tenantdocs.refresh import refresh
from tenantdocs.report import RunResult, TenantResult, TenantStatus, problem_json


def _shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise argparse.ArgumentTypeError(f"'{text}' is not K/N with 1 <= K <= N")
    return int(match.group(1)), int(match.group(2))


def _jobs(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive number")
    return int(text)


def _per_host(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_PER_HOST:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number from 1 to {MAX_PER_HOST}")
    return int(text)


def _fetch_options() -> argparse.ArgumentParser:
    """Options of the commands that fetch metadata (build, check, refresh); ``serve`` takes
    the environment's switches only."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("fetching metadata")
    group.add_argument(
        "--fetch-jobs",
        type=_jobs,
        default=DEFAULT_FETCH_JOBS,
        metavar="N",
        help=f"metadata URLs fetched at once (default: {DEFAULT_FETCH_JOBS})",
    )
    group.add_argument(
        "--per-host",
        type=_per_host,
        default=DEFAULT_PER_HOST,
        metavar="N",
        help=f"requests in flight to one host at once, at most {MAX_PER_HOST}"
        f" (default: {DEFAULT_PER_HOST})",
    )
    group.add_argument(
        "--allow-private-hosts",
        action="store_true",
        help="allow metadata hosts on private, loopback, link-local or reserved addresses"
        " (also TENANTDOCS_ALLOW_PRIVATE_HOSTS=1); never allowed by a tenant file",
    )
    return parent


def make_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    common = argparse.ArgumentParser(add_help=False)
    folders = common.add_argument_group("folders")
    folders.add_argument(
        "--templates",
        type=Path,
        default=Path("templates"),
        metavar="DIR",
        help="guides and shared parts (default: templates/)",
    )
    folders.add_argument(
        "--tenants",
        type=Path,
        default=Path("tenants"),
        metavar="DIR",
        help="tenant files (default: tenants/)",
    )
    folders.add_argument(
        "--site",
        type=Path,
        default=Path("site"),
        metavar="DIR",
        help="output folder (default: site/)",
    )
    folders.add_argument(
        "--cache",
        type=Path,
        default=Path(".cache"),
        metavar="DIR",
        help="fetched metadata (default: .cache/)",
    )
    common.add_argument(
        "--report", type=Path, metavar="FILE.json", help="write a JSON report of the run"
    )
    common.add_argument(
        "--tenant",
        action="append",
        default=[],
        metavar="SLUG",
        dest="tenants_selected",
        help="only this tenant (repeatable)",
    )

    parser = argparse.ArgumentParser(
        prog="tenantdocs",
        description="Publish one SSO documentation site per tenant, every value filled in.",
    )
    parser.add_argument("--version", action="version", version=f"tenantdocs {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    fetching = _fetch_options()
    build_parser = commands.add_parser(
        "build", parents=[common, fetching], help="build and publish tenant sites (the default)"
    )
    build_parser.add_argument(
        "--jobs",
        type=_jobs,
        default=default_jobs(),
        metavar="N",
        help="tenants built at once (default: the machine's cores)",
    )
    build_parser.add_argument("--offline", action="store_true", help="use cached metadata only")
    build_parser.add_argument(
        "--force", action="store_true", help="rebuild tenants whose inputs did not change"
    )
    build_parser.add_argument(
        "--shard",
        type=_shard,
        metavar="K/N",
        help="build the K-th of N stable subsets of the tenants",
    )
    commands.add_parser(
        "check",
        parents=[common, fetching],
        help="validate every template against every tenant; write nothing",
    )
    serve_parser = commands.add_parser(
        "serve",
        parents=[common],
        help="live preview of a tenant's site; rebuilds and reloads on every change",
    )
    serve_parser.add_argument(
        "--port", type=int, default=8000, metavar="N", help="port on 127.0.0.1 (default: 8000)"
    )
    new_app = commands.add_parser(
        "new-app",
        parents=[common],
        help="create an app folder with a guide skeleton and an app file",
    )
    new_app.add_argument("name", metavar="NAME", help="the app folder name, e.g. contoso-wiki")
    new_app.add_argument(
        "--display-name", metavar="TEXT", help="shown to admins (default: from NAME)"
    )
    new_app.add_argument(
        "--category", default="Other apps", metavar="TEXT", help="navigation group"
    )
    commands.add_parser(
        "refresh",
        parents=[common, fetching],
        help="fetch metadata URLs, update the cache, report what changed",
    )
    return parser


def run() -> int:
    """:func:`main` as a program (``build.py``, ``python -m tenantdocs``, ``tenantdocs``):
    its exit status, with the objects its work left behind frozen (``gc.freeze``).

    At exit the interpreter collects garbage over every object still alive (after a
    750-guide build: MkDocs' pages, the builder's kept conversions and search sections)
    just before the process ends; frozen objects are left out of those collections, which
    took about 0.2 s of a 5.5 s build. Not for :func:`main` called in a process that goes
    on (tests): what is frozen is never collected.
    """
    status = main()
    gc.freeze()
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or (
        args_list[0].startswith("-") and args_list[0] not in ("-h", "--help", "--version")
    ):
        args_list.insert(0, "build")
    parser = make_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse already printed the usage error
        return int(exc.code or 0)
    project = Project(args.templates, args.tenants, args.site, args.cache)
    selection = Selection(
        slugs=tuple(dict.fromkeys(args.tenants_selected)),
        shard=getattr(args, "shard", None),
        jobs=getattr(args, "jobs", 1),
        force=getattr(args, "force", False),
        offline=getattr(args, "offline", False),
        fetching=FetchSettings(
            jobs=getattr(args, "fetch_jobs", DEFAULT_FETCH_JOBS),
            per_host=getattr(args, "per_host", DEFAULT_PER_HOST),
            allow_private_hosts=getattr(args, "allow_private_hosts", False),
        ),
    )
    if args.command == "serve" and len(selection.slugs) != 1:
        parser.print_usage(sys.stderr)
        print("tenantdocs serve: error: give exactly one --tenant SLUG", file=sys.stderr)
        return 2
    if args.report is not None and (problem := report_path_problem(args.report)) is not None:
        print(problem, file=sys.stderr)  # before the run: a build is not done for nothing
        return 2
    try:
        if args.command == "serve":
            from tenantdocs.serve import serve

            return serve(project, selection.slugs[0], args.port)
        if args.command == "new-app":
            from tenantdocs.scaffold import new_app

            folder = new_app(project.templates, args.name, args.display_name, args.category)
            print(f"created {folder}/: edit its sso_configure.md and app.yml, then run 'check'")
            return 0
        if args.command == "refresh":
            return _refresh(project, selection, args.report)
        if args.command == "check":
            result = check(project, selection)
        else:
            result = build(project, selection, progress=_progress(sys.stdout))
    except TenantdocsError as exc:
        _print_problems(exc.problems, sys.stderr, excerpt=args.command == "check")
        return _write_report(
            args.report,
            {
                "tool": "tenantdocs",
                "command": args.command,
                "exit_code": exc.exit_code,
                "problems": [problem_json(p) for p in exc.problems],
                "tenants": [],
            },
            exc.exit_code,
        )
    excerpt = result.command == "check"
    _print_problems(result.problems, sys.stderr, excerpt=excerpt)
    for tenant in result.tenants:
        _print_problems(tenant.problems, sys.stderr, excerpt=excerpt)
    if excerpt:
        _print_matrix(result, sys.stdout)
    _print_summary(result, sys.stdout)
    return _write_report(args.report, result.to_json(), result.exit_code)


def _refresh(project: Project, selection: Selection, report: Path | None) -> int:
    """Run ``refresh``: one line per tenant/app on stdout, problems on stderr."""
    result = refresh(project, selection)
    for invalid in result.invalid:
        _print_problems(invalid.problems, sys.stderr)
    for outcome in result.outcomes:
        _print_problems(outcome.problems, sys.stderr)
        line = f"{outcome.slug}/{outcome.app}: {outcome.status}"
        if outcome.changes:
            line += ": " + "; ".join(
                f"{c.key}: {c.new}" if c.old is None else f"{c.key}: {c.old} -> {c.new}"
                for c in outcome.changes
            )
        print(line)
    changed = result.changed_tenants
    print(f"changed tenants: {' '.join(changed) if changed else '(none)'}")
    return _write_report(report, result.to_json(), result.exit_code)


def _print_problems(problems: Sequence[Problem], stream: TextIO, *, excerpt: bool = False) -> None:
    seen = set()
    for problem in problems:
        line = str(problem)
        if line not in seen:  # the same template warning can concern many tenants
            seen.add(line)
            print(line, file=stream)
            if excerpt:
                for extra in _excerpt(problem):
                    print(extra, file=stream)


EXCERPT_WIDTH = 160
"""Characters of a source line shown under a problem."""
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _excerpt(problem: Problem) -> list[str]:
    """The offending source line and a caret under the column, when both are known."""
    where = problem.location
    if not where.line:
        return []
    try:
        with where.path.open(encoding="utf-8", errors="replace", newline="") as stream:
            text = next((t for n, t in enumerate(stream, 1) if n == where.line), None)
    except OSError:
        return []
    if text is None:
        return []
    text = text.rstrip("\r\n")
    # A long line (metadata documents are often one line) is shown around the column only,
    # so an excerpt never dumps a whole document; control characters are shown as U+FFFD.
    start = 0
    if len(text) > EXCERPT_WIDTH and where.column:
        start = max(0, min(where.column - 1 - EXCERPT_WIDTH // 2, len(text) - EXCERPT_WIDTH))
    shown = _CONTROL.sub("\ufffd", text[start : start + EXCERPT_WIDTH])
    before = "…" if start else ""
    after = "…" if start + EXCERPT_WIDTH < len(text) else ""
    lines = [f"    {before}{shown}{after}"]
    if where.column:
        # Keep tabs so the caret lines up however the terminal expands them.
        pad = "".join(c if c == "\t" else " " for c in before + shown[: where.column - 1 - start])
        lines.append(f"    {pad}^")
    return lines


def _print_matrix(result: RunResult, stream: TextIO) -> None:
    """The tenant × key matrix of missing values (only keys some tenant lacks)."""
    matrix = result.missing_values()
    if not matrix:
        return
    slugs = [t.slug for t in result.tenants]
    width = max(len(k) for k in matrix)
    print("missing values (x = no value):", file=stream)
    print(" " * (width + 2) + "  ".join(slugs), file=stream)
    for key, lacking in matrix.items():
        cells = "  ".join(("x" if s in lacking else ".").center(len(s)) for s in slugs)
        print(f"  {key.ljust(width)}{cells}", file=stream)


class _Lines:
    """Progress for pipelines and logs: one parseable line per tenant."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def start(self, total: int) -> None:
        pass

    def done(self, result: TenantResult) -> None:
        print(_result_line(result), file=self.stream, flush=True)


class _Bar:
    """Progress on a terminal: a bar with tenant counts and ETA; failures printed above it."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.bar: tqdm[Never] | None = None

    def start(self, total: int) -> None:
        from tqdm import tqdm  # only terminals need it

        self.bar = tqdm(total=total, unit="tenant", desc="building", file=self.stream, leave=False)

    def done(self, result: TenantResult) -> None:
        if self.bar is None:
            return
        if result.failed:
            self.bar.write(_result_line(result), file=self.stream)
        self.bar.update(1)
        if self.bar.n >= (self.bar.total or 0):
            self.bar.close()


def _progress(stream: TextIO) -> _Lines | _Bar:
    return _Bar(stream) if stream.isatty() else _Lines(stream)


def _result_line(result: TenantResult) -> str:
    if result.failed:
        return f"{result.slug}: failed ({result.reason})"
    detail = f"{result.pages} pages, {result.seconds:.1f} s"
    if result.status is TenantStatus.BUILT:
        detail += f"; {result.reason}"
    return f"{result.slug}: {result.status} ({detail})"


def _print_summary(result: RunResult, stream: TextIO) -> None:
    counts = Counter(tenant.status for tenant in result.tenants)
    everything = [*result.problems, *(p for t in result.tenants for p in t.problems)]
    errors = sum(1 for p in everything if p.severity is Severity.ERROR)
    warnings = sum(1 for p in everything if p.severity is Severity.WARNING)
    if result.command == "check":
        print(
            f"checked {len(result.tenants)} tenants: {errors} errors, {warnings} warnings",
            file=stream,
        )
        return
    shown = (TenantStatus.BUILT, TenantStatus.UNCHANGED, TenantStatus.FAILED)
    parts = [f"{counts[status]} {status}" for status in shown]
    print(f"tenants: {', '.join(parts)}; {warnings} warnings", file=stream)


def report_path_problem(path: Path) -> Problem | None:
    """Why a ``--report`` file cannot be written at ``path``, or None when it can.

    Its folder may not exist yet (it is created), but the nearest existing one must be a
    folder this process may write in.
    """
    if path.is_dir():
        return Problem(Location(path), "cannot write the report: it is a folder")
    if path.exists() and not os.access(path, os.W_OK):
        return Problem(Location(path), "cannot write the report: permission denied")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return Problem(Location(path), f"cannot write the report: '{parent}' is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        return Problem(Location(path), f"cannot write the report: '{parent}' is not writable")
    return None


def _write_report(path: Path | None, data: dict[str, object], exit_code: int) -> int:
    """Write the ``--report`` file (when asked for); the exit status, 2 when it failed."""
    if path is None:
        return exit_code
    try:
        # Atomic: a pipeline reading the report never sees a part of it.
        write_atomic(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))
    except PublishError as exc:  # the folder was taken or filled up during the run
        _print_problems(exc.problems, sys.stderr)
        return 2
    return exit_code
