"""``serve``: a live preview of tenant sites for doc writers.

The preview builds into a private folder (never the published ``--site``) with the same
pipeline as ``build``, so what a writer sees is what would be published. It watches the
templates folder (guides, shared parts, app files, base configuration) and the tenants
folder (tenant files and local metadata files), rebuilds what changed and reloads the
browser. A broken edit prints its located errors and the last good pages stay served.
The tenant directory at ``/`` lists every tenant; opening another tenant builds it on the
spot, so switching tenants needs no restart.

Between rebuilds the preview keeps what did not change: each template part's scan and
compiled form (by its text), each app's values and page (by its template parts, its app
files, the tenant file and its metadata file), and each tenant's site with its docs
folder (see :class:`~tenantdocs.sitebuild.LiveSite`), so an edit to one guide converts and
renders that one page. Whatever changes the navigation, the site name, the set of pages or
the base configuration and theme files rebuilds that tenant's whole site; the pages viewed
lately are rendered alone and shown before the rest of such a rebuild.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from tenantdocs import publish
from tenantdocs.adminpages import render_home
from tenantdocs.batch import TenantPlan
from tenantdocs.errors import Location, Problem, TenantdocsError, UsageError
from tenantdocs.files import write_own
from tenantdocs.pipeline import (
    AppPlan,
    Project,
    Selection,
    assemble_plan,
    default_jobs,
    load_tenants,
    marked_page,
    metadata_loader,
    plan_app,
    tenant_paths,
    write_directory,
)
from tenantdocs.placeholders import ScannedTemplate
from tenantdocs.render import Page, Renderer
from tenantdocs.sitebuild import LiveSite, NavItem, SitePlan, serve_live
from tenantdocs.skeleton import (
    SENTINEL,
    Sentinelized,
    fill_text,
    place_roles,
    revalued,
    sentinelize,
    sentinelize_marked,
    skeleton_problem,
)
from tenantdocs.sources import local_metadata_path, metadata_source, read_metadata_file
from tenantdocs.templates import (
    GUIDE,
    PREFIX,
    SHARED,
    SUFFIX,
    App,
    ScanCache,
    TemplateSet,
    load_templates,
)
from tenantdocs.tenants import Tenant
from tenantdocs.values import ValueSet

_SENTINEL_BYTES = re.compile(SENTINEL.pattern.encode("ascii"))
"""A sentinel in an output file's bytes (sentinels are ASCII)."""


@dataclass(slots=True)
class _KeptApp:
    """One app's plan and what it was made from (mutable memory of the preview, not data)."""

    app: App
    """The app folder as loaded (guide, defaults, category, assets)."""
    parts: tuple[ScannedTemplate, ...]
    """The template parts of its page."""
    source: str
    """Its metadata source: the file's hash, or the URL (fetched once per tenant file)."""
    planned: AppPlan
    """Its values and page."""
    now: datetime
    """The time it was planned at (certificate warnings depend on it)."""
    places: tuple[tuple[str, str], ...]
    """The roles of where its values stand in the tenant file (:func:`place_roles`)."""
    marked: str | None = None
    """Its page rendered from marked values (:func:`marked_page`), once asked for."""


@dataclass(slots=True)
class _KeptTenant:
    """What the preview keeps of one tenant between rebuilds."""

    site: LiveSite
    """Its site, docs folder and search index."""
    tenant: Tenant | None = None
    """The tenant file the kept apps were planned with."""
    apps: dict[str, _KeptApp] = field(default_factory=dict)
    """Planned apps by name."""
    until: datetime | None = None
    """The kept pages hold until then (a certificate reaching a warning threshold)."""
    home: tuple[object, str] | None = None
    """The last home and what it was rendered from (its pages without their Markdown)."""
    filled: _Filled | None = None
    """The skeleton the served site was filled in from; None when it was built plain."""
    plain: bool = False
    """Its sentinel plan could not be filled in exactly: its site is built plain."""
    sentinels: _SentinelPlans = field(default_factory=lambda: _SentinelPlans())
    """Each page's sentinel form, kept for the next rebuild."""
    served: SitePlan | None = None
    """The plan the served site was last brought in line with (its plain values)."""

    def forget(self) -> None:
        """Drop the kept apps and home (the tenant file changed, or time passed a threshold)."""
        self.apps.clear()
        self.home = None

    def render_home(
        self, name: str, pages: Sequence[Page], value_sets: Sequence[ValueSet], now: datetime
    ) -> str:
        """:func:`render_home`, or the last home when its inputs are the same."""
        # The home shows each page's title, link, category and keys, never its Markdown.
        key = (name, [replace(p, markdown="") for p in pages], list(value_sets))
        if self.home is None or self.home[0] != key:
            self.home = (key, render_home(name, pages, value_sets, now))
        return self.home[1]


@dataclass(frozen=True, slots=True)
class _Refused:
    """Why an edit could not be filled in exactly."""

    reason: str
    """What was found, as said to the writer."""
    plain: bool
    """Whether the site must be built plain (else a new skeleton will do)."""


class _Filled:
    """A tenant's served site as its kept skeleton (the MkDocs output of its sentinel plan)
    filled in with its values; what each output file holds, to fill in only what an edit
    changed (mutable memory of the preview, not data)."""

    def __init__(self, skeleton: Path, values: Mapping[str, str], quiet: bool) -> None:
        self.skeleton = skeleton
        """The MkDocs output of the sentinel plan."""
        self.values = dict(values)
        """Sentinel → the value the served site shows for it."""
        self.quiet = quiet
        """Whether MkDocs warned about nothing since the last full build: only then is an
        edit filled in without a MkDocs run (as ``build`` keeps only such runs)."""
        self.holds: dict[str, frozenset[str]] = {}
        """Output path → the sentinels in that file of the skeleton."""

    @classmethod
    def fill(
        cls, skeleton: Path, target: Path, shared: Sentinelized, warnings: Sequence[Problem]
    ) -> _Filled:
        """Fill ``skeleton`` into ``target`` (a fresh folder) with the plan's values."""
        filled = cls(skeleton, shared.values, not warnings)
        paths = [p.relative_to(skeleton).as_posix() for p in sorted(skeleton.rglob("*"))]
        filled.refill(target, [p for p in paths if (skeleton / p).is_file()])
        return filled

    def refill(self, target: Path, paths: Sequence[str]) -> None:
        """Write each output path into ``target`` from the skeleton with the values (never
        through a link: every file written is the served site's own)."""
        folders: set[Path] = set()
        for path in paths:
            out = target / path
            if out.parent not in folders:
                out.parent.mkdir(parents=True, exist_ok=True)
                folders.add(out.parent)
            source = self.skeleton / path
            if not source.is_file():
                out.unlink(missing_ok=True)
                self.holds.pop(path, None)
                continue
            data = source.read_bytes()
            found = frozenset(m.decode() for m in _SENTINEL_BYTES.findall(data))
            self.holds[path] = found
            if found:
                data = fill_text(data.decode("utf-8"), self.values).encode("utf-8")
            write_own(out, data)

    def update(
        self, live: LiveSite, shared: Sentinelized, target: Path
    ) -> tuple[str, list[Problem]] | _Refused:
        """Rebuild the changed pages into the skeleton and fill in what changed; or why
        that would not be exact (a full build is then needed)."""
        if not self.quiet and shared.values != self.values:
            return _Refused("MkDocs warned on the last build", plain=False)
        changed, found = live.update(shared.site, self.skeleton)
        outputs = live.outputs(changed)
        problem = skeleton_problem(self.skeleton, shared.values, outputs)
        if problem is not None:
            return _Refused(problem, plain=True)
        self.quiet = self.quiet and not found
        # A sentinel gone from the plan is gone from every page that changed with it; the
        # pages holding a sentinel whose value changed are filled in again.
        moved = {s for s, value in shared.values.items() if self.values.get(s) not in (None, value)}
        gone = set(self.values) - set(shared.values)
        self.values = dict(shared.values)
        refill = {p for p, held in self.holds.items() if held & moved} - set(outputs)
        stale = {p for p, held in self.holds.items() if held & gone}
        self.refill(target, sorted({*outputs, *refill, *stale}))
        how = _changed(changed)
        if refill:
            pages = sum(1 for p in refill if p.endswith(".html"))
            filled = f"{_counted(pages, 'page')} filled in with new values"
            how = f"{how}, {filled}" if changed else filled
        return how, _own(found, self.values)


_Marked = Callable[[str], tuple[str, ValueSet] | None]
"""A guide's page (by docs path) rendered from marked values, and its values; None when
there is none."""


class _PathTexts:
    """The texts that are part of one of ``paths`` (docs paths), asked text by text: a site
    of 750 guides has some 2,000 paths and a million such texts (a fifth of a second to
    list whenever a file comes or goes), and only its values are ever asked about."""

    def __init__(self, paths: tuple[str, ...]) -> None:
        self.paths = paths
        self._joined = "\n".join(paths)
        self._chars = frozenset(self._joined)
        self._known: dict[str, bool] = {}

    def __contains__(self, text: object) -> bool:
        if not isinstance(text, str) or not text:
            return False
        found = self._known.get(text)
        if found is None:
            if "\n" in text:  # would span two paths in the joined text
                found = any(text in path for path in self.paths)
            else:
                found = self._chars.issuperset(text) and text in self._joined
            self._known[text] = found
        return found


class _SentinelPlans:
    """A site's sentinel plan (:func:`sentinelize`), page by page: each guide with its own
    app's and the tenant's roles (the sentinels ``sentinelize`` gives a guide anyway), by
    role where it can be (:func:`sentinelize_marked`); the home, navigation and site name
    with every role. A guide whose Markdown and roles are those of the last rebuild keeps
    its sentinel form (mutable memory, not data)."""

    def __init__(self) -> None:
        self._guides: dict[tuple[str, str, tuple[tuple[str, str], ...]], Sentinelized | None] = {}
        self._home: tuple[object, Sentinelized | None] | None = None
        self._paths = _PathTexts(())

    def _inside(self, site: SitePlan) -> _PathTexts:
        """Every text that is part of a docs path. A value that names an app folder stands
        in the navigation and in relative links, which MkDocs resolves by their text: a
        sentinel there would name no file, so such values are never replaced."""
        paths = (*site.pages, *site.files)
        if self._paths.paths != paths:
            self._paths = _PathTexts(paths)
        return self._paths

    def plan(
        self, site: SitePlan, roles: Sequence[tuple[str, str]], marked: _Marked
    ) -> Sentinelized | None:
        """The site with its plain values as sentinels; None when none could be. ``marked``
        gives a guide's page rendered from marked values, for its form by role."""
        texts = [site.site_name, *site.pages.values(), json.dumps(site.nav)]
        if any(SENTINEL.search(text) for text in texts):
            return None  # the inputs hold a sentinel: filling in would replace it
        inside = self._inside(site)
        usable = [r for r in roles if r[1] not in inside]
        by_owner: dict[str, list[tuple[str, str]]] = {}
        for role, text in usable:
            by_owner.setdefault(role.split(":", 1)[0], []).append((role, text))
        top = {path: text for path, text in site.pages.items() if "/" not in path}
        # The home, navigation and site name, with the roles whose text they hold (a
        # pattern of every value of every app takes a second to compile).
        shown = "\n".join([site.site_name, *top.values(), json.dumps(site.nav)])
        present = {text for text in {text for _, text in usable} if text in shown}
        home_key = (shown, tuple(r for r in usable if r[1] in present))
        if self._home is None or self._home[0] != home_key:
            self._home = (home_key, sentinelize(replace(site, pages=top), home_key[1], None))
        home = self._home[1]
        pages = dict(home.site.pages) if home is not None else dict(top)
        values = dict(home.values) if home is not None else {}
        guides: dict[tuple[str, str, tuple[tuple[str, str], ...]], Sentinelized | None] = {}
        # What each guide's page was the last time, for an edit of values only.
        before = {key[0]: (key[2], done) for key, done in self._guides.items()}
        for path, text in site.pages.items():
            if path in top:
                continue
            own = tuple(
                sorted([*by_owner.get(path.split("/", 1)[0], []), *by_owner.get("tenant", [])])
            )
            key = (path, text, own)
            if key in self._guides:
                guides[key] = self._guides[key]
            else:
                last = before.get(path, ((), None))
                guides[key] = self._sentinelized(path, text, own, *last, marked)
            done = guides[key]
            pages[path] = done.site.pages[path] if done is not None else text
            values.update(done.values if done is not None else {})
        self._guides = guides
        if not values:
            return None
        shared = replace(
            site,
            site_name=home.site.site_name if home is not None else site.site_name,
            nav=home.site.nav if home is not None else site.nav,
            pages={path: pages[path] for path in site.pages},
        )
        return Sentinelized("", shared, values)

    @staticmethod
    def _sentinelized(
        path: str,
        text: str,
        own: tuple[tuple[str, str], ...],
        last_roles: tuple[tuple[str, str], ...],
        last: Sentinelized | None,
        marked: _Marked,
    ) -> Sentinelized | None:
        """A guide with its own roles as sentinels; its form of the last rebuild (``last``,
        made for ``last_roles``), with the new values, when only they changed.

        A new form is made by role from the guide rendered with marked values, so two
        values that agree get a sentinel each, and an edit that makes them differ changes
        no page's form; by text (:func:`sentinelize`) where that cannot be done exactly.
        """
        if last is not None and [r for r, _ in last_roles] == [r for r, _ in own]:
            found = revalued(last, text, own)
            if found is not None:
                return found
        rendered = marked(path)
        if rendered is not None:
            found = sentinelize_marked(path, text, *rendered, own)
            if found is not None:
                return found
        alone = SitePlan("", {path: text}, {}, [], None, {})
        return sentinelize(alone, own, None, guides_only=True)


@dataclass(frozen=True, slots=True)
class _Rebuild:
    """One tenant in a rebuild: its plan, before its served site is brought in line."""

    slug: str
    kept: _KeptTenant
    """What the preview keeps of the tenant."""
    plan: TenantPlan
    renderer: Renderer
    long: bool
    """Whether bringing the served site in line runs MkDocs over most pages
    (:func:`_long_rebuild`)."""
    started: float
    """When planning began (``time.monotonic``)."""


class Preview:
    """The tenants being previewed, the folder their sites are built in, and what the last
    rebuild made that the next one can reuse."""

    def __init__(self, project: Project, first: str) -> None:
        self.project = project
        self.root = Path(tempfile.mkdtemp(prefix="tenantdocs-preview-"))
        self.shown: set[str] = {first}
        self._lock = threading.Lock()
        self._scans = ScanCache()
        self._renderer: Renderer | None = None
        self._theme: str | None = None
        self._kept: dict[str, _KeptTenant] = {}
        self._listed: object = None
        self._viewed: dict[str, list[str]] = {}
        self._viewed_lock = threading.Lock()

    def rebuild(self, show: Callable[[], None] | None = None) -> None:
        """Rebuild every tenant shown so far; report problems, never raise.

        ``show`` has browsers reload with the site as it is on disk at that moment: when
        bringing a tenant's site up to date runs MkDocs over most of its pages, the pages
        viewed lately of every such tenant are written first (see :meth:`_write_viewed`),
        then ``show`` is called, then each tenant's site is rebuilt.
        """
        with self._lock:
            self._build(sorted(self.shown), show)

    def requested(self, path: str) -> None:
        """Note a request for ``path`` (below the preview's root): build its tenant the
        first time, and keep the last :data:`VIEWED` pages asked for of each tenant."""
        slug, _, page = path.partition("/")
        self.ensure(slug)
        if page == "" or page.endswith("/"):
            page += "index.html"
        if slug not in self.shown or not page.endswith(".html"):
            return
        with self._viewed_lock:
            viewed = self._viewed.setdefault(slug, [])
            if page in viewed:
                viewed.remove(page)
            viewed.append(page)
            del viewed[:-VIEWED]

    def ensure(self, slug: str) -> None:
        """Build a tenant the first time its pages are asked for."""
        if slug in self.shown:
            return  # served as they are, also while a rebuild runs
        with self._lock:
            if slug not in self.shown and slug in tenant_paths(self.project.tenants):
                self.shown.add(slug)
                self._build([slug])

    def _build(self, slugs: Sequence[str], show: Callable[[], None] | None = None) -> None:
        try:
            try:
                templates = load_templates(self.project.templates, self._scans)
                self._renderer = Renderer(templates, self._renderer)
            except TenantdocsError as exc:
                _not_rebuilt(exc.problems)
                return
            theme = _theme_inputs(templates)
            if theme != self._theme:  # base configuration or theme files: every site anew
                self._theme = theme
                self._kept.clear()
            planned = [self._plan_tenant(slug, templates, self._renderer) for slug in slugs]
            ready = [rebuild for rebuild in planned if rebuild is not None]
            # The pages viewed lately of every tenant whose rebuild is a long one first,
            # shown at once, then each tenant's rebuild.
            early = {r.slug: self._write_viewed(r) for r in ready if show is not None and r.long}
            if show is not None and any(early.values()):
                show()
            for rebuild in ready:
                self._publish_tenant(rebuild, early.get(rebuild.slug, {}), show)
        finally:
            self._write_directory()

    def _plan_tenant(
        self, slug: str, templates: TemplateSet, renderer: Renderer
    ) -> _Rebuild | None:
        """Plan the tenant's site against what is kept of it; None (problems printed) when
        it cannot be."""
        started = time.monotonic()
        selection = Selection(slugs=(slug,), jobs=1)
        try:
            tenants, failed = load_tenants(self.project, templates, selection)
        except UsageError as exc:  # the tenant file is gone
            _not_rebuilt(exc.problems)
            return None
        if failed:
            _not_rebuilt(failed[0].problems)
            return None
        tenant, warnings = tenants[0]
        loader = metadata_loader(self.project, selection)
        kept = self._kept.setdefault(
            slug,
            _KeptTenant(LiveSite(publish.state_dir(self.root) / "live" / slug, default_jobs())),
        )
        if kept.tenant != tenant or (kept.until is not None and loader.now >= kept.until):
            kept.forget()
        kept.tenant = tenant
        apps = []
        places: list[tuple[str, str]] = []
        files: dict[str, str] = {}
        edited = 0  # apps planned again because their guide or app files changed
        for name in tenant.app_names(templates.apps):
            app = templates.apps[name]
            parts = tuple(templates.parts(app))
            source = self._source(tenant, name, files)
            old = kept.apps.get(name)
            edited += old is not None and (old.app != app or old.parts != parts)
            if old is None or old.app != app or old.parts != parts or old.source != source:
                planned = plan_app(tenant, name, templates, renderer, loader)
                old = kept.apps[name] = _KeptApp(
                    app,
                    parts,
                    source,
                    planned,
                    loader.now,
                    place_roles(planned.values) if planned.values is not None else (),
                )
            apps.append(old.planned)
            places += old.places
        for name in set(kept.apps) - set(tenant.app_names(templates.apps)):
            del kept.apps[name]
        try:
            plan = assemble_plan(
                tenant, warnings, templates, apps, loader.now, None, kept.render_home, places
            )
        except TenantdocsError as exc:
            _not_rebuilt(exc.problems)
            return None
        kept.until = plan.stable_until
        long = _long_rebuild(kept.served, plan.site, edited)
        return _Rebuild(slug, kept, plan, renderer, long, started)

    def _publish_tenant(
        self,
        rebuild: _Rebuild,
        early: Mapping[Path, bytes | None],
        show: Callable[[], None] | None,
    ) -> None:
        """Bring the tenant's served site in line with its plan (``early``: the pages
        already written into it and shown, with what they held before); print what was
        done."""
        slug, kept, plan = rebuild.slug, rebuild.kept, rebuild.plan
        try:
            marked = functools.partial(self._marked, kept, slug, rebuild.renderer)
            try:
                how, found = self._publish(
                    slug, kept, plan.site, plan.roles, marked, in_place=not early
                )
            except TenantdocsError:
                if early:  # the pages shown first go back to what the rest of the site is
                    _write_back(early)
                    assert show is not None
                    show()
                raise
            kept.served = plan.site
            publish.write_manifest(self.root, slug, plan.manifest())
        except TenantdocsError as exc:
            _not_rebuilt(exc.problems)
            return
        if early:
            how = f"{how}; {_counted(len(early), 'viewed page')} shown first"
        _print([*plan.warnings, *found])
        took = time.monotonic() - rebuild.started
        print(
            f"preview: {slug} built ({len(plan.site.pages)} pages, {how}, {took:.2f} s)",
            flush=True,
        )

    def _write_viewed(self, rebuild: _Rebuild) -> dict[Path, bytes | None]:
        """Write the tenant's pages viewed lately into its served site as its plan gives
        them, rendered alone, to be shown before the rest of a long rebuild: the page a
        writer looks at shows an edit in about a second when the whole site takes several.
        Return what each page written held before."""
        with self._viewed_lock:
            viewed = list(self._viewed.get(rebuild.slug, ()))
        site_dir = self.root / rebuild.slug
        if not viewed or not site_dir.is_dir():
            return {}
        before: dict[Path, bytes | None] = {}
        for path, data in rebuild.kept.site.render_pages(rebuild.plan.site, viewed).items():
            out = site_dir / path
            before[out] = out.read_bytes() if out.is_file() else None
            write_own(out, data)
        return before

    @staticmethod
    def _marked(
        kept: _KeptTenant, slug: str, renderer: Renderer, path: str
    ) -> tuple[str, ValueSet] | None:
        """A kept guide's page rendered from marked values (rendered once), and its values."""
        app = kept.apps.get(path.split("/", 1)[0])
        if app is None or app.planned.values is None:
            return None
        if app.marked is None:
            found = marked_page(app.app, app.planned.values, renderer, slug, app.now)
            app.marked = found if found is not None else ""
        return (app.marked, app.planned.values) if app.marked else None

    def _publish(
        self,
        slug: str,
        kept: _KeptTenant,
        site: SitePlan,
        roles: Sequence[tuple[str, str]],
        marked: _Marked,
        in_place: bool = True,
    ) -> tuple[str, list[Problem]]:
        """Bring the served site in line with ``site``; return what was redone and MkDocs'
        warnings. Without ``in_place`` (pages were shown first: requests are answered while
        this runs) the site is always built anew and swapped in, never written over in
        place, where a request could read a page half written.

        MkDocs builds the site's sentinel plan (:func:`sentinelize`, every plain value a
        sentinel) into a kept skeleton, and the served site is that skeleton filled in
        with the values, as ``build`` fills in a kept run. So an edit that changes only
        values (a sign-on URL in the tenant file, a metadata file) leaves the sentinel
        plan as it was: no MkDocs run, just the pages that show those values filled in
        again. Where the skeleton could not be filled in exactly (:func:`skeleton_problem`)
        the plain plan is built, as before.
        """
        site_dir = self.root / slug
        refused = ""
        shared = None if kept.plain else kept.sentinels.plan(site, roles, marked)
        update = in_place and site_dir.is_dir()  # the served site may be brought up to date
        if update and kept.filled is not None and shared is not None:
            if _page_by_page(kept.site, shared.site):
                outcome = kept.filled.update(kept.site, shared, site_dir)
                if not isinstance(outcome, _Refused):
                    return outcome
                refused = f"; not filled in: {outcome.reason}"
                if outcome.plain:  # not exact for these pages: built plain from now on
                    kept.plain = True
                    shared = None
        elif update and kept.filled is None and _page_by_page(kept.site, site):
            changed, found = kept.site.update(site, site_dir)
            return _changed(changed), found
        kept.filled = None
        skeleton = kept.site.docs.parent / "skeleton"
        shutil.rmtree(skeleton, ignore_errors=True)
        staging = publish.staging_dir(self.root, slug)
        try:
            if shared is not None:
                found = kept.site.build(shared.site, skeleton)
                problem = skeleton_problem(skeleton, shared.values)
                if problem is None:
                    kept.filled = _Filled.fill(skeleton, staging / "site", shared, found)
                    publish.swap_in(self.root, slug, staging / "site")
                    return f"full build{refused}", _own(found, shared.values)
                kept.plain = True  # e.g. a value a highlighter splits: built plain from now on
                refused = f"; not filled in: {problem}"
                shutil.rmtree(skeleton, ignore_errors=True)
            found = kept.site.build(site, staging / "site")
            publish.swap_in(self.root, slug, staging / "site")
            return f"full build{refused}", found
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _source(self, tenant: Tenant, app: str, files: dict[str, str]) -> str:
        """What the app's metadata comes from, as the key its kept plan is valid for."""
        ref = metadata_source(tenant, app)
        if ref is None:
            return ""
        if ref.kind != "file":
            return f"{ref.kind}:{ref.value}"
        if ref.value not in files:  # looked up once per rebuild, however many apps use it
            path = local_metadata_path(self.project.tenants, ref.value)
            if path is None or not path.is_file():
                # Planned again each time: it reports the problem.
                files[ref.value] = f"missing:{ref.value}"
            else:
                files[ref.value] = hashlib.sha256(read_metadata_file(path)).hexdigest()
        return files[ref.value]

    def _write_directory(self) -> None:
        """List every tenant (built or not), so the directory doubles as a tenant switcher."""
        slugs = sorted(tenant_paths(self.project.tenants))
        listed = [(slug, publish.read_manifest(self.root, slug)) for slug in slugs]
        if listed != self._listed:  # unchanged on most edits: not written again
            self._listed = listed
            write_directory(self.root, slugs)


def _theme_inputs(templates: TemplateSet) -> str:
    """A hash of the files of the templates folder that are neither app folders nor shared
    parts (the base configuration, theme overrides): when they change, sites are rebuilt."""
    shared = {templates.root / SHARED / name for name in (PREFIX, GUIDE, SUFFIX)}
    apps = {app.folder for app in templates.apps.values()}
    digest = hashlib.sha256()
    stack = [templates.root]
    while stack:
        for path in sorted(stack.pop().iterdir()):
            if path.name.startswith(".") or path in apps or path in shared:
                continue
            if path.is_dir():
                stack.append(path)
            elif path.is_file():
                stat = path.stat()
                digest.update(f"{path}\0{stat.st_mtime_ns}\0{stat.st_size}\n".encode())
    return digest.hexdigest()


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
    # Stopped by a terminal (Ctrl+C) or a process manager (SIGTERM): either way, clean up.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        serve_live(
            root=preview.root,
            host=host,
            port=port,
            rebuild=preview.rebuild,
            watched=watched,
            on_request=preview.requested,
        )
    finally:
        shutil.rmtree(preview.root, ignore_errors=True)  # the preview is not kept
    return 0


VIEWED = 8
"""Pages of a tenant remembered as viewed lately (see :meth:`Preview.requested`)."""


def _long_rebuild(served: SitePlan | None, site: SitePlan, edited: int) -> bool:
    """Whether bringing the served site (made from ``served``) in line with ``site`` runs
    MkDocs over most pages: when pages or files came or went, the navigation was laid out
    anew, the downloads or the base configuration changed, or most guides were edited
    (``edited`` apps: a shared part). Edits of values only (titles and the site name too)
    are filled in without MkDocs, and an edit of a few pages rebuilds just those: both take
    about a second anyway."""
    if served is None:
        return False  # the first build: there is no site to show pages in yet
    same = (
        served.base_config == site.base_config
        and served.downloads == site.downloads
        and served.pages.keys() == site.pages.keys()
        and served.files.keys() == site.files.keys()
        and _layout(served.nav) == _layout(site.nav)
    )
    if not same:
        return True
    half = len(site.pages) // 2
    changed = sum(1 for path, text in site.pages.items() if served.pages[path] != text)
    return edited > half and changed > half


def _layout(nav: Sequence[NavItem]) -> list[object]:
    """The navigation without its titles: where each page stands."""
    return [v if isinstance(v, str) else _layout(v) for item in nav for v in item.values()]


def _write_back(before: Mapping[Path, bytes | None]) -> None:
    """Put back what files held before (None: there was no such file)."""
    for path, data in before.items():
        if data is None:
            path.unlink(missing_ok=True)
        else:
            write_own(path, data)


def _counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless one: "1 page", "2 pages"."""
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _page_by_page(site: LiveSite, plan: SitePlan) -> bool:
    """Whether to rebuild only the changed pages in place. When most pages changed (a shared
    part, a tenant-wide value), a full build costs about the same, and it is swapped in at
    once, so no one browsing meanwhile sees half the pages old and half new (only the
    pages viewed lately come sooner, see :meth:`Preview._write_viewed`)."""
    if not site.can_update(plan):
        return False
    pages = sum(1 for path in site.changed(plan) if path.endswith(".md"))
    return pages <= len(plan.pages) // 2


def _changed(docs_paths: Sequence[str]) -> str:
    """What a page-by-page rebuild redid: "1 page changed", "2 pages and 1 file changed"."""
    pages = sum(1 for path in docs_paths if path.endswith(".md"))
    files = len(docs_paths) - pages
    said = [_counted(n, word) for n, word in ((pages, "page"), (files, "file")) if n]
    return " and ".join(said) + " changed" if said else "nothing changed"


def _own(warnings: Sequence[Problem], values: Mapping[str, str]) -> list[Problem]:
    """MkDocs' warnings about a skeleton, with the tenant's values in place of sentinels."""
    return [replace(w, message=fill_text(w.message, values)) for w in warnings]


def _not_rebuilt(problems: Sequence[Problem]) -> None:
    _print(problems)
    print("preview: not rebuilt; the last good pages stay served", file=sys.stderr, flush=True)


def _print(problems: Sequence[Problem]) -> None:
    for problem in problems:
        print(problem, file=sys.stderr, flush=True)
