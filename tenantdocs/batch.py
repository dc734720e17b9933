"""Build a batch of planned tenants: shared MkDocs runs, parallel workers, publishing.

Tenants that differ only in plain values share one MkDocs run (:mod:`tenantdocs.skeleton`);
the others, and any group whose skeleton could not be filled in exactly, are built alone.
Every tenant is built into a staging folder and swapped in only when complete.
"""

from __future__ import annotations

import concurrent.futures
import functools
import itertools
import json
import multiprocessing
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from tenantdocs import publish
from tenantdocs.errors import Location, Problem, TenantdocsError, TenantError
from tenantdocs.incremental import sha
from tenantdocs.report import TenantResult, TenantStatus, failed_result
from tenantdocs.sitebuild import SiteBuilder, SitePlan
from tenantdocs.skeleton import (
    SENTINEL,
    Sentinelized,
    fill_in,
    fill_in_place,
    fill_text,
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
    """(role, text) of every value on the tenant's pages, for sharing one MkDocs run."""
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


def build_all(
    site: Path,
    work: Iterable[tuple[TenantPlan, str]],
    jobs: int,
    done: Callable[[TenantResult], None],
    window: int = WINDOW,
) -> list[TenantResult]:
    """Build every planned tenant, ``jobs`` at a time; each one fails or succeeds alone.

    ``work`` is consumed as a stream, ``window`` tenants at a time, so only their plans are
    held; the worker processes (and their warm builders) serve the whole run. Tenants that
    differ only in plain values share one MkDocs run (:mod:`tenantdocs.skeleton`); the
    others, and any group whose skeleton could not be filled in exactly, are built alone.
    """
    cache = _SkeletonCache(site)
    results: list[TenantResult] = []
    stream = iter(work)
    with _pool(jobs) as pool:
        while chunk := list(itertools.islice(stream, window)):
            results += _build_window(site, chunk, jobs, done, pool, cache)
    cache.prune()
    return results


def _build_window(
    site: Path,
    work: list[tuple[TenantPlan, str]],
    jobs: int,
    done: Callable[[TenantResult], None],
    pool: concurrent.futures.Executor,
    cache: _SkeletonCache,
) -> list[TenantResult]:
    """Build one window of planned tenants with the run's pool."""
    groups: dict[str, list[tuple[TenantPlan, str, Sentinelized]]] = {}
    alone: list[tuple[TenantPlan, str]] = []
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
    skeletons = {
        key: cache.get(key) or pool.submit(_build_skeleton, site, key, members[0][2])
        for key, members in groups.items()
    }
    # Guides are shared between tenants built by the same process: worth it with company.
    share = len(alone) > 1
    pending: list[concurrent.futures.Future[list[TenantResult]]] = [
        pool.submit(_build_alone, site, plan, reason, share) for plan, reason in alone
    ]
    for key, built in skeletons.items():
        skeleton, problem, warnings = built.result()
        members = groups[key]
        if problem is not None:
            pending += [
                pool.submit(_build_alone, site, plan, reason) for plan, reason, _ in members
            ]
            continue
        if not warnings:
            skeleton = cache.keep(key, skeleton)
        if len(members) == 1:
            note = "; filled in from the MkDocs run kept from an earlier build"
        else:
            note = f"; one MkDocs run shared by {len(members)} tenants"
        for chunk in _chunks(members, jobs):
            pending.append(pool.submit(_fill_in_all, site, skeleton, chunk, warnings, note))
    for outcome in concurrent.futures.as_completed(pending):
        for result in outcome.result():
            results.append(result)
            done(result)
    for key in groups:
        shutil.rmtree(
            publish.state_dir(site) / "staging" / f"skeleton-{key[:16]}", ignore_errors=True
        )
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
        return sha("\n".join([shared.key, *inputs]).encode("utf-8"))

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
    for plan, reason, shared in members:
        started = time.monotonic()
        staging = publish.staging_dir(site, plan.slug)
        try:
            fill_in(skeleton, staging / "site", shared.values, plan.site.files)
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


def _build_alone(
    site: Path, plan: TenantPlan, reason: str, share: bool = False
) -> list[TenantResult]:
    return [_build_one(site, plan, reason, share)]


def _build_one(site: Path, plan: TenantPlan, reason: str, share: bool) -> TenantResult:
    slug = plan.slug
    started = time.monotonic()
    staging = publish.staging_dir(site, slug)
    try:
        warnings = _build_tenant_site(plan, staging, share)
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


def _build_tenant_site(plan: TenantPlan, staging: Path, share: bool) -> list[Problem]:
    """Build one tenant into ``staging/site`` with this process's builder.

    With ``share`` (the process builds other tenants too) its guides are built with
    sentinels for their values, so a guide another tenant already used is not converted
    again; the values are then put back. When that could not be
    exact (:func:`skeleton_problem`), the tenant is built again straightforwardly.
    """
    builder = _worker_builder()
    shared = sentinelize(plan.site, plan.roles, None, guides_only=True) if share else None
    if shared is not None:
        try:
            warnings = builder.build(shared.site, staging / "work", staging / "site")
        except TenantdocsError:
            warnings = None  # said again, with the tenant's own values, by the build below
        exact = warnings is not None and (
            skeleton_problem(staging / "site", _sentinels_in(shared.site, shared.values)) is None
        )
        if warnings is not None and exact:
            fill_in_place(staging / "site", shared.values)
            return [replace(w, message=fill_text(w.message, shared.values)) for w in warnings]
        shutil.rmtree(staging / "work", ignore_errors=True)
        shutil.rmtree(staging / "site", ignore_errors=True)
    return builder.build(plan.site, staging / "work", staging / "site")


@functools.cache
def _worker_builder() -> SiteBuilder:
    """This process's builder, kept warm for every tenant the process builds.

    Process pool workers can keep state only at module level; each forked worker gets a
    builder of its own on first use.
    """
    return SiteBuilder()
