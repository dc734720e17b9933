"""The orchestrator: templates and tenants in, published tenant sites and a result out.

Reads top to bottom like the pipeline: load and scan templates → validate tenants → resolve
values and render every page of a tenant (all problems, one pass) → MkDocs builds the tenant
into a staging folder → atomic swap → manifest → tenant directory.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from tenantdocs import publish
from tenantdocs.adminpages import add_guide_panels, render_home
from tenantdocs.batch import Planned, TenantPlan, build_all, in_workers, warm_builder
from tenantdocs.errors import (
    Location,
    Problem,
    Severity,
    TemplateError,
    TenantError,
    UsageError,
    decode_utf8,
)
from tenantdocs.fetch import FetchSettings
from tenantdocs.incremental import (
    RunInputs,
    digests,
    inputs_digest,
    rebuild_reason,
    run_inputs,
    sha,
    stable_until,
    up_to_date,
)
from tenantdocs.keys import did_you_mean, suggest
from tenantdocs.render import Page, Renderer, render_directory
from tenantdocs.report import RunResult, TenantResult, TenantStatus, failed_result
from tenantdocs.sitebuild import LARGE_SITE_PAGES, SitePlan
from tenantdocs.skeleton import marked, place_roles, roles
from tenantdocs.sources import MetadataLoader, metadata_source
from tenantdocs.templates import (
    App,
    LazyApps,
    TemplateSet,
    app_folders,
    load_templates,
    open_templates,
    scan_templates,
)
from tenantdocs.tenants import Tenant, parse_tenant
from tenantdocs.values import ValueSet, resolve_values
from tenantdocs.yamlfile import MAX_YAML_BYTES

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
    fetching: FetchSettings = field(default_factory=FetchSettings)
    """Fetches at once, per host, and which hosts may be fetched from."""


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
    """Build and publish the selected tenants; failed tenants keep their previous site.

    Templates are read as needed: an app's guide is scanned and compiled only when a tenant
    that uses it must be planned, so a no-op rebuild reads no guide. Template errors still
    refuse the run (exit 2, nothing written) when a tenant to be built uses the broken
    guide; an error in a guide that no tenant to be built uses does not block the others
    (``check`` reports every template problem at once).
    """
    templates, lazy, renderer = open_template_set(project)
    tenants, results = load_tenants(project, templates, selection)
    loader = metadata_loader(project, selection)
    progress = progress or _Silent()
    progress.start(len(tenants) + len(results))
    done = progress.done
    for result in results:
        done(result)
    shared = run_inputs(templates)
    published = {
        tenant.slug: _published(project, selection, tenant, templates, shared, loader.now)
        for tenant, _ in tenants
    }
    needed = {
        app
        for tenant, _ in tenants
        if not published[tenant.slug].fresh
        for app in tenant.app_names(templates.apps)
    }
    # While the workers check the guides, this process loads MkDocs and the theme once for
    # every process that will build.
    warm = functools.partial(warm_builder, templates.base_config_path)
    broken = app_template_errors(
        templates, lazy, renderer, sorted(needed), selection.jobs, meanwhile=warm
    )
    if broken:
        raise TemplateError(broken)
    with publish.site_lock(project.site):
        publish.recover(project.site)
        # What was read before the lock is still the truth unless something was published
        # (or restored) since: another build that ended in between.
        for tenant, _ in tenants:
            if publish.published_stamp(project.site, tenant.slug) != published[tenant.slug].stamp:
                published[tenant.slug] = _published(
                    project, selection, tenant, templates, shared, loader.now
                )

        # Fetched only for the tenants that will be planned; the others are not read again.
        prefetch(loader, [t for t in tenants if not published[t[0].slug].fresh], templates)
        loader.settle()  # the workers that plan the tenants are forked with every answer
        unchanged: dict[str, publish.Manifest] = {}

        def to_plan() -> Iterator[int]:
            # Consumed as the batch asks for tenants: a window of plans is held at once.
            for index, (tenant, warnings) in enumerate(tenants):
                state = published[tenant.slug]
                if state.fresh and state.previous is not None:
                    # Nothing it is built from changed: skipped without rendering a page.
                    unchanged[tenant.slug] = state.previous
                    results.append(
                        TenantResult(
                            tenant.slug,
                            TenantStatus.UNCHANGED,
                            tenant.name.value,
                            state.previous.pages,
                            0.0,
                            "inputs unchanged",
                            warnings,
                        )
                    )
                    done(results[-1])
                    continue
                yield index

        planner = _Planner(
            project.site, selection.force, templates, renderer, loader, shared, tenants, published
        )
        # No worker processes to start for one tenant (the usual rebuild after an edit).
        jobs = min(selection.jobs, sum(not state.fresh for state in published.values()))
        results += build_all(
            project.site,
            to_plan(),
            jobs,
            done,
            planner.plan,
            # One tenant to build: its pages can have the cores the tenants would have had.
            page_jobs=selection.jobs,
        )
        if not selection.slugs and selection.shard is None:
            _prune(project.site, {t.slug for t, _ in tenants} | {r.slug for r in results})
        write_directory(project.site, known=unchanged)
    return RunResult("build", tuple(sorted(results, key=lambda r: r.slug)), lazy.warnings())


@dataclass(frozen=True, slots=True)
class _Planner:
    """Plans one tenant of a build; runs in the worker processes, which get it by fork."""

    site: Path
    """The site folder."""
    force: bool
    """``--force``: build even when the pages come out as published."""
    templates: TemplateSet
    """The run's templates."""
    renderer: Renderer
    """Their compiled guides."""
    loader: MetadataLoader
    """The run's metadata, fetched before the workers started."""
    shared: RunInputs
    """The inputs every tenant shares."""
    tenants: Sequence[tuple[Tenant, tuple[Problem, ...]]]
    """The run's valid tenants with their warnings."""
    published: Mapping[str, _Published]
    """Each tenant's published build as the run found it."""

    def plan(self, index: int) -> Planned:
        """Plan tenant ``index``: its plan and why it is built, or its result when the plan
        failed or its pages come out as they are published (its manifest is brought up to
        date, so the next run skips it without rendering)."""
        tenant, warnings = self.tenants[index]
        started = time.monotonic()
        state = self.published[tenant.slug]
        if state.unusable is not None:
            warnings = (*warnings, state.unusable)
        try:
            plan = plan_tenant(
                tenant, warnings, self.templates, self.renderer, self.loader, self.shared
            )
        except TenantError as exc:
            return failed_result(tenant.slug, tenant.name.value, exc, started)
        plan = replace(plan, inputs=state.inputs)
        reason = rebuild_reason(self.site, plan.slug, plan.digests, self.force, state.previous)
        if reason is not None:
            return plan, reason
        publish.write_manifest(self.site, plan.slug, plan.manifest())
        return TenantResult(
            plan.slug,
            TenantStatus.UNCHANGED,
            plan.name,
            len(plan.site.pages),
            0.0,
            "pages unchanged",
            plan.warnings,
        )


def check(project: Project, selection: Selection) -> RunResult:
    """Validate every template against every selected tenant; write nothing.

    Template errors do not stop it: the guides are still rendered for every tenant (an
    unknown key is reported once, with its template), so missing values show in one pass.
    """
    template_problems: list[Problem] = []
    try:
        templates, template_problems = scan_templates(project.templates)
        renderer = Renderer(templates)
    except TemplateError as exc:
        # No guide can be rendered (no folder, a Jinja syntax error): the tenant files can
        # still be checked in this pass.
        names = (
            [f.name for f in app_folders(project.templates)] if project.templates.is_dir() else []
        )
        results = [
            _check_tenant_file(slug, path, names)
            for slug, path in _selected(project, selection).items()
        ]
        return RunResult("check", tuple(results), (*template_problems, *exc.problems))
    # Placeholders already reported as template errors are not repeated for each tenant.
    reported = {p.location for p in template_problems if p.severity is Severity.ERROR}
    tenants, results = load_tenants(project, templates, selection)
    loader = metadata_loader(project, selection, keep=False)  # check writes nothing
    prefetch(loader, tenants, templates)
    for tenant, warnings in tenants:
        started = time.monotonic()
        try:
            plan = plan_tenant(tenant, warnings, templates, renderer, loader)
        except TenantError as exc:
            own = [p for p in exc.problems if p.location not in reported]
            if any(p.severity is Severity.ERROR for p in own):
                results.append(
                    failed_result(tenant.slug, tenant.name.value, TenantError(own), started)
                )
                continue
            apps = [templates.apps[name] for name in tenant.app_names(templates.apps)]
            pages = 1 + sum(1 for app in apps if templates.parts(app))  # the home, the guides
            results.append(
                TenantResult(
                    tenant.slug,
                    TenantStatus.CHECKED,
                    tenant.name.value,
                    pages,
                    time.monotonic() - started,
                    problems=tuple(own),
                )
            )
            continue
        results.append(
            TenantResult(
                tenant.slug,
                TenantStatus.CHECKED,
                tenant.name.value,
                len(plan.site.pages),
                time.monotonic() - started,
                problems=plan.warnings,
            )
        )
    return RunResult(
        "check", tuple(sorted(results, key=lambda r: r.slug)), tuple(template_problems)
    )


# --- loading ----------------------------------------------------------------------------


def load_template_set(project: Project) -> tuple[TemplateSet, Renderer]:
    """Scan the templates and compile them; raise TemplateError for any template problem."""
    templates = load_templates(project.templates)
    return templates, Renderer(templates)


def open_template_set(project: Project) -> tuple[TemplateSet, LazyApps, Renderer]:
    """The templates for ``build``, read as needed (:func:`open_templates`); raise
    TemplateError for problems in the parts every tenant shares."""
    templates, lazy = open_templates(project.templates)
    renderer = Renderer(templates, eager=False)
    shared = [p for p in (templates.prefix, templates.fallback, templates.suffix) if p]
    errors = renderer.problems(shared)
    if errors:
        raise TemplateError(errors)
    return templates, lazy, renderer


@dataclass(frozen=True, slots=True)
class _Published:
    """A tenant's published build as this run finds it, read once."""

    inputs: str | None
    """:func:`inputs_digest` of the tenant now."""
    previous: publish.Manifest | None
    """Its manifest, if readable."""
    unusable: Problem | None
    """Why its manifest could not be used."""
    fresh: bool
    """Whether it was built from exactly these inputs and is still valid (and no --force)."""
    stamp: tuple[int, ...]
    """:func:`publish.published_stamp` when this was read."""


def _published(
    project: Project,
    selection: Selection,
    tenant: Tenant,
    templates: TemplateSet,
    shared: RunInputs,
    now: datetime,
) -> _Published:
    """Whether the tenant's inputs are unchanged since its published build (read-only)."""
    stamp = publish.published_stamp(project.site, tenant.slug)
    inputs = inputs_digest(tenant, tenant.app_names(templates.apps), project.tenants, shared)
    previous, unusable = publish.read_manifest(project.site, tenant.slug)
    fresh = not selection.force and up_to_date(project.site, tenant.slug, inputs, now, previous)
    return _Published(inputs, previous, unusable, fresh, stamp)


def app_template_errors(
    templates: TemplateSet,
    lazy: LazyApps,
    renderer: Renderer,
    names: Sequence[str],
    jobs: int = 1,
    meanwhile: Callable[[], None] | None = None,
) -> list[Problem]:
    """The errors in the guides and app files of apps ``names`` (scanned and compiled now).

    With ``jobs`` above one, a large set (a run of hundreds of tenants with their own apps)
    is checked by that many worker processes, while this process runs ``meanwhile``; the
    scanned apps are kept here, the compiled guides are not (each process that renders a
    guide compiles it again).
    """
    if jobs > 1 and len(names) >= PARALLEL_CHECK:
        check = functools.partial(_check_app, templates, lazy, renderer)
        errors = []
        for name, (app, problems, compiled) in zip(
            names, in_workers(check, names, jobs, meanwhile), strict=True
        ):
            lazy.adopt(name, app, problems)
            errors += [p for p in problems if p.severity is Severity.ERROR]
            errors += compiled
        return errors
    errors = []
    for name in names:
        errors += [p for p in lazy.problems(name) if p.severity is Severity.ERROR]
        errors += renderer.problems(templates.parts(lazy[name]))
    return errors


PARALLEL_CHECK = 64
"""Apps to check from which worker processes are worth starting."""


def _check_app(
    templates: TemplateSet, lazy: LazyApps, renderer: Renderer, name: str
) -> tuple[App, tuple[Problem, ...], list[Problem]]:
    """One app scanned and compiled: the app, its scan's problems, its compile errors."""
    app, problems = lazy.scanned(name)
    return app, problems, renderer.problems(templates.parts(lazy[name]))


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
    names = frozenset(templates.apps)
    for slug, path in _selected(project, selection).items():
        started = time.monotonic()
        try:
            tenant, warnings = parse_tenant(_read_tenant_text(path), path, names)
        except TenantError as exc:
            failed.append(
                TenantResult(
                    slug,
                    TenantStatus.FAILED,
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
            slug,
            TenantStatus.FAILED,
            None,
            problems=tuple(exc.problems),
            reason="invalid tenant file",
        )
    return TenantResult(slug, TenantStatus.CHECKED, tenant.name.value, problems=tuple(warnings))


def _read_tenant_text(path: Path) -> str:
    """A tenant file's text: a regular file in the tenants folder, at most MAX_YAML_BYTES."""
    if path.is_symlink() and not path.resolve().is_relative_to(path.parent.resolve()):
        raise TenantError(
            Problem(Location(path), "tenant file is a link to outside the tenants folder")
        )
    with path.open("rb") as stream:
        data = stream.read(MAX_YAML_BYTES + 1)
    if len(data) > MAX_YAML_BYTES:
        raise TenantError(Problem(Location(path), f"file is larger than {MAX_YAML_BYTES} bytes"))
    return decode_utf8(data, path, TenantError)


def metadata_loader(project: Project, selection: Selection, *, keep: bool = True) -> MetadataLoader:
    """One loader per run: each metadata source is read or fetched once."""
    return MetadataLoader(
        project.tenants,
        project.cache,
        selection.offline,
        datetime.now(UTC),
        keep=keep,
        settings=selection.fetching,
    )


def prefetch(
    loader: MetadataLoader,
    tenants: Sequence[tuple[Tenant, tuple[Problem, ...]]],
    templates: TemplateSet,
) -> None:
    """Fetch every metadata URL the tenants' apps name, all at once (per-host limits apply)."""
    loader.prefetch(
        ref
        for tenant, _ in tenants
        for app in tenant.app_names(templates.apps)
        if (ref := metadata_source(tenant, app)) is not None
    )


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
    apps = [
        plan_app(tenant, name, templates, renderer, loader)
        for name in tenant.app_names(templates.apps)
    ]
    return assemble_plan(
        tenant, warnings, templates, apps, loader.now, shared or run_inputs(templates)
    )


HomeRenderer = Callable[[str, Sequence[Page], Sequence[ValueSet], datetime], str]
"""Renders a tenant's home from its name, pages, values and the time (:func:`render_home`)."""


@dataclass(frozen=True, slots=True)
class AppPlan:
    """One app of a tenant: its values and page, or the problems that stop them."""

    problems: tuple[Problem, ...]
    """Fetch warnings, and the errors when the page could not be rendered."""
    page: Page | None = None
    """The guide with its panels; None when it could not be rendered."""
    values: ValueSet | None = None
    """The app's resolved values; None when they could not be resolved."""


def plan_app(
    tenant: Tenant,
    app_name: str,
    templates: TemplateSet,
    renderer: Renderer,
    loader: MetadataLoader,
) -> AppPlan:
    """Resolve one app's values and render its guide; problems instead of raising."""
    app = templates.apps[app_name]
    if not templates.parts(app):
        return AppPlan(())  # no guide at all: a template error, reported once by ``check``
    problems: list[Problem] = []
    try:
        metadata, fetch_warnings = loader.load(tenant, app_name)
        problems += fetch_warnings
        values = resolve_values(tenant, app, metadata)
        page = _app_page(app, values, renderer, tenant.slug, loader.now)
    except TenantError as exc:
        return AppPlan((*problems, *exc.problems))
    return AppPlan(tuple(problems), page, values)


def marked_page(
    app: App, values: ValueSet, renderer: Renderer, slug: str, now: datetime
) -> str | None:
    """The app's page as :func:`plan_app` renders it, from its values marked with their
    roles' sentinels (:func:`~tenantdocs.skeleton.marked`); None when it cannot be."""
    try:
        return _app_page(app, marked(values), renderer, slug, now).markdown
    except TenantError:
        return None  # an opt-in Jinja template that reads the values themselves


def _app_page(app: App, values: ValueSet, renderer: Renderer, slug: str, now: datetime) -> Page:
    """The app's guide rendered with ``values``, its panels added; raise TenantError."""
    return add_guide_panels(renderer.render_app(app, values, slug), values, now)


def assemble_plan(
    tenant: Tenant,
    warnings: Sequence[Problem],
    templates: TemplateSet,
    apps: Sequence[AppPlan],
    now: datetime,
    shared: RunInputs | None,
    home: HomeRenderer = render_home,
    places: Sequence[tuple[str, str]] | None = None,
) -> TenantPlan:
    """The tenant's site from its planned apps (home, files, navigation); raise TenantError
    with every problem. Without ``shared`` the plan has no digests (the preview's case);
    ``home`` renders the tenant home (the preview passes one that reuses the last);
    ``places`` are the apps' :func:`~tenantdocs.skeleton.place_roles` when the caller keeps
    them (worked out here otherwise)."""
    problems = list(warnings)
    pages: list[Page] = []
    value_sets: list[ValueSet] = []
    for planned in apps:
        problems += planned.problems
        if planned.page is not None and planned.values is not None:
            pages.append(planned.page)
            value_sets.append(planned.values)
    problems += unused_values(tenant, templates)
    problems = collapse_repeats(problems)
    if any(p.severity is Severity.ERROR for p in problems):
        raise TenantError(problems)

    home_text = home(tenant.name.value, pages, value_sets, now)
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
        pages={"index.md": home_text, **{p.docs_path: p.markdown for p in pages}},
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
        digests=digests(site, shared) if shared is not None else {},
        stable_until=stable_until(value_sets, now),
        roles=(
            *roles(tenant.name.value, tenant.slug, str(Location(tenant.path)), value_sets),
            *(places if places is not None else _places(value_sets)),
        ),
    )


def _places(value_sets: Sequence[ValueSet]) -> Iterator[tuple[str, str]]:
    # Where each value stands is a role too: tenant files laid out differently (a comment on
    # top, apps in another order) then still share their guides' sentinel form.
    for values in value_sets:
        yield from place_roles(values)


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
    """Home first, then the guides grouped by app category (ungrouped ones last).

    A site with more than :data:`LARGE_SITE_PAGES` guides also groups, by first letter,
    the guides without a category and each category longer than that: every list stays
    short enough to scan, and a page carries only the open section (``navigation.prune``).
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    loose: list[dict[str, Any]] = []
    for page in sorted(pages, key=lambda p: (p.title.casefold(), p.docs_path)):
        app = templates.apps[page.docs_path.split("/")[0]]
        item = {page.title: page.docs_path}
        if app.category:
            groups.setdefault(app.category, []).append(item)
        else:
            loose.append(item)
    large = len(pages) > LARGE_SITE_PAGES
    nav: list[dict[str, Any]] = [{"Home": "index.md"}]
    for category in sorted(groups, key=str.casefold):
        items = groups[category]
        nav.append(
            {category: _by_letter(items) if large and len(items) > LARGE_SITE_PAGES else items}
        )
    if large and len(loose) > LARGE_SITE_PAGES:
        letters = _by_letter(loose)
        return nav + ([{"Other apps": letters}] if groups else letters)
    return nav + loose


def _by_letter(items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Navigation items (sorted by title) in sections by the title's first letter (titles
    that start otherwise come first, under "0–9 …"); a letter with more items than
    :data:`LARGE_SITE_PAGES` is cut into runs of that many, each named by its first and
    last title."""
    sections: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        first = next(iter(item)).lstrip()[:1].upper()
        sections.setdefault(first if first.isalpha() else "0–9 …", []).append(item)
    grouped: list[dict[str, Any]] = []
    for letter in sorted(sections, key=lambda k: (k.isalpha(), k)):
        members = sections[letter]
        if len(members) > LARGE_SITE_PAGES:
            runs = [
                members[i : i + LARGE_SITE_PAGES] for i in range(0, len(members), LARGE_SITE_PAGES)
            ]
            members = [{f"{next(iter(r[0]))} – {next(iter(r[-1]))}": r} for r in runs]
        grouped.append({letter: members})
    return grouped


# --- building and publishing ------------------------------------------------------------


def _prune(site: Path, known: set[str]) -> None:
    """Unpublish tenants whose file was removed (only folders this tool published)."""
    for slug in publish.published_slugs(site):
        if slug not in known:
            publish.remove_tenant(site, slug)


def write_directory(
    site: Path,
    slugs: Sequence[str] | None = None,
    known: Mapping[str, publish.Manifest] | None = None,
) -> None:
    """Write ``site/index.html``: the given tenants (default: the published ones), each with
    its name and apps from its manifest (a tenant not built yet is listed by its slug).

    ``known`` holds manifests already read in this run and not written since.
    """
    published = publish.published_slugs(site)
    known = known or {}
    entries: list[tuple[str, str, list[tuple[str, str]]]] = []
    for slug in published if slugs is None else slugs:
        if slug not in published:
            manifest = None
        elif slug in known:
            manifest = known[slug]
        else:
            manifest = publish.read_manifest(site, slug)[0]
        if manifest is None:
            entries.append((slug, slug, []))
        else:
            entries.append((slug, manifest.name, list(manifest.apps)))
    # At 500 tenants it is 1.7 MB to render and write again: skipped when the entries and
    # the template are those it was last written from.
    written = publish.state_dir(site) / "directory.sha256"
    template = resources.files("tenantdocs").joinpath("assets", "directory.html").read_bytes()
    digest = sha(json.dumps(entries).encode("utf-8") + template).encode("ascii")
    with contextlib.suppress(OSError):  # no digest: written again
        if (site / "index.html").is_file() and written.read_bytes() == digest:
            return
    publish.write_atomic(site / "index.html", render_directory(entries).encode("utf-8"))
    publish.write_atomic(written, digest)


def default_jobs() -> int:
    """Default for ``--jobs``: the machine's cores."""
    return os.cpu_count() or 1
