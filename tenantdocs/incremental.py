"""Incremental builds: what a tenant's site is built from, hashed, and when to rebuild it.

Two levels: :func:`inputs_digest` hashes a tenant's input files so an unchanged tenant is
skipped before any page is rendered; the per-page :func:`digests` of a rendered plan decide
(and explain) every rebuild.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tenantdocs import __version__, publish
from tenantdocs.certificates import EXPIRY_WARNING
from tenantdocs.files import files_under
from tenantdocs.sitebuild import SitePlan, site_assets
from tenantdocs.sources import (
    SourceKind,
    local_metadata_path,
    metadata_source,
    read_metadata_file,
)
from tenantdocs.templates import TemplateSet
from tenantdocs.tenants import Tenant
from tenantdocs.values import ValueSet


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
    for relative, path in files_under(templates.root):
        if path.is_file():  # a link to a file counts as the file; a socket or a dead link not
            tree.update(relative.encode("utf-8") + b"\0")
            tree.update(hashlib.sha256(path.read_bytes()).digest())
    base = templates.base_config_path
    return RunInputs(
        tool=f"tenantdocs {__version__}, mkdocs {version('mkdocs')},"
        f" mkdocs-material {version('mkdocs-material')}",
        templates=tree.hexdigest(),
        base_config=sha(base.read_bytes()) if base else "",
        site_assets=sha(b"".join(site_assets().values())),
    )


def sha(data: bytes) -> str:
    """SHA-256 of ``data``, hex."""
    return hashlib.sha256(data).hexdigest()


def digests(site: SitePlan, shared: RunInputs) -> dict[str, str]:
    """Hash of every part of a tenant's plan: what changed says why it is rebuilt."""
    digests = {
        "tool": shared.tool,
        "site": sha(json.dumps([site.site_name, site.nav], sort_keys=True).encode()),
        "base config": shared.base_config,
        "site assets": shared.site_assets,
    }
    for docs_path, text in site.pages.items():
        digests[f"page {docs_path}"] = sha(text.encode("utf-8"))
    for docs_path, data in site.files.items():
        digests[f"file {docs_path}"] = sha(data)
    return digests


def inputs_digest(
    tenant: Tenant, app_names: Sequence[str], tenants_dir: Path, shared: RunInputs
) -> str | None:
    """One hash of everything a tenant's site is built from, read without rendering a page.

    None when a source cannot be judged without fetching it (a metadata URL) or is not a
    readable file inside the tenants folder: the tenant is then planned in full.
    """
    parts = [shared.tool, shared.templates, shared.base_config, shared.site_assets]
    parts.append(sha(tenant.path.read_bytes()))
    digests: dict[Path, str] = {}  # apps often share one document
    for app in app_names:
        ref = metadata_source(tenant, app)
        if ref is None:
            continue
        path = local_metadata_path(tenants_dir, ref.value) if ref.kind is SourceKind.FILE else None
        if path is None or not path.is_file():
            return None
        if path not in digests:
            digests[path] = sha(read_metadata_file(path))
        parts.append(f"{app}:{digests[path]}")
    return sha("\n".join(parts).encode("utf-8"))


def stable_until(value_sets: Sequence[ValueSet], now: datetime) -> datetime | None:
    """When the pages could change with nothing else changing: the next certificate or
    document validity threshold (expiry warnings); None when there is none."""
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
    return min(future) if future else None


def up_to_date(
    site: Path, slug: str, inputs: str | None, now: datetime, previous: publish.Manifest | None
) -> bool:
    """Whether the tenant's published site was built from exactly these inputs, still valid."""
    if inputs is None or previous is None or not (site / slug).is_dir():
        return False
    if previous.inputs != inputs:
        return False
    return previous.stable_until is None or now < previous.stable_until


def rebuild_reason(
    site: Path,
    slug: str,
    new: Mapping[str, str],
    force: bool,
    previous: publish.Manifest | None,
) -> str | None:
    """Why the tenant must be built, or None when its published site is up to date."""
    if force:
        return "--force"
    if previous is None or not (site / slug).is_dir():
        return "not built before"
    old = previous.digests
    changed = sorted(k for k in new.keys() | old.keys() if new.get(k) != old.get(k))
    if not changed:
        return None
    shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    return f"changed: {shown}"
