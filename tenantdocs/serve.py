"""``serve``: a live preview of tenant sites for doc writers.

The preview builds into a private folder (never the published ``--site``) with the same
pipeline as ``build``, so what a writer sees is what would be published. It watches the
templates folder (guides, shared parts, app files, base configuration) and the tenants
folder (tenant files and local metadata files), rebuilds what changed and reloads the
browser. A broken edit prints its located errors and the last good pages stay served.
The tenant directory at ``/`` lists every tenant; opening another tenant builds it on the
spot, so switching tenants needs no restart.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from tenantdocs.errors import Location, Problem, TenantdocsError, UsageError
from tenantdocs.pipeline import Project, Selection, build, tenant_paths, write_directory
from tenantdocs.report import RunResult
from tenantdocs.sitebuild import serve_live


class Preview:
    """The tenants being previewed and the folder their sites are built in."""

    def __init__(self, project: Project, first: str) -> None:
        self.project = project
        self.root = Path(tempfile.mkdtemp(prefix="tenantdocs-preview-"))
        self.site = replace(project, site=self.root)
        self.shown: set[str] = {first}
        self._lock = threading.Lock()

    def rebuild(self) -> None:
        """Rebuild every tenant shown so far; report problems, never raise."""
        with self._lock:
            self._build(sorted(self.shown))

    def ensure(self, slug: str) -> None:
        """Build a tenant the first time its pages are asked for."""
        with self._lock:
            if slug not in self.shown and slug in tenant_paths(self.project.tenants):
                self.shown.add(slug)
                self._build([slug])

    def _build(self, slugs: Sequence[str]) -> None:
        try:
            result = build(self.site, Selection(slugs=tuple(slugs), jobs=1))
        except TenantdocsError as exc:
            _print(exc.problems)
            print(
                "preview: not rebuilt; the last good pages stay served", file=sys.stderr, flush=True
            )
            return
        finally:
            self._write_directory()
        _report(result)

    def _write_directory(self) -> None:
        """List every tenant (built or not), so the directory doubles as a tenant switcher."""
        write_directory(self.root, sorted(tenant_paths(self.project.tenants)))


def serve(project: Project, slug: str, port: int, host: str = "127.0.0.1") -> int:
    """Serve a live preview until interrupted; return the exit status."""
    if slug not in tenant_paths(project.tenants):
        raise UsageError(Problem(Location(project.tenants), f"no tenant '{slug}' to serve"))
    preview = Preview(project, slug)
    preview.rebuild()
    watched = [project.templates, project.tenants]
    url = f"http://{host}:{port}/{slug}/index.html"
    print(
        f"preview of '{slug}' at {url} (all tenants at http://{host}:{port}/); Ctrl+C stops",
        flush=True,
    )
    serve_live(
        root=preview.root,
        host=host,
        port=port,
        rebuild=preview.rebuild,
        watched=watched,
        on_request=lambda first_segment: preview.ensure(first_segment),
    )
    return 0


def _report(result: RunResult) -> None:
    for tenant in result.tenants:
        _print(tenant.problems)
        detail = "previous pages kept" if tenant.failed else f"{tenant.pages} pages"
        print(f"preview: {tenant.slug} {tenant.status} ({detail})", flush=True)


def _print(problems: Sequence[Problem]) -> None:
    for problem in problems:
        print(problem, file=sys.stderr, flush=True)
