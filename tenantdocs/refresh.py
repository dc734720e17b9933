"""``refresh``: fetch every metadata URL, update the cache, report what changed and for whom.

Everything about the command is here: which values count as a change
(:func:`document_changes`), the per tenant × app outcome, the report, and the run itself.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from tenantdocs import __version__
from tenantdocs.errors import Problem, Severity, TenantError
from tenantdocs.keys import KEYS
from tenantdocs.metadata import DocumentProblem, IdpMetadata
from tenantdocs.pipeline import Project, Selection, load_tenants
from tenantdocs.report import TenantResult, problem_json
from tenantdocs.sources import (
    FetchStatus,
    MetadataLoader,
    Previous,
    SourceKind,
    SourceRef,
    metadata_source,
)
from tenantdocs.templates import load_templates
from tenantdocs.tenants import Tenant


@dataclass(frozen=True, slots=True)
class Change:
    """One value that differs between the cached and the fetched document."""

    key: str
    """The metadata key, ``signing certificates`` or ``document``."""
    old: str | None
    """The previous value (None when it had none)."""
    new: str | None
    """The new value (None when it has none now)."""


def document_changes(old: Previous, new: IdpMetadata) -> list[Change]:
    """What a pipeline must rebuild for: changed endpoints, entity ID or certificates."""
    if old is None:
        return [Change("document", None, "first fetch")]
    if isinstance(old, DocumentProblem):
        # Not a first fetch: the cache had a copy, which this version cannot read any more.
        return [Change("document", f"unreadable cached copy ({old.worded()})", "fetched")]
    # In the document's field order (entity ID, sign-on, sign-out), as refresh reports them.
    read = {spec.metadata_field: spec.name for spec in KEYS if spec.metadata_field is not None}
    changes = [
        Change(read[field.name], a, b)
        for field in fields(IdpMetadata)
        if field.name in read and (a := getattr(old, field.name)) != (b := getattr(new, field.name))
    ]
    old_certs = [c.sha256 for c in old.signing_certificates]
    new_certs = [c.sha256 for c in new.signing_certificates]
    if old_certs != new_certs:
        changes.append(
            Change(
                "signing certificates", ", ".join(old_certs) or None, ", ".join(new_certs) or None
            )
        )
    return changes


class RefreshStatus(StrEnum):
    """What ``refresh`` found for one tenant × app."""

    CHANGED = "changed"
    """A value or certificate changed: rebuild the tenant."""
    UNCHANGED = "unchanged"
    """Fetched (or confirmed), nothing a page shows changed."""
    FAILED = "failed"
    """Not fetched (a stale cached copy counts as failed)."""


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    """What ``refresh`` found for one tenant × app with a metadata URL."""

    slug: str
    """The tenant."""
    app: str
    """The app."""
    url: str
    """The metadata URL."""
    status: RefreshStatus
    """Changed, unchanged or failed."""
    fetch: FetchStatus | None = None
    """How the bytes were obtained; None when nothing could be used."""
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
    """Per tenant × app with a URL source, in tenant and app order."""
    invalid: tuple[TenantResult, ...] = ()
    """Tenants whose file is invalid."""

    @property
    def exit_code(self) -> int:
        """0 when every URL was fetched (changed or not), 1 when some fetch or tenant failed."""
        failed = any(o.status is RefreshStatus.FAILED for o in self.outcomes)
        return 1 if failed or self.invalid else 0

    @property
    def changed_tenants(self) -> list[str]:
        """Tenants to rebuild: some value or certificate of theirs changed."""
        return sorted({o.slug for o in self.outcomes if o.status is RefreshStatus.CHANGED})

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
                    "status": o.status.value,
                    "fetch": o.fetch.value if o.fetch else "",
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


def refresh(project: Project, selection: Selection) -> RefreshResult:
    """Fetch every selected tenant's metadata URLs, update the cache, report what changed."""
    templates = load_templates(project.templates)
    tenants, invalid = load_tenants(project, templates, selection)
    loader = MetadataLoader(
        project.tenants, project.cache, False, datetime.now(UTC), settings=selection.fetching
    )
    sources = [
        (tenant, app, ref)
        for tenant, _ in tenants
        for app in tenant.app_names(templates.apps)
        if (ref := metadata_source(tenant, app)) is not None and ref.kind is SourceKind.URL
    ]
    loader.prefetch(ref for _, _, ref in sources)  # all at once; reported in order below
    outcomes = tuple(_refresh_one(loader, tenant, app, ref) for tenant, app, ref in sources)
    return RefreshResult(outcomes, tuple(invalid))


def _refresh_one(
    loader: MetadataLoader, tenant: Tenant, app: str, ref: SourceRef
) -> RefreshOutcome:
    try:
        fetch, document = loader.fetch(tenant, ref)
    except TenantError as exc:
        return RefreshOutcome(
            tenant.slug, app, ref.value, RefreshStatus.FAILED, problems=tuple(exc.problems)
        )
    changes: tuple[Change, ...] = ()
    if fetch.status is FetchStatus.STALE:
        status = RefreshStatus.FAILED
    else:
        changes = tuple(document_changes(fetch.previous, document))
        status = RefreshStatus.CHANGED if changes else RefreshStatus.UNCHANGED
    warnings = (
        (Problem(ref.location, fetch.warning, Severity.WARNING, tenant.slug),)
        if fetch.warning
        else ()
    )
    return RefreshOutcome(
        tenant.slug, app, ref.value, status, fetch.status, fetch.entry.fetched_at, changes, warnings
    )
