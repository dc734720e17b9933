"""The orchestrator: templates and tenants in, published tenant sites and a result out.

Reads top to bottom like the pipeline: load and scan templates → validate tenants → resolve
values and render every page of a tenant (all problems, one pass) → MkDocs builds the tenant
into a staging folder → atomic swap → manifest → tenant directory.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from tenantdocs import __version__, publish
from tenantdocs.errors import (
    Location,
    Problem,
    Severity,
    TemplateError,
    TenantdocsError,
    TenantError,
    UsageError,
)
from tenantdocs.keys import did_you_mean, suggest
from tenantdocs.metadata import Change, IdpMetadata, document_changes, parse_metadata
from tenantdocs.reference import EXPIRY_WARNING, add_guide_panels, render_home
from tenantdocs.render import Page, Renderer, render_directory
from tenantdocs.sitebuild import SitePlan, build_site, site_assets
from tenantdocs.skeleton import (
    SENTINEL,
    Sentinelized,
    fill_in,
    fill_text,
    roles,
    sentinelize,
    skeleton_problem,
    varying_roles,
)
from tenantdocs.sources import MetadataLoader, SourceRef, metadata_source
from tenantdocs.templates import TemplateSet, app_folders, load_templates
from tenantdocs.tenants import Tenant, parse_tenant
from tenantdocs.values import ValueSet, resolve_values

TENANT_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True, slots=True)
class Project:
    """The folders a run works on (``--templates``, ``--tenants``, ``--site``, ``--cache``)."""

    templates: Path
    """Guides, shared parts, app files and the base site configuration."""
    tenants: Path
    """One YAML file per tenant, plus local metadata files."""
    site: Path
    """Output: one folder per tenant and the tenant directory."""
    cache: Path
    """Fetched metadata."""


@dataclass(frozen=True, slots=True)
class Selection:
    """Which tenants a run covers and how."""

    slugs: tuple[str, ...] = ()
    """``--tenant`` values; empty for every tenant."""
    shard: tuple[int, int] | None = None
    """``--shard K/N``: this run covers the K-th of N stable subsets."""
    jobs: int = 1
    """Tenants built at once."""
    force: bool = False
    """Rebuild tenants whose inputs did not change."""
    offline: bool = False
    """Use cached metadata only."""


@dataclass(frozen=True, slots=True)
class TenantResult:
    """What happened to one tenant in a run."""

    slug: str
    """The tenant."""
    status: str
    """``built``, ``unchanged``, ``checked`` or ``failed``."""
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
        return self.status == "failed"


@dataclass(frozen=True, slots=True)
class RunResult:
    """The outcome of a run: per tenant, plus problems that concern no tenant in particular."""

    command: str
    """``build`` or ``check``."""
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


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    """What ``refresh`` found for one tenant × app with a metadata URL."""

    slug: str
    """The tenant."""
    app: str
    """The app."""
    url: str
    """The metadata URL."""
    status: str
    """``changed``, ``unchanged`` or ``failed`` (a stale cached copy counts as failed)."""
    fetch: str = ""
    """``fetched``, ``not modified`` or ``stale``."""
    fetched_at: str = ""
    """When the bytes in the cache were fetched or confirmed."""
    changes: tuple[Change, ...] = ()
    """Values that changed (old → new)."""
    problems: tuple[Problem, ...] = ()
    """Errors and warnings."""


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """The outcome of ``refresh``."""

    outcomes: tuple[RefreshOutcome, ...]
    """Per tenant × app with a URL source."""
    invalid: tuple[TenantResult, ...] = ()
    """Tenants whose file is invalid."""

    @property
    def exit_code(self) -> int:
        """0 when every URL was fetched (changed or not), 1 when some fetch or tenant failed."""
        failed = any(o.status == "failed" for o in self.outcomes) or bool(self.invalid)
        return 1 if failed else 0

    @property
    def changed_tenants(self) -> list[str]:
        """Tenants to rebuild: some value or certificate of theirs changed."""
        return sorted({o.slug for o in self.outcomes if o.status == "changed"})

    def to_json(self) -> dict[str, Any]:
        """The ``--report`` document of ``refresh``."""
        return {
            "tool": "tenantdocs",
            "version": __version__,
            "command": "refresh",
            "exit_code": self.exit_code,
            "changed_tenants": self.changed_tenants,
            "apps": [
                {
                    "tenant": o.slug,
                    "app": o.app,
                    "url": o.url,
                    "status": o.status,
                    "fetch": o.fetch,
                    "fetched_at": o.fetched_at,
                    "changes": [{"key": c.key, "old": c.old, "new": c.new} for c in o.changes],
                    "errors": [problem_json(p) for p in o.problems if p.severity is Severity.ERROR],
                    "warnings": [
                        problem_json(p) for p in o.problems if p.severity is Severity.WARNING
                    ],
                }
                for o in self.outcomes
            ],
            "invalid_tenants": [
                {"slug": t.slug, "errors": [problem_json(p) for p in t.problems]}
                for t in self.invalid
            ],
        }


@dataclass(frozen=True, slots=True)
class TenantPlan:
    """A tenant ready to build: every page rendered, every file to publish in hand."""

    slug: str
    """The tenant."""
    name: str
    """The tenant's display name."""
    site: SitePlan
    """What MkDocs gets."""
    apps: tuple[tuple[str, str], ...]
    """(title, page path) per app, for the tenant directory."""
    warnings: tuple[Problem, ...] = ()
    """Non-fatal findings."""
    digests: dict[str, str] = field(default_factory=dict)
    """Hash of every input part, for incremental builds and the "why rebuilt" report."""
    roles: tuple[tuple[str, str], ...] = ()
    """(role, text) of every value on the tenant's pages, for sharing one MkDocs run."""
    stable_until: str | None = None
    """Until when the pages stay as they are if no input changes (certificate thresholds)."""
    inputs: str | None = None
    """:func:`inputs_digest` of the tenant, recorded in its manifest."""

    def manifest(self) -> dict[str, Any]:
        """What the tenant's manifest records."""
        return {
            "name": self.name,
            "apps": self.apps,
            "pages": len(self.site.pages),
            "digests": self.digests,
            "inputs": self.inputs,
            "stable_until": self.stable_until,
        }


class Progress(Protocol):
    """Told how many tenants a run covers, then each tenant's result as it finishes."""

    def start(self, total: int) -> None:
        """The run covers ``total`` tenants."""

    def done(self, result: TenantResult) -> None:
        """One tenant finished."""


class _Silent:
    def start(self, total: int) -> None:
        pass

    def done(self, result: TenantResult) -> None:
        pass


# --- the two commands -------------------------------------------------------------------


def build(project: Project, selection: Selection, progress: Progress | None = None) -> RunResult:
    """Build and publish the selected tenants; failed tenants keep their previous site."""
    templates, renderer = load_template_set(project)
    tenants, results = load_tenants(project, templates, selection)
    loader = metadata_loader(project, selection)
    progress = progress or _Silent()
    progress.start(len(tenants) + len(results))
    done = progress.done
    for result in results:
        done(result)
    shared = run_inputs(templates)
    with publish.site_lock(project.site):
        publish.recover(project.site)
        to_build = []
        for tenant, warnings in tenants:
            started = time.monotonic()
            apps = tenant.app_names(templates.apps)
            inputs = inputs_digest(tenant, apps, project, shared)
            if not selection.force and _up_to_date(project.site, tenant.slug, inputs, loader.now):
                # Nothing it is built from changed: skipped without rendering a page.
                manifest = publish.read_manifest(project.site, tenant.slug) or {}
                pages = int(manifest.get("pages", 0))
                results.append(
                    TenantResult(
                        tenant.slug,
                        "unchanged",
                        tenant.name.value,
                        pages,
                        0.0,
                        "inputs unchanged",
                        warnings,
                    )
                )
                done(results[-1])
                continue
            try:
                plan = plan_tenant(tenant, warnings, templates, renderer, loader, shared)
                plan = replace(plan, inputs=inputs)
            except TenantError as exc:
                results.append(_failed(tenant.slug, tenant.name.value, exc, started))
                done(results[-1])
                continue
            reason = _rebuild_reason(project.site, plan, selection.force)
            if reason is None:
                # Same pages from changed inputs (e.g. an edit to another tenant's app):
                # record the inputs, so the next run skips it without rendering.
                publish.write_manifest(project.site, plan.slug, plan.manifest())
                pages = len(plan.site.pages)
                results.append(
                    TenantResult(
                        plan.slug,
                        "unchanged",
                        plan.name,
                        pages,
                        0.0,
                        "pages unchanged",
                        plan.warnings,
                    )
                )
                done(results[-1])
            else:
                to_build.append((plan, reason))
        results += _build_all(project, to_build, selection.jobs, done)
        if not selection.slugs and selection.shard is None:
            _prune(project.site, {t.slug for t, _ in tenants} | {r.slug for r in results})
        _write_directory(project.site)
    return RunResult("build", tuple(sorted(results, key=lambda r: r.slug)), templates.warnings)


def check(project: Project, selection: Selection) -> RunResult:
    """Validate every template against every selected tenant; write nothing."""
    try:
        templates, renderer = load_template_set(project)
    except TemplateError as exc:
        # The guides cannot be rendered; the tenant files can still be checked in this pass.
        names = (
            [f.name for f in app_folders(project.templates)] if project.templates.is_dir() else []
        )
        results = [
            _check_tenant_file(slug, path, names)
            for slug, path in _selected(project, selection).items()
        ]
        return RunResult("check", tuple(results), tuple(exc.problems))
    tenants, results = load_tenants(project, templates, selection)
    loader = metadata_loader(project, selection)
    for tenant, warnings in tenants:
        started = time.monotonic()
        try:
            plan = plan_tenant(tenant, warnings, templates, renderer, loader)
        except TenantError as exc:
            results.append(_failed(tenant.slug, tenant.name.value, exc, started))
            continue
        results.append(
            TenantResult(
                tenant.slug,
                "checked",
                tenant.name.value,
                len(plan.site.pages),
                time.monotonic() - started,
                problems=plan.warnings,
            )
        )
    return RunResult("check", tuple(sorted(results, key=lambda r: r.slug)), templates.warnings)


def refresh(project: Project, selection: Selection) -> RefreshResult:
    """Fetch every selected tenant's metadata URLs, update the cache, report what changed."""
    templates = load_templates(project.templates)
    tenants, failed = load_tenants(project, templates, selection)
    loader = MetadataLoader(project.tenants, project.cache, False, datetime.now(UTC))
    outcomes: list[RefreshOutcome] = []
    for tenant, _ in tenants:
        for app in tenant.app_names(templates.apps):
            ref = metadata_source(tenant, app)
            if ref is None or ref.kind != "url":
                continue
            try:
                fetch, document = loader.fetch(tenant, ref)
            except TenantError as exc:
                outcomes.append(
                    RefreshOutcome(
                        tenant.slug, app, ref.value, "failed", problems=tuple(exc.problems)
                    )
                )
                continue
            previous = _parse_quietly(fetch.previous, ref)
            changes = tuple(document_changes(previous, document)) if fetch.status != "stale" else ()
            warning = (
                (Problem(ref.location, fetch.warning, Severity.WARNING, tenant.slug),)
                if fetch.warning
                else ()
            )
            status = (
                "failed" if fetch.status == "stale" else ("changed" if changes else "unchanged")
            )
            outcomes.append(
                RefreshOutcome(
                    tenant.slug,
                    app,
                    ref.value,
                    status,
                    fetch.status,
                    fetch.entry.fetched_at,
                    changes,
                    warning,
                )
            )
    return RefreshResult(tuple(outcomes), tuple(failed))


def _parse_quietly(data: bytes | None, ref: SourceRef) -> IdpMetadata | None:
    if data is None:
        return None
    try:
        return parse_metadata(data, Path(ref.value), ref.entity_id)
    except TenantdocsError:
        return None


# --- loading ----------------------------------------------------------------------------


def load_template_set(project: Project) -> tuple[TemplateSet, Renderer]:
    """Scan the templates and compile them; raise TemplateError for any template problem."""
    templates = load_templates(project.templates)
    return templates, Renderer(templates)


def tenant_paths(tenants_dir: Path) -> dict[str, Path]:
    """Tenant files by slug (file stem); raise UsageError when the folder is missing."""
    if not tenants_dir.is_dir():
        raise UsageError(Problem(Location(tenants_dir), "tenants folder not found"))
    return {
        p.stem: p
        for p in sorted(tenants_dir.iterdir())
        if p.suffix in TENANT_SUFFIXES and p.is_file()
    }


def _selected(project: Project, selection: Selection) -> dict[str, Path]:
    """The tenant files a run covers (``--tenant``, ``--shard``), by slug."""
    paths = tenant_paths(project.tenants)
    for slug in selection.slugs:
        if slug not in paths:
            raise UsageError(
                Problem(
                    Location(project.tenants),
                    f"no tenant '{slug}' (no {slug}.yml here)"
                    + did_you_mean(suggest(slug, list(paths))),
                )
            )
    chosen = sorted(selection.slugs) if selection.slugs else sorted(paths)
    if selection.shard is not None:
        chosen = [slug for slug in chosen if in_shard(slug, *selection.shard)]
    return {slug: paths[slug] for slug in chosen}


def load_tenants(
    project: Project, templates: TemplateSet, selection: Selection
) -> tuple[list[tuple[Tenant, tuple[Problem, ...]]], list[TenantResult]]:
    """Validate the selected tenant files: valid tenants (with warnings), results for the rest."""
    tenants: list[tuple[Tenant, tuple[Problem, ...]]] = []
    failed: list[TenantResult] = []
    for slug, path in _selected(project, selection).items():
        started = time.monotonic()
        try:
            tenant, warnings = parse_tenant(_read_tenant_text(path), path, list(templates.apps))
        except TenantError as exc:
            failed.append(
                TenantResult(
                    slug,
                    "failed",
                    None,
                    0,
                    time.monotonic() - started,
                    "invalid tenant file",
                    tuple(exc.problems),
                )
            )
            continue
        tenants.append((tenant, tuple(warnings)))
    return tenants, failed


def _check_tenant_file(slug: str, path: Path, app_names: list[str]) -> TenantResult:
    """Validate one tenant file on its own (``check`` when the templates are broken)."""
    try:
        tenant, warnings = parse_tenant(_read_tenant_text(path), path, app_names)
    except TenantError as exc:
        return TenantResult(
            slug, "failed", None, problems=tuple(exc.problems), reason="invalid tenant file"
        )
    return TenantResult(slug, "checked", tenant.name.value, problems=tuple(warnings))


def _read_tenant_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise TenantError(Problem(Location(path, line), "tenant file is not UTF-8 text")) from None


def metadata_loader(project: Project, selection: Selection) -> MetadataLoader:
    """One loader per run: each metadata source is read or fetched once."""
    return MetadataLoader(project.tenants, project.cache, selection.offline, datetime.now(UTC))


def in_shard(slug: str, index: int, count: int) -> bool:
    """Whether ``slug`` belongs to shard ``index`` (1-based) of ``count``; stable per slug."""
    digest = hashlib.sha256(slug.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count == index - 1


# --- one tenant: values and pages -------------------------------------------------------


def plan_tenant(
    tenant: Tenant,
    warnings: Sequence[Problem],
    templates: TemplateSet,
    renderer: Renderer,
    loader: MetadataLoader,
    shared: RunInputs | None = None,
) -> TenantPlan:
    """Resolve values and render every page of one tenant; raise TenantError with all problems."""
    problems = list(warnings)
    pages: list[Page] = []
    value_sets: list[ValueSet] = []
    for app_name in tenant.app_names(templates.apps):
        app = templates.apps[app_name]
        try:
            metadata, fetch_warnings = loader.load(tenant, app_name)
            problems += fetch_warnings
            values = resolve_values(tenant, app, metadata)
            page = renderer.render_app(app, values, tenant.slug)
            pages.append(add_guide_panels(page, values, loader.now))
            value_sets.append(values)
        except TenantError as exc:
            problems += exc.problems
    problems += unused_values(tenant, templates)
    problems = collapse_repeats(problems)
    if any(p.severity is Severity.ERROR for p in problems):
        raise TenantError(problems)

    home = render_home(tenant.name.value, pages, value_sets, loader.now)
    files: dict[str, bytes] = {}
    for values in value_sets:
        for published in values.files:
            files[published.site_path] = published.data
    for page in pages:
        app = templates.apps[page.docs_path.split("/")[0]]
        for asset in app.assets:
            files[f"{app.name}/{asset.as_posix()}"] = (app.folder / asset).read_bytes()
    site = SitePlan(
        site_name=tenant.name.value,
        pages={"index.md": home, **{p.docs_path: p.markdown for p in pages}},
        files=dict(sorted(files.items())),
        nav=_nav(templates, pages),
        base_config=templates.base_config_path,
        sources={"": Location(tenant.path), **{p.docs_path: p.source for p in pages}},
        downloads=frozenset(f.site_path for values in value_sets for f in values.files),
    )
    return TenantPlan(
        slug=tenant.slug,
        name=tenant.name.value,
        site=site,
        apps=tuple((p.title, p.docs_path.removesuffix("index.md") + "index.html") for p in pages),
        warnings=tuple(problems),
        digests=_digests(site, shared or run_inputs(templates)),
        stable_until=stable_until(value_sets, loader.now),
        roles=tuple(roles(tenant.name.value, tenant.slug, str(Location(tenant.path)), value_sets)),
    )


def unused_values(tenant: Tenant, templates: TemplateSet) -> list[Problem]:
    """Warnings for values a tenant file sets that no guide of that tenant (or app) uses."""
    apps = [templates.apps[name] for name in tenant.app_names(templates.apps)]
    used_anywhere = set().union(*(templates.used_keys(app) for app in apps))
    found = [
        Problem(
            s.location,
            f"'{key}' is set but no guide of this tenant uses it",
            Severity.WARNING,
            tenant.slug,
        )
        for key, s in tenant.metadata.items()
        if key not in used_anywhere
    ]
    for app in apps:
        used = templates.used_keys(app)
        found += [
            Problem(
                s.location,
                f"'{key}' is set for '{app.name}' but its guide does not use it",
                Severity.WARNING,
                tenant.slug,
            )
            for key, s in tenant.app_entry(app.name).metadata.items()
            if key not in used
        ]
    return found


def collapse_repeats(problems: Sequence[Problem]) -> list[Problem]:
    """One line per distinct message (its first place), saying how many more places it has."""
    groups: dict[tuple[Severity, str], list[Problem]] = {}
    for problem in problems:
        group = groups.setdefault((problem.severity, problem.message), [])
        if all(p.location != problem.location for p in group):
            group.append(problem)
    collapsed = []
    for (_, message), group in groups.items():
        first = group[0]
        more = len(group) - 1
        if more:
            message += f" (and {more} more place{'s' if more > 1 else ''})"
        collapsed.append(replace(first, message=message))
    return collapsed


def _nav(templates: TemplateSet, pages: Sequence[Page]) -> list[dict[str, Any]]:
    """Home first, then the guides grouped by app category (ungrouped ones last)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    loose: list[dict[str, Any]] = []
    for page in sorted(pages, key=lambda p: (p.title.casefold(), p.docs_path)):
        app = templates.apps[page.docs_path.split("/")[0]]
        item = {page.title: page.docs_path}
        if app.category:
            groups.setdefault(app.category, []).append(item)
        else:
            loose.append(item)
    nav: list[dict[str, Any]] = [{"Home": "index.md"}]
    nav += [{category: groups[category]} for category in sorted(groups, key=str.casefold)]
    return nav + loose


# --- building and publishing ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunInputs:
    """What every tenant of a run is built from besides its own files, hashed once per run."""

    tool: str
    """Versions of tenantdocs, MkDocs and Material."""
    templates: str
    """SHA-256 over every file of the templates folder (names and bytes)."""
    base_config: str
    """SHA-256 of the base MkDocs configuration ('' without one)."""
    site_assets: str
    """SHA-256 of the stylesheet and script published in every site."""


def run_inputs(templates: TemplateSet) -> RunInputs:
    """Hash the inputs shared by every tenant of a run."""
    from importlib.metadata import version

    tree = hashlib.sha256()
    for path in sorted(p for p in templates.root.rglob("*") if p.is_file()):
        tree.update(path.relative_to(templates.root).as_posix().encode("utf-8") + b"\0")
        tree.update(hashlib.sha256(path.read_bytes()).digest())
    base = templates.base_config_path
    return RunInputs(
        tool=f"tenantdocs {__version__}, mkdocs {version('mkdocs')},"
        f" mkdocs-material {version('mkdocs-material')}",
        templates=tree.hexdigest(),
        base_config=_sha(base.read_bytes()) if base else "",
        site_assets=_sha(b"".join(site_assets().values())),
    )


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _digests(site: SitePlan, shared: RunInputs) -> dict[str, str]:
    """Hash of every part of a tenant's plan: what changed says why it is rebuilt."""
    digests = {
        "tool": shared.tool,
        "site": _sha(json.dumps([site.site_name, site.nav], sort_keys=True).encode()),
        "base config": shared.base_config,
        "site assets": shared.site_assets,
    }
    for docs_path, text in site.pages.items():
        digests[f"page {docs_path}"] = _sha(text.encode("utf-8"))
    for docs_path, data in site.files.items():
        digests[f"file {docs_path}"] = _sha(data)
    return digests


def inputs_digest(
    tenant: Tenant, app_names: Sequence[str], project: Project, shared: RunInputs
) -> str | None:
    """One hash of everything a tenant's site is built from, read without rendering a page.

    None when a source cannot be judged without fetching it (a metadata URL) or is not a
    readable file inside the tenants folder: the tenant is then planned in full.
    """
    parts = [shared.tool, shared.templates, shared.base_config, shared.site_assets]
    parts.append(_sha(tenant.path.read_bytes()))
    root = project.tenants.resolve()
    for app in app_names:
        ref = metadata_source(tenant, app)
        if ref is None:
            continue
        if ref.kind != "file":
            return None
        path = (project.tenants / ref.value).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
        parts.append(f"{app}:{_sha(path.read_bytes())}")
    return _sha("\n".join(parts).encode("utf-8"))


def stable_until(value_sets: Sequence[ValueSet], now: datetime) -> str | None:
    """When the pages could change with nothing else changing: the next certificate or
    document validity threshold (expiry warnings), ISO 8601; None when there is none."""
    moments = []
    for values in value_sets:
        for certificate in values.certificates:
            moments += [
                certificate.not_before,
                certificate.not_after - EXPIRY_WARNING,
                certificate.not_after,
            ]
        if values.metadata is not None and values.metadata.document.valid_until is not None:
            moments.append(values.metadata.document.valid_until)
    future = [m for m in moments if m > now]
    return min(future).isoformat() if future else None


def _up_to_date(site: Path, slug: str, inputs: str | None, now: datetime) -> bool:
    """Whether the tenant's published site was built from exactly these inputs, still valid."""
    if inputs is None or not (site / slug).is_dir():
        return False
    manifest = publish.read_manifest(site, slug)
    if manifest is None or manifest.get("inputs") != inputs:
        return False
    until = manifest.get("stable_until")
    return until is None or now < datetime.fromisoformat(str(until))


def _rebuild_reason(site: Path, plan: TenantPlan, force: bool) -> str | None:
    """Why the tenant must be built, or None when its published site is up to date."""
    if force:
        return "--force"
    manifest = publish.read_manifest(site, plan.slug)
    if manifest is None or not (site / plan.slug).is_dir():
        return "not built before"
    old = manifest.get("digests", {})
    changed = sorted(
        k for k in plan.digests.keys() | old.keys() if plan.digests.get(k) != old.get(k)
    )
    if not changed:
        return None
    shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    return f"changed: {shown}"


def _build_all(
    project: Project,
    work: list[tuple[TenantPlan, str]],
    jobs: int,
    done: Callable[[TenantResult], None],
) -> list[TenantResult]:
    """Build every planned tenant, ``jobs`` at a time; each one fails or succeeds alone.

    Tenants that differ only in plain values share one MkDocs run (:mod:`tenantdocs.skeleton`);
    the others, and any group whose skeleton could not be filled in exactly, are built alone.
    """
    groups: dict[str, list[tuple[TenantPlan, str, Sentinelized]]] = {}
    alone: list[tuple[TenantPlan, str]] = []
    cache = _SkeletonCache(project.site)
    # Which values vary is learnt from the tenants at hand; a lone tenant (the usual
    # incremental rebuild) uses what the last run with several tenants learnt.
    varying = varying_roles([p.roles for p, _ in work]) if len(work) > 1 else cache.varying()
    for plan, reason in work:
        shared = sentinelize(plan.site, plan.roles, varying) if varying else None
        if shared is None:
            alone.append((plan, reason))
        else:
            groups.setdefault(cache.key(shared, plan), []).append((plan, reason, shared))
    for key in [k for k, members in groups.items() if len(members) == 1 and not cache.has(k)]:
        plan, reason, _ = groups.pop(key)[0]
        alone.append((plan, reason))
    if len(work) > 1:
        cache.remember_varying(varying)

    results: list[TenantResult] = []

    def finished(result: TenantResult) -> None:
        results.append(result)
        done(result)

    with _pool(jobs) as pool:
        skeletons = {
            key: cache.get(key)
            or pool.submit(_build_skeleton, project.site, key, members[0][2].site)
            for key, members in groups.items()
        }
        pending: list[concurrent.futures.Future[list[TenantResult]]] = [
            pool.submit(_build_alone, project.site, plan, reason) for plan, reason in alone
        ]
        for key, built in skeletons.items():
            skeleton, problem, warnings = built.result()
            members = groups[key]
            if problem is not None:
                pending += [
                    pool.submit(_build_alone, project.site, plan, reason)
                    for plan, reason, _ in members
                ]
                continue
            if not warnings:
                skeleton = cache.keep(key, skeleton)
            if len(members) == 1:
                note = "; filled in from the MkDocs run kept from an earlier build"
            else:
                note = f"; one MkDocs run shared by {len(members)} tenants"
            for chunk in _chunks(members, jobs):
                pending.append(
                    pool.submit(_fill_in_all, project.site, skeleton, chunk, warnings, note)
                )
        for outcome in concurrent.futures.as_completed(pending):
            for result in outcome.result():
                finished(result)
    for key in groups:
        shutil.rmtree(
            publish.state_dir(project.site) / "staging" / f"skeleton-{key[:16]}", ignore_errors=True
        )
    cache.prune()
    return results


class _SkeletonCache:
    """Skeletons kept in ``site/.tenantdocs/skeletons/`` for the next run's lone rebuilds.

    A skeleton is kept only when it was filled in exactly (checked when it was built) and
    MkDocs warned about nothing; its key covers the shared plan and every shared input
    (tool versions, base configuration, site assets), so a kept one is what MkDocs would
    build again.
    """

    KEEP = 4

    def __init__(self, site: Path) -> None:
        self.root = publish.state_dir(site) / "skeletons"

    def key(self, shared: Sentinelized, plan: TenantPlan) -> str:
        inputs = [plan.digests.get(k, "") for k in ("tool", "base config", "site assets")]
        return _sha("\n".join([shared.key, *inputs]).encode("utf-8"))

    def has(self, key: str) -> bool:
        return (self.root / key[:32] / "site").is_dir()

    def get(
        self, key: str
    ) -> concurrent.futures.Future[tuple[Path, str | None, list[Problem]]] | None:
        if not self.has(key):
            return None
        future: concurrent.futures.Future[tuple[Path, str | None, list[Problem]]] = (
            concurrent.futures.Future()
        )
        future.set_result((self.root / key[:32] / "site", None, []))
        return future

    def keep(self, key: str, built: Path) -> Path:
        target = self.root / key[:32] / "site"
        if built == target:
            return target
        shutil.rmtree(target.parent, ignore_errors=True)
        target.parent.mkdir(parents=True)
        built.rename(target)
        return target

    def varying(self) -> set[str]:
        try:
            return set(json.loads((self.root / "varying.json").read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return set()

    def remember_varying(self, roles: set[str]) -> None:
        publish.write_atomic(self.root / "varying.json", json.dumps(sorted(roles)).encode("utf-8"))

    def prune(self) -> None:
        kept = sorted(
            (p for p in self.root.glob("*") if p.is_dir()),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for old in kept[self.KEEP :]:
            shutil.rmtree(old, ignore_errors=True)


class _InProcess(concurrent.futures.Executor):
    """``--jobs 1``: the same code path, run in this process."""

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


def _pool(jobs: int) -> concurrent.futures.Executor:
    if jobs <= 1:
        return _InProcess()
    context = multiprocessing.get_context("fork")
    return concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context)


def _chunks(items: list[Any], count: int) -> list[list[Any]]:
    size = max(1, -(-len(items) // max(1, count)))
    return [items[i : i + size] for i in range(0, len(items), size)]


def _build_skeleton(site: Path, key: str, plan: SitePlan) -> tuple[Path, str | None, list[Problem]]:
    """Build a group's shared plan once; say why it cannot be filled in exactly, if so."""
    root = publish.state_dir(site) / "staging" / f"skeleton-{key[:16]}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    try:
        warnings = build_site(plan, root / "work", root / "site")
    except TenantdocsError as exc:
        return root / "site", str(exc.problems[0].message), []
    sentinels = {s for s in _sentinels_in(plan)}
    return root / "site", skeleton_problem(root / "site", sentinels), warnings


def _sentinels_in(plan: SitePlan) -> set[str]:
    text = "\n".join([plan.site_name, *plan.pages.values(), json.dumps(plan.nav)])
    return set(SENTINEL.findall(text))


def _fill_in_all(
    site: Path,
    skeleton: Path,
    members: list[tuple[TenantPlan, str, Sentinelized]],
    warnings: list[Problem],
    note: str,
) -> list[TenantResult]:
    """Publish each member of a group from the group's skeleton."""
    results = []
    for plan, reason, shared in members:
        started = time.monotonic()
        staging = publish.staging_dir(site, plan.slug)
        try:
            fill_in(skeleton, staging / "site", shared.values, plan.site.files)
            publish.swap_in(site, plan.slug, staging / "site")
            publish.write_manifest(site, plan.slug, plan.manifest())
        except OSError as exc:
            problem = Problem(
                Location(site), f"cannot publish tenant '{plan.slug}': {exc.strerror or exc}"
            )
            results.append(
                _failed(plan.slug, plan.name, TenantError(problem), started, plan.warnings)
            )
            continue
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        own = [replace(w, message=fill_text(w.message, shared.values)) for w in warnings]
        results.append(
            TenantResult(
                plan.slug,
                "built",
                plan.name,
                len(plan.site.pages),
                time.monotonic() - started,
                reason + note,
                (*plan.warnings, *own),
            )
        )
    return results


def _build_alone(site: Path, plan: TenantPlan, reason: str) -> list[TenantResult]:
    return [_build_one(site, plan, reason)]


def _build_one(site: Path, plan: TenantPlan, reason: str) -> TenantResult:
    slug = plan.slug
    started = time.monotonic()
    staging = publish.staging_dir(site, slug)
    try:
        warnings = build_site(plan.site, staging / "work", staging / "site")
        publish.swap_in(site, slug, staging / "site")
        publish.write_manifest(site, slug, plan.manifest())
    except TenantdocsError as exc:
        return _failed(plan.slug, plan.name, exc, started, plan.warnings)
    except OSError as exc:  # e.g. the disk filled up while publishing
        problem = Problem(Location(site), f"cannot publish tenant '{slug}': {exc.strerror or exc}")
        return _failed(plan.slug, plan.name, TenantError(problem), started, plan.warnings)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return TenantResult(
        slug,
        "built",
        plan.name,
        len(plan.site.pages),
        time.monotonic() - started,
        reason,
        (*plan.warnings, *warnings),
    )


def _failed(
    slug: str, name: str, exc: TenantdocsError, started: float, earlier: Sequence[Problem] = ()
) -> TenantResult:
    problems = tuple(p if p.tenant else replace(p, tenant=slug) for p in (*earlier, *exc.problems))
    return TenantResult(
        slug,
        "failed",
        name,
        0,
        time.monotonic() - started,
        "previous site kept",
        problems,
    )


def _prune(site: Path, known: set[str]) -> None:
    """Unpublish tenants whose file was removed (only folders this tool published)."""
    for slug in publish.published_slugs(site):
        if slug not in known:
            publish.remove_tenant(site, slug)


def _write_directory(site: Path) -> None:
    entries = []
    for slug in publish.published_slugs(site):
        manifest = publish.read_manifest(site, slug) or {}
        apps = [(str(title), str(path)) for title, path in manifest.get("apps", [])]
        entries.append((slug, str(manifest.get("name", slug)), apps))
    publish.write_atomic(site / "index.html", render_directory(entries).encode("utf-8"))


def default_jobs() -> int:
    """Default for ``--jobs``: the machine's cores."""
    return os.cpu_count() or 1
