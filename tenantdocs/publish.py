"""The site folder: a lock, staging folders, atomic swaps, manifests and recovery.

A tenant is built into ``site/.tenantdocs/staging/`` and swapped in with two renames on the
same file system; a failed tenant never touches ``site/<slug>/``. If the process dies between
the two renames, :func:`recover` (run at the start of every build, under the lock) puts the
previous site back. A site folder that cannot be written (read-only, full, or something in
the way) is a :class:`PublishError` with the path, never a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from tenantdocs.errors import Location, Problem, PublishError
from tenantdocs.files import cannot_write
from tenantdocs.files import write_atomic as write_atomic  # publish.write_atomic stays

STATE = ".tenantdocs"


def state_dir(site: Path) -> Path:
    """Where the tool keeps its lock, staging folders and manifests inside the site folder."""
    return site / STATE


@contextmanager
def site_lock(site: Path, timeout: float = 0) -> Iterator[None]:
    """Hold the site folder's lock; another build on the same folder is refused."""
    try:
        state_dir(site).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublishError(
            Problem(Location(site), f"cannot write the site folder: {exc.strerror}")
        ) from None
    lock = FileLock(state_dir(site) / "lock")
    try:
        lock.acquire(timeout=timeout)
    except Timeout:  # before OSError: filelock's Timeout is a TimeoutError
        raise PublishError(
            Problem(
                Location(site),
                "another tenantdocs build is using this site folder; try again when it ends",
            )
        ) from None
    except OSError as exc:  # a read-only file system, a lock file that is not a file…
        raise PublishError(
            Problem(Location(site), f"cannot write the site folder: {exc.strerror or exc}")
        ) from None
    try:
        yield
    finally:
        lock.release()


def recover(site: Path) -> list[str]:
    """Undo what an interrupted build left: restore swapped-out sites, drop staging folders.

    Also checks, before anything is built, that the site folder can be written: a read-only
    or full site folder is one clear :class:`PublishError` instead of a failure per tenant.
    """
    restored = []
    old_root = state_dir(site) / "old"
    staging = state_dir(site) / "staging"
    try:
        for old in sorted(old_root.glob("*")) if old_root.is_dir() else []:
            slug = old.name.split(".", 1)[0]
            target = site / slug
            if not target.exists():
                old.rename(target)
                restored.append(slug)
            else:
                shutil.rmtree(old)
        shutil.rmtree(state_dir(site) / "trash", ignore_errors=True)  # unpublished tenants
        if staging.is_dir():
            shutil.rmtree(staging)
        else:
            staging.unlink(missing_ok=True)
        staging.mkdir(parents=True)
        with tempfile.TemporaryFile(dir=staging) as probe:
            probe.write(b"tenantdocs")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        raise PublishError(
            Problem(Location(site), f"cannot write the site folder: {exc.strerror or exc}")
        ) from None
    return restored


def staging_dir(site: Path, slug: str) -> Path:
    """A fresh, empty folder to build one tenant's site in, on the site's file system."""
    root = state_dir(site) / "staging"
    try:
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{slug}.", dir=root))
    except OSError as exc:
        raise cannot_write(root, exc) from None


def swap_in(site: Path, slug: str, built: Path) -> None:
    """Replace ``site/<slug>`` with the completely built folder ``built``."""
    target = site / slug
    old_root = state_dir(site) / "old"
    old_root.mkdir(parents=True, exist_ok=True)
    old = Path(tempfile.mkdtemp(prefix=f"{slug}.", dir=old_root))
    old.rmdir()
    built.chmod(0o755)  # mkdtemp made it private; the published site must be readable
    if target.exists():
        target.rename(old)
    built.rename(target)
    if old.exists():
        shutil.rmtree(old)


def manifest_path(site: Path, slug: str) -> Path:
    """The manifest of what ``site/<slug>`` was built from."""
    return state_dir(site) / "manifests" / f"{slug}.json"


def read_manifest(site: Path, slug: str) -> dict[str, Any] | None:
    """The tenant's manifest, or None when there is none or it is unreadable."""
    try:
        data = json.loads(manifest_path(site, slug).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_manifest(site: Path, slug: str, manifest: dict[str, Any]) -> None:
    """Record what ``site/<slug>`` was built from (atomically)."""
    write_atomic(manifest_path(site, slug), json.dumps(manifest, indent=2, sort_keys=True).encode())


def remove_tenant(site: Path, slug: str) -> None:
    """Unpublish a tenant whose file is gone: its site folder and manifest.

    The folder is first moved aside in one rename, so readers never see half of it.
    """
    trash = state_dir(site) / "trash"
    try:
        trash.mkdir(parents=True, exist_ok=True)
        aside = Path(tempfile.mkdtemp(prefix=f"{slug}.", dir=trash))
        (site / slug).rename(aside / slug)
        manifest_path(site, slug).unlink(missing_ok=True)
    except OSError as exc:
        raise cannot_write(site / slug, exc) from None
    shutil.rmtree(aside, ignore_errors=True)


def published_slugs(site: Path) -> list[str]:
    """Tenants with a manifest and a site folder, sorted."""
    folder = state_dir(site) / "manifests"
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if (site / p.stem).is_dir())
