"""Plan and build a batch of tenants: forked worker processes, shared MkDocs runs, publishing.

The workers plan the tenants (they get the planner by fork) and build them, a window at a
time. Tenants that differ only in plain values share one MkDocs run
(:mod:`tenantdocs.skeleton`); the others, and any group whose skeleton could not be filled
in exactly, are built alone. Every tenant is built into a staging folder and swapped in
only when complete.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import functools
import gc
import itertools
import json
import multiprocessing
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from tenantdocs import publish
from tenantdocs.errors import Location, Problem, TenantdocsError, TenantError
from tenantdocs.incremental import sha
from tenantdocs.report import TenantResult, TenantStatus, failed_result
from tenantdocs.sitebuild import SiteBuilder, SitePlan, exchange
from tenantdocs.skeleton import (
    SENTINEL,
    Sentinelized,
    fill_in,
    fill_in_place,
    fill_text,
    guides_only,
    read_skeleton,
    sentinelize,
    skeleton_problem,
    varying_roles,
)


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
    """(role, text) of every value on the tenant's pages and of where each stands in its file,
    for sharing one MkDocs run."""
    stable_until: datetime | None = None
    """Until when the pages stay as they are if no input changes (certificate thresholds)."""
    inputs: str | None = None
    """:func:`inputs_digest` of the tenant, recorded in its manifest."""

    def manifest(self) -> publish.Manifest:
        """What the tenant's manifest records."""
        return publish.Manifest(
            self.name, self.apps, len(self.site.pages), self.digests, self.inputs, self.stable_until
        )


WINDOW = 64
"""Tenants planned and built at a time: memory stays flat however many tenants a run has."""

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")

Planned = tuple[TenantPlan, str] | TenantResult
"""A tenant planned, with why it is built; or its result when planning ended it (it failed,
or its pages came out as published)."""


def build_all(
    site: Path,
    work: Iterable[_Item],
    jobs: int,
    done: Callable[[TenantResult], None],
    plan: Callable[[_Item], Planned],
    window: int = WINDOW,
    page_jobs: int = 1,
) -> list[TenantResult]:
    """Plan and build every tenant of ``work``, ``jobs`` at a time; each fails or succeeds alone.

    ``plan`` runs in the worker processes (handed to them when they start, not pickled), so
    tenants are planned in parallel; only the plans come back. ``work`` is consumed as a
    stream, ``window`` tenants at a time, so only their plans are held, and a window is
    planned while the one before is built. Tenants that differ only in plain values share
    one MkDocs run (:mod:`tenantdocs.skeleton`); the others, and any group whose skeleton
    could not be filled in exactly, are built alone. With one job, a tenant built alone may
    spread its pages over ``page_jobs`` processes (:class:`~tenantdocs.sitebuild.SiteBuilder`).
    """
    skeletons = _Skeletons(site, _SkeletonCache(site))
    results: list[TenantResult] = []
    stream = iter(work)
    with _exchanging(jobs), _linking_theme_files(site), _forked_pool(jobs, plan) as pool:
        running: _Window | None = None
        learnt: frozenset[str] = frozenset()  # the values seen varying in this run so far
        while chunk := list(itertools.islice(stream, window)):
            # The workers put in the sentinels too, for the values seen varying so far: a
            # few tenants to a task, so those values (one object) go to each process a few
            # times a window.
            calls = [(item, learnt or None) for item in chunk]
            planning = [
                pool.submit(_call_chunk, _plan_here, some) for some in _chunks(calls, jobs * 4)
            ]
            if running is not None:
                results += running.finish(done)
            planned: list[_PlannedTenant] = []
            for future in planning:
                for outcome in future.result():
                    if isinstance(outcome, TenantResult):
                        results.append(outcome)
                        done(outcome)
                    else:
                        planned.append(replace(outcome, varying=learnt) if learnt else outcome)
            running = _Window.start(
                site, planned, learnt, jobs, pool, skeletons, page_jobs if jobs <= 1 else 1
            )
            learnt = running.varying
        if running is not None:
            results += running.finish(done)
    skeletons.clean()
    return results


@contextmanager
def _exchanging(jobs: int) -> Iterator[None]:
    """With several processes, have their builders (forked from this one's) hand each other
    their conversions: a guide two of them build is converted once."""
    if jobs <= 1:
        yield
        return
    builder = _process_builder()
    with exchange() as shared:
        builder.exchange = shared
        try:
            yield
        finally:
            builder.exchange = None


def guides_in_common(sites: Sequence[SitePlan]) -> frozenset[str]:
    """Docs paths of the guides more than one of ``sites`` has."""
    uses = collections.Counter(path for site in sites for path in site.pages if "/" in path)
    return frozenset(path for path, count in uses.items() if count > 1)


@contextmanager
def _linking_theme_files(site: Path) -> Iterator[None]:
    """Have this process's builder, and those forked from it, link the theme's static files
    into every tenant site from one copy in the site folder (``SiteBuilder.theme_files``),
    removed when the run ends; without a folder for it, they are copied."""
    builder = _process_builder()
    root = publish.state_dir(site) / "staging"
    try:
        root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="theme.", dir=root))
    except OSError:
        yield
        return
    builder.theme_files = folder
    try:
        yield
    finally:
        builder.theme_files = None
        shutil.rmtree(folder, ignore_errors=True)


_task: list[Callable[..., Any]] = []
"""What this process's pool runs, set once when a worker starts: processes of a pool keep
state only at module level, and a forked worker gets the function without pickling it."""


def _install(task: Callable[..., Any]) -> None:
    _task[:] = [task]


def _start_worker(task: Callable[..., Any]) -> None:
    """A forked worker's start: what it got from this process (MkDocs and the theme loaded,
    warmed) lives as long as it does, so its garbage collections leave it alone; they would
    otherwise walk it all again and again, and copy each page of memory they touch."""
    gc.freeze()
    _install(task)


@contextmanager
def _forked_pool(jobs: int, task: Callable[..., Any]) -> Iterator[concurrent.futures.Executor]:
    """A pool of ``jobs`` forked processes that run ``task`` (this process for one job).

    The task, and everything it refers to, is handed over by the fork: only its arguments
    and results are pickled.
    """
    _install(task)
    try:
        if jobs <= 1:
            yield _InProcess()
            return
        context = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(
            max_workers=jobs, mp_context=context, initializer=_start_worker, initargs=(task,)
        ) as pool:
            yield pool
    finally:
        _task.clear()


def in_workers(
    task: Callable[[_Item], _Result],
    items: Sequence[_Item],
    jobs: int,
    meanwhile: Callable[[], None] | None = None,
) -> list[_Result]:
    """``task`` of every item, ``jobs`` at a time in forked processes, in the items' order
    (``task`` is handed over by the fork, not pickled); ``meanwhile`` is run in this process
    while they work."""
    with _forked_pool(jobs, task) as pool:
        return in_pool(pool, jobs, _run_task, [(item,) for item in items], meanwhile)


def in_pool(
    pool: concurrent.futures.Executor,
    jobs: int,
    task: Callable[..., _Result],
    calls: Sequence[tuple[Any, ...]],
    meanwhile: Callable[[], None] | None = None,
) -> list[_Result]:
    """``task(*args)`` for every ``calls`` item, by the ``jobs`` processes of a run's pool,
    in order (``task`` and its arguments are pickled); ``meanwhile`` is run in this process
    while they work."""
    # A few chunks per process: each is a round trip between the processes.
    futures = [pool.submit(_call_chunk, task, chunk) for chunk in _chunks(list(calls), jobs * 4)]
    if meanwhile is not None:
        meanwhile()
    return [result for future in futures for result in future.result()]


def _call_chunk(task: Callable[..., _Result], calls: list[tuple[Any, ...]]) -> list[_Result]:
    return [task(*args) for args in calls]


def _run_task(item: Any) -> Any:
    return _task[0](item)


@dataclass(frozen=True, slots=True)
class _PlannedTenant:
    """A tenant planned by a worker, with its sentinels if the worker put them in."""

    plan: TenantPlan
    """The tenant's plan."""
    reason: str
    """Why it is built."""
    shared: Sentinelized | None = None
    """Its plan with sentinels for the values in ``varying`` (None: it cannot share)."""
    varying: frozenset[str] | None = None
    """The values given sentinels; None when none were put in (set by the process that
    asked for the plan: it knows what it sent)."""


def _plan_here(item: object, varying: frozenset[str] | None) -> _PlannedTenant | TenantResult:
    outcome: Planned = _task[0](item)
    if isinstance(outcome, TenantResult):
        return outcome
    plan, reason = outcome
    if varying is None:
        return _PlannedTenant(plan, reason)
    return _PlannedTenant(plan, reason, sentinelize(plan.site, plan.roles, set(varying)))


def _newly_varying(planned: _PlannedTenant, varying: frozenset[str]) -> bool:
    """Whether ``varying`` has a value of the tenant that its sentinels do not stand for."""
    if planned.varying is None:
        return True
    new = varying - planned.varying
    return any(role in new for role, _ in planned.plan.roles)


@dataclass
class _Window:
    """One window of planned tenants, handed to the run's pool."""

    site: Path
    """The site folder."""
    jobs: int
    """Worker processes."""
    pool: concurrent.futures.Executor
    """The run's pool."""
    skeletons: _Skeletons
    """The run's skeletons, shared by its windows."""
    groups: dict[str, list[tuple[TenantPlan, str, Sentinelized]]]
    """Tenants filled in from one skeleton, by skeleton key, whose fill-in is not submitted."""
    pending: list[concurrent.futures.Future[list[TenantResult]]]
    """Submitted work."""
    varying: frozenset[str]
    """The values given sentinels in this window."""
    page_jobs: int = 1
    """Processes a tenant built alone may spread its pages over."""

    @classmethod
    def start(
        cls,
        site: Path,
        work: list[_PlannedTenant],
        learnt: frozenset[str],
        jobs: int,
        pool: concurrent.futures.Executor,
        skeletons: _Skeletons,
        page_jobs: int = 1,
    ) -> _Window:
        """Group the window's tenants and submit what can start now.

        ``learnt`` are the values seen varying in the windows before; the workers put in
        sentinels for them, and a tenant is given sentinels here only when this window
        shows more values varying.
        """
        cache = skeletons.cache
        groups: dict[str, list[tuple[TenantPlan, str, Sentinelized]]] = {}
        alone: list[tuple[TenantPlan, str, Sentinelized | _SentinelsHere | None]] = []
        # Which values vary is learnt from the tenants at hand; a lone tenant (the usual
        # incremental rebuild) uses what the last run with several tenants learnt.
        here = varying_roles([p.plan.roles for p in work]) if len(work) > 1 else cache.varying()
        varying = frozenset(here) | learnt
        # The tenants the workers could not put the sentinels in for (the first window, or
        # those with a value this window shows varying) get them from the workers now. A
        # tenant's sentinels depend only on which of its own values vary: with their own
        # apps, tenants of a later window mostly have none newly varying.
        redo = [i for i, p in enumerate(work) if varying and _newly_varying(p, varying)]
        # Before this run has a skeleton, a tenant whose pages no other tenant of the window
        # has can share a run with none of them: it is given its sentinels where it is built
        # (its own varying values only), and the builds do not wait for the others'.
        if len(work) > 1 and not skeletons.running and not skeletons.built:
            shapes = collections.Counter(frozenset(p.plan.site.pages) for p in work)
            later = {i for i in redo if shapes[frozenset(work[i].plan.site.pages)] == 1}
        else:
            later = set()
        every = set(varying)  # one object: pickled once for each task that carries it
        asked = [i for i in redo if i not in later]
        calls = [(work[i].plan.site, work[i].plan.roles, every) for i in asked]
        given = dict(zip(asked, in_pool(pool, jobs, sentinelize, calls), strict=True))
        for index, planned in enumerate(work):
            plan, reason = planned.plan, planned.reason
            if index in later:
                mine = frozenset(r for r, _ in plan.roles if r in varying)
                alone.append((plan, reason, _SentinelsHere(mine)))
                continue
            shared = given.get(index, planned.shared)
            if shared is None:
                alone.append((plan, reason, None))
            else:
                groups.setdefault(cache.key(shared, plan), []).append((plan, reason, shared))
        for key in [k for k, members in groups.items() if len(members) == 1]:
            if not skeletons.has(key):
                alone.append(groups.pop(key)[0])  # its sentinels serve its guides
        if len(work) > 1:
            cache.remember_varying(set(varying))

        for key, members in groups.items():
            skeletons.submit(key, members[0][2], pool)
        # Guides are shared between tenants built by the same process: worth it with company;
        # what a process worked out is handed to the others for the guides another tenant of
        # the window uses (writing a file for each guide costs more than it saves).
        share = len(alone) > 1
        handed = guides_in_common([plan.site for plan, _, _ in alone])
        window = cls(
            site,
            jobs,
            pool,
            skeletons,
            groups,
            [
                pool.submit(_build_alone, site, plan, reason, share, shared, page_jobs, handed)
                for plan, reason, shared in alone
            ],
            varying,
            page_jobs,
        )
        for key in [k for k in groups if skeletons.ready(k)]:
            window._fill_in(key)  # a skeleton kept from before, or built for the last window
        return window

    def _fill_in(self, key: str) -> None:
        """Submit the fill-in of one group, or its tenants alone when its skeleton failed."""
        members = self.groups.pop(key)
        skeleton, problem, warnings = self.skeletons.result(key)
        if problem is not None:
            self.pending += [
                self.pool.submit(_build_alone, self.site, plan, reason, False, None, self.page_jobs)
                for plan, reason, _ in members
            ]
            return
        if len(members) == 1:
            note = _KEPT_NOTE
        else:
            note = f"; one MkDocs run shared by {len(members)} tenants"
        for chunk in _chunks(members, self.jobs):
            self.pending.append(
                self.pool.submit(_fill_in_all, self.site, skeleton, chunk, warnings, note)
            )

    def finish(self, done: Callable[[TenantResult], None]) -> list[TenantResult]:
        """Wait for the window's skeletons and tenants; report each tenant as it ends."""
        for key in list(self.groups):
            self._fill_in(key)
        results: list[TenantResult] = []
        for outcome in concurrent.futures.as_completed(self.pending):
            for result in outcome.result():
                results.append(result)
                done(result)
        return results


_Built = tuple[Path, str | None, list[Problem]]
"""A skeleton's folder, why it cannot be filled in exactly (or None), MkDocs' warnings."""


@dataclass
class _Skeletons:
    """The skeletons of one run: each built once, whichever windows its tenants fall in."""

    site: Path
    """The site folder."""
    cache: _SkeletonCache
    """Skeletons kept between runs."""
    running: dict[str, concurrent.futures.Future[_Built]] = field(default_factory=dict)
    """Skeletons submitted in this run, by key."""
    built: dict[str, _Built] = field(default_factory=dict)
    """Skeletons this run has in hand, by key."""

    def has(self, key: str) -> bool:
        """Whether the skeleton is kept from before or already on its way in this run."""
        return key in self.built or key in self.running or self.cache.has(key)

    def submit(self, key: str, shared: Sentinelized, pool: concurrent.futures.Executor) -> None:
        """Have the skeleton built unless it is kept or on its way."""
        if key in self.built or key in self.running:
            return
        if self.cache.has(key):
            self.built[key] = (self.cache.path(key), None, [])
        else:
            self.running[key] = pool.submit(_build_skeleton, self.site, key, shared)

    def ready(self, key: str) -> bool:
        """Whether the skeleton can be had without waiting."""
        return key in self.built or self.running[key].done()

    def result(self, key: str) -> _Built:
        """The skeleton (waiting for it); an exact one without warnings is kept for later runs."""
        if key not in self.built:
            skeleton, problem, warnings = self.running.pop(key).result()
            if problem is None and not warnings:
                skeleton = self.cache.keep(key, skeleton)
            self.built[key] = (skeleton, problem, warnings)
        return self.built[key]

    def clean(self) -> None:
        """Remove the skeletons not kept, and all but the latest kept ones."""
        for key in self.built:
            shutil.rmtree(
                publish.state_dir(self.site) / "staging" / f"skeleton-{key[:16]}",
                ignore_errors=True,
            )
        self.cache.prune()


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
        return sha("\n".join([shared.key, *inputs]).encode("utf-8"))

    def has(self, key: str) -> bool:
        return (self.root / key[:32] / "site").is_dir()

    def path(self, key: str) -> Path:
        return self.root / key[:32] / "site"

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


def _chunks(items: list[Any], count: int) -> list[list[Any]]:
    size = max(1, -(-len(items) // max(1, count)))
    return [items[i : i + size] for i in range(0, len(items), size)]


def _build_skeleton(
    site: Path, key: str, shared: Sentinelized
) -> tuple[Path, str | None, list[Problem]]:
    """Build a group's shared plan once; say why it cannot be filled in exactly, if so."""
    plan = shared.site
    root = publish.state_dir(site) / "staging" / f"skeleton-{key[:16]}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    try:
        warnings = _worker_builder().build(plan, root / "work", root / "site")
    except TenantdocsError as exc:
        return root / "site", str(exc.problems[0].message), []
    sentinels = _sentinels_in(plan, shared.values)
    return root / "site", skeleton_problem(root / "site", sentinels), warnings


def _sentinels_in(plan: SitePlan, values: Mapping[str, str]) -> dict[str, str]:
    """The sentinels of a plan, each with the value it stands for (in one member)."""
    text = "\n".join([plan.site_name, *plan.pages.values(), json.dumps(plan.nav)])
    return {s: values[s] for s in sorted(set(SENTINEL.findall(text)))}


def _fill_in_all(
    site: Path,
    skeleton: Path,
    members: list[tuple[TenantPlan, str, Sentinelized]],
    warnings: list[Problem],
    note: str,
) -> list[TenantResult]:
    """Publish each member of a group from the group's skeleton."""
    results = []
    files = read_skeleton(skeleton)
    for plan, reason, shared in members:
        started = time.monotonic()
        staging = publish.staging_dir(site, plan.slug)
        try:
            fill_in(files, staging / "site", shared.values, plan.site.files)
            publish.swap_in(site, plan.slug, staging / "site")
            publish.write_manifest(site, plan.slug, plan.manifest())
        except TenantdocsError as exc:  # e.g. the disk filled up: this tenant fails alone
            results.append(failed_result(plan.slug, plan.name, exc, started, plan.warnings))
            continue
        except OSError as exc:
            problem = Problem(
                Location(site), f"cannot publish tenant '{plan.slug}': {exc.strerror or exc}"
            )
            results.append(
                failed_result(plan.slug, plan.name, TenantError(problem), started, plan.warnings)
            )
            continue
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        own = [replace(w, message=fill_text(w.message, shared.values)) for w in warnings]
        results.append(
            TenantResult(
                plan.slug,
                TenantStatus.BUILT,
                plan.name,
                len(plan.site.pages),
                time.monotonic() - started,
                reason + note,
                (*plan.warnings, *own),
            )
        )
    return results


@dataclass(frozen=True, slots=True)
class _SentinelsHere:
    """Sentinels for a tenant to be put in by the process that builds it."""

    varying: frozenset[str]
    """The tenant's values seen varying."""


_KEPT_NOTE = "; filled in from the MkDocs run kept from an earlier build"


def _build_alone(
    site: Path,
    plan: TenantPlan,
    reason: str,
    share: bool = False,
    shared: Sentinelized | _SentinelsHere | None = None,
    jobs: int = 1,
    handed: frozenset[str] | None = None,
) -> list[TenantResult]:
    if isinstance(shared, _SentinelsHere):
        shared = sentinelize(plan.site, plan.roles, set(shared.varying))
        cache = _SkeletonCache(site)
        if shared is not None and cache.has(key := cache.key(shared, plan)):
            return _fill_in_all(site, cache.path(key), [(plan, reason, shared)], [], _KEPT_NOTE)
    return [_build_one(site, plan, reason, share, shared, jobs, handed)]


def _build_one(
    site: Path,
    plan: TenantPlan,
    reason: str,
    share: bool,
    shared: Sentinelized | None,
    jobs: int,
    handed: frozenset[str] | None = None,
) -> TenantResult:
    slug = plan.slug
    started = time.monotonic()
    staging = publish.staging_dir(site, slug)
    try:
        warnings = _build_tenant_site(plan, staging, share, shared, jobs, handed)
        publish.swap_in(site, slug, staging / "site")
        publish.write_manifest(site, slug, plan.manifest())
    except TenantdocsError as exc:
        return failed_result(plan.slug, plan.name, exc, started, plan.warnings)
    except OSError as exc:  # e.g. the disk filled up while publishing
        problem = Problem(Location(site), f"cannot publish tenant '{slug}': {exc.strerror or exc}")
        return failed_result(plan.slug, plan.name, TenantError(problem), started, plan.warnings)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return TenantResult(
        slug,
        TenantStatus.BUILT,
        plan.name,
        len(plan.site.pages),
        time.monotonic() - started,
        reason,
        (*plan.warnings, *warnings),
    )


def _build_tenant_site(
    plan: TenantPlan,
    staging: Path,
    share: bool,
    whole: Sentinelized | None = None,
    jobs: int = 1,
    handed: frozenset[str] | None = None,
) -> list[Problem]:
    """Build one tenant into ``staging/site`` with this process's builder.

    With ``share`` (the process builds other tenants too) its guides are built with
    sentinels for their values, so a guide another tenant already used is not converted
    again; the values are then put back. The sentinels come from ``whole`` (the tenant's
    sentinel plan, made when it was grouped) when given. When that could not be exact
    (:func:`skeleton_problem`), the tenant is built again straightforwardly. ``jobs``: the
    processes its pages may be spread over; ``handed``: the docs paths of the pages whose
    conversions are handed to the run's other processes (None: all).
    """
    builder = _worker_builder(jobs, handed)
    shared = None
    if share:
        shared = (
            guides_only(whole, plan.site)
            if whole is not None
            else sentinelize(plan.site, plan.roles, None, guides_only=True)
        )
    if shared is not None:
        try:
            warnings = builder.build(shared.site, staging / "work", staging / "site")
        except TenantdocsError:
            warnings = None  # said again, with the tenant's own values, by the build below
        theme = frozenset(builder.theme_copies)
        sentinels = _sentinels_in(shared.site, shared.values)
        exact = warnings is not None and (
            skeleton_problem(staging / "site", sentinels, theme=theme) is None
        )
        if warnings is not None and exact:
            fill_in_place(staging / "site", shared.values, theme)
            return [replace(w, message=fill_text(w.message, shared.values)) for w in warnings]
        shutil.rmtree(staging / "work", ignore_errors=True)
        shutil.rmtree(staging / "site", ignore_errors=True)
    return builder.build(plan.site, staging / "work", staging / "site")


def _worker_builder(jobs: int = 1, handed: frozenset[str] | None = None) -> SiteBuilder:
    """This process's builder (spreading pages over ``jobs`` processes, handing over the
    conversions of the ``handed`` pages), kept warm for every tenant the process builds.

    Process pool workers can keep state only at module level; each forked worker gets a
    copy of the builder of the process that forked it (see :func:`warm_builder`), or a
    builder of its own on first use.
    """
    builder = _process_builder()
    builder.jobs = jobs
    builder.handed_over = handed
    return builder


@functools.cache
def _process_builder() -> SiteBuilder:
    return SiteBuilder()


def warm_builder(base_config: Path | None) -> None:
    """Get this process's builder ready (:meth:`SiteBuilder.warm`, in a temporary folder)
    for the processes that will be forked from it: each would otherwise load MkDocs and
    compile the theme itself. Without a temporary folder, they still do."""
    with (
        contextlib.suppress(OSError),
        tempfile.TemporaryDirectory(prefix="tenantdocs-warm-") as folder,
    ):
        _process_builder().warm(base_config, Path(folder))
